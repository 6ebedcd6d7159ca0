//! match-offers' work queue: an SQS FIFO queue with one message group per line.
//!
//! slot-release sends every released slot here (besides publishing `SlotReleased` on the bus for
//! the booking system). The group is the slot's line — office, service, weekday and hour, the
//! partition its head of line and allocation chain live in — so SQS hands a line's slots to one
//! match-offers at a time, in release order, while different lines are matched side by side.
//! Matchers of one line then never race for its head or its chain: in a release storm each offer
//! is one head query and one transaction, as a quiet offer is. (`EventBridge` targets can only set
//! a fixed group id, so slot-release sends to the queue itself.)

use crate::domain::time::local_window;
use crate::domain::{OfficeId, ServiceId};
use crate::triggers::ReleasedSlot;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata as _;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

/// At most ten messages per `SendMessageBatch`.
const MAX_BATCH: usize = 10;

#[derive(Debug, thiserror::Error)]
#[error("slot not queued for matching: {0}")]
pub struct QueueError(pub String);

#[derive(Clone, Debug)]
pub struct MatchQueue {
    client: Client,
    url: String,
}

/// One released slot to queue: `dedup` is what makes a resend of the same release (a stream
/// batch Lambda retries) a duplicate SQS drops — the stream record's sequence number.
#[derive(Debug, Clone)]
pub struct Release<'a> {
    pub dedup: &'a str,
    pub slot: &'a ReleasedSlot,
}

/// The message group of a released slot: its line's partition key (`Q#office#service#day#hour`).
/// A start that does not parse (never written by us) groups the slot on its own.
#[must_use]
pub fn group_of(slot: &ReleasedSlot) -> String {
    let line = || {
        let start = chrono::DateTime::parse_from_rfc3339(&slot.start).ok()?;
        Some(crate::store::keys::line_pk(
            &OfficeId::parse(&slot.office).ok()?,
            &ServiceId::parse(&slot.service).ok()?,
            local_window(start.with_timezone(&chrono::Utc)),
        ))
    };
    line().unwrap_or_else(|| format!("slot#{}", slot.id))
}

/// The body of a queued slot: the `SlotReleased` event as the bus carries it, so match-offers
/// reads both the same way ([`crate::triggers::parse_trigger`]).
#[must_use]
pub fn body_of(slot: &ReleasedSlot) -> String {
    serde_json::json!({
        "source": crate::events::SOURCE,
        "detail-type": "SlotReleased",
        "detail": crate::triggers::SlotReleased { slot: slot.clone() },
    })
    .to_string()
}

impl MatchQueue {
    #[must_use]
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// Sends each release, ten per request, in order; answers each one's outcome in order.
    pub async fn send_all(&self, releases: &[Release<'_>]) -> Vec<Result<(), QueueError>> {
        let mut results = Vec::with_capacity(releases.len());
        for batch in releases.chunks(MAX_BATCH) {
            let entries: Result<Vec<_>, _> = batch
                .iter()
                .enumerate()
                .map(|(n, r)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(n.to_string())
                        .message_body(body_of(r.slot))
                        .message_group_id(group_of(r.slot))
                        // At most 128 characters: a sequence number has about 40.
                        .message_deduplication_id(r.dedup.chars().take(128).collect::<String>())
                        .build()
                })
                .collect();
            let entries = match entries {
                Ok(entries) => entries,
                Err(e) => {
                    let reason = e.to_string();
                    results.extend(batch.iter().map(|_| Err(QueueError(reason.clone()))));
                    continue;
                }
            };
            match self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    for n in 0..batch.len() {
                        let id = n.to_string();
                        results.push(match out.failed().iter().find(|f| f.id() == id) {
                            Some(failed) => Err(QueueError(failed.code().to_owned())),
                            None if out.successful().iter().any(|s| s.id() == id) => Ok(()),
                            None => Err(QueueError("no answer for the entry".into())),
                        });
                    }
                }
                Err(e) => {
                    let code = e.code().unwrap_or("unreachable").to_owned();
                    results.extend(batch.iter().map(|_| Err(QueueError(code.clone()))));
                }
            }
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(start: &str) -> ReleasedSlot {
        ReleasedSlot {
            id: "s1".into(),
            office: "bilk".into(),
            service: "id-card".into(),
            start: start.into(),
            minutes: 15,
            persons: 1,
        }
    }

    #[test]
    fn a_slot_is_grouped_by_its_line_in_local_time() {
        // 07:15 UTC on Wednesday 2026-12-09 is 08:15 in Düsseldorf (CET).
        assert_eq!(
            group_of(&slot("2026-12-09T07:15:00Z")),
            "Q#bilk#id-card#wed#8"
        );
        // Same weekday and hour a week later: the same line, the same group.
        assert_eq!(
            group_of(&slot("2026-12-16T07:45:00Z")),
            group_of(&slot("2026-12-09T07:15:00Z"))
        );
        assert_ne!(
            group_of(&slot("2026-12-09T08:15:00Z")),
            group_of(&slot("2026-12-09T07:15:00Z"))
        );
        assert_eq!(group_of(&slot("not a time")), "slot#s1");
    }

    #[test]
    fn the_body_is_the_slot_released_event_match_offers_reads() {
        let body: serde_json::Value =
            serde_json::from_str(&body_of(&slot("2026-12-09T07:15:00Z"))).unwrap();
        match crate::triggers::parse_trigger(&body).unwrap() {
            crate::triggers::MatchTrigger::SlotReleased(s) => {
                assert_eq!(s.id.to_string(), "s1");
                assert_eq!(s.office.to_string(), "bilk");
            }
            other => panic!("not a released slot: {other:?}"),
        }
    }
}
