//! The clerks' figures: queue lengths and how offers were answered.

/// Per office and service: how many wishes stand in line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    pub queues: Vec<QueueStat>,
    pub offers_open: u64,
    pub offers_accepted: u64,
    pub offers_declined: u64,
    pub offers_expired: u64,
    /// Accepted / answered-or-expired offers; `None` before the first answer.
    pub acceptance_rate: Option<f64>,
    /// Mails given up on after their retries' bound (their wishes were paused).
    pub mails_failed: u64,
    /// Addresses suppressed after SES reported a permanent bounce or a complaint.
    pub addresses_suppressed: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueStat {
    pub office: String,
    pub service: String,
    pub waiting: i64,
}
