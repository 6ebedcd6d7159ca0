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

/// The staff console's overview: per office and service the line, the open offers and the
/// offers' outcomes in the last 28 days; per office the waiting wishes by weekday and hour.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    pub groups: Vec<GroupFigures>,
    /// Office id → (weekday, hour) → wishes waiting for that hour at that office (a wish counts
    /// once in each of its hours there).
    pub heat:
        std::collections::BTreeMap<String, std::collections::BTreeMap<(super::Weekday, u8), i64>>,
}

/// One office and service in the [`Overview`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupFigures {
    pub office: String,
    pub service: String,
    pub waiting: i64,
    pub offers_open: u64,
    pub accepted_28d: u64,
    pub declined_28d: u64,
    pub expired_28d: u64,
    /// The median wait: whole days from confirmation to the first offer, over the wishes first
    /// offered in the last 28 days (the public statistics' day tallies); `None` below their
    /// minimum count.
    pub median_days_to_offer: Option<f64>,
    /// How many wishes that median is taken over.
    pub first_offers_28d: u64,
}

impl Overview {
    /// The figures of `office` and `service`, added if new.
    pub fn group(&mut self, office: &str, service: &str) -> &mut GroupFigures {
        let at = self
            .groups
            .iter()
            .position(|g| g.office == office && g.service == service);
        let at = at.unwrap_or_else(|| {
            self.groups.push(GroupFigures {
                office: office.to_owned(),
                service: service.to_owned(),
                ..GroupFigures::default()
            });
            self.groups.len() - 1
        });
        &mut self.groups[at]
    }
}
