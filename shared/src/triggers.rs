//! The non-HTTP triggers: the slots table's `DynamoDB` stream and the `EventBridge` events.

use crate::app::{self, AppError, Deps};
use crate::domain::{OfficeId, ServiceId, Slot, SlotId, SlotStatus, Window, local_window};
use crate::events::Events;
use crate::matchqueue::{MatchQueue, Release};
use crate::store::Store;
use crate::store::stream::{SlotChange, SlotImage, slot_change};
use aws_lambda_events::event::dynamodb::{Event as DynamoDbEvent, EventRecord};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The detail of a `SlotReleased` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotReleased {
    pub slot: ReleasedSlot,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedSlot {
    pub id: String,
    pub office: String,
    pub service: String,
    pub start: String,
    pub minutes: u16,
    /// How many persons the slot serves (absent: one).
    #[serde(default = "crate::domain::persons::one")]
    pub persons: u8,
}

/// A stream record means "a slot became free" when its new image is free and its old image (if
/// any) was not: a new free slot, a booked one released, or an offered one declined, expired or
/// withdrawn. Returns the new image and the state the slot came from (`None` for a new slot).
fn freed(record: &EventRecord) -> Option<(SlotImage, Option<SlotStatus>)> {
    let SlotChange { old, new } = slot_change(record);
    let new = new.filter(|n| n.status == SlotStatus::Free)?;
    let from = old.map(|o| o.status);
    (from != Some(SlotStatus::Free)).then_some((new, from))
}

/// The slot of a stream record that made it free ([`freed`]), as `SlotReleased` carries it.
#[must_use]
pub fn released_slot(record: &EventRecord) -> Option<ReleasedSlot> {
    let (new, _) = freed(record)?;
    Some(ReleasedSlot {
        id: new.id,
        office: new.office,
        service: new.service,
        start: new.start,
        minutes: new.minutes,
        persons: new.persons,
    })
}

/// Where slot-release hands a released slot on: the bus (`SlotReleased`, for the booking system
/// and monitoring) and match-offers' FIFO queue, grouped by line ([`crate::matchqueue`]).
#[derive(Clone, Debug)]
pub struct Outlets {
    pub events: Events,
    pub queue: MatchQueue,
}

/// slot-release: publishes `SlotReleased` for every slot that became free (ten per `PutEvents`)
/// and queues it for matching (ten per `SendMessageBatch`). From the first record that either
/// could not take, that record and every later released one are reported as batch item failures,
/// so Lambda retries them in order (and, after the retries, sends them to the on-failure
/// destination); the queue drops a resent release as a duplicate (its sequence number is the
/// deduplication id), the bus's consumers bear one.
pub async fn handle_slot_stream(outlets: &Outlets, event: DynamoDbEvent) -> DynamoDbEventResponse {
    let released: Vec<(&EventRecord, ReleasedSlot)> = event
        .records
        .iter()
        .filter_map(|r| Some((r, released_slot(r)?)))
        .collect();
    let details: Vec<String> = released
        .iter()
        .map(|(_, slot)| json!(SlotReleased { slot: slot.clone() }).to_string())
        .collect();
    let entries: Vec<(&str, &str)> = details
        .iter()
        .map(|d| ("SlotReleased", d.as_str()))
        .collect();
    let queued_slots: Vec<Release> = released
        .iter()
        .map(|(r, slot)| Release {
            dedup: r.change.sequence_number.as_deref().unwrap_or(&r.event_id),
            slot,
        })
        .collect();
    let (published, queued) = tokio::join!(
        outlets.events.publish_all(&entries),
        outlets.queue.send_all(&queued_slots)
    );
    let mut response = DynamoDbEventResponse::default();
    let first_failed = published
        .iter()
        .zip(&queued)
        .position(|(p, q)| p.is_err() || q.is_err());
    if let Some(at) = first_failed {
        for (n, (record, _)) in released.iter().enumerate().skip(at) {
            let error = match (published.get(n), queued.get(n)) {
                (Some(Err(e)), _) => e.to_string(),
                (_, Some(Err(e))) => e.to_string(),
                _ => "an earlier record failed".to_owned(),
            };
            tracing::warn!(event_id = %record.event_id, %error, "released slot not handed on");
            report_failure(&mut response, record);
        }
    }
    response
}

/// Reports a record back to Lambda, which retries the batch from it.
fn report_failure(response: &mut DynamoDbEventResponse, record: &EventRecord) {
    if let Some(seq) = &record.change.sequence_number {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(seq.clone());
        response.batch_item_failures.push(failure);
    }
}

/// The line a stream record's slot entered free, when it entered from outside: a new free slot
/// or a released booking. A slot coming back from an offer (declined, expired) is not counted
/// again: it walks down the same line, and counting every step would count one slot many times.
#[must_use]
pub fn entered_line(record: &EventRecord) -> Option<(OfficeId, ServiceId, Window)> {
    let (slot, from) = freed(record)?;
    if from == Some(SlotStatus::Offered) {
        return None;
    }
    let start = chrono::DateTime::parse_from_rfc3339(&slot.start).ok()?;
    Some((
        OfficeId::parse(&slot.office).ok()?,
        ServiceId::parse(&slot.service).ok()?,
        local_window(start.with_timezone(&chrono::Utc)),
    ))
}

/// The office and service of a slot the queue booked: a stream record whose slot went from
/// `offered` to `booked` (an accepted offer; the booking system books only free slots).
#[must_use]
pub fn taken_by_queue(record: &EventRecord) -> Option<(OfficeId, ServiceId)> {
    let SlotChange { old, new } = slot_change(record);
    let (old, new) = (old?, new?);
    if old.status != SlotStatus::Offered || new.status != SlotStatus::Booked {
        return None;
    }
    Some((
        OfficeId::parse(&new.office).ok()?,
        ServiceId::parse(&new.service).ok()?,
    ))
}

/// What slot-release counts of one stream record.
enum Counted {
    /// Entered a line: the wish page's release counters and the public statistics.
    Entered(OfficeId, ServiceId, Window),
    /// Booked through an offer: the public statistics.
    Taken(OfficeId, ServiceId),
}

/// slot-release as deployed: [`handle_slot_stream`], then each slot that entered a line free
/// ([`entered_line`]) is counted for the wish page's expected wait ([`Store::count_release`])
/// and, with each slot the queue booked ([`taken_by_queue`]), for the public statistics
/// ([`Store::tally_released`], [`Store::tally_taken`]), at `now`. Nothing from the first record
/// reported as a failure on is counted: Lambda delivers those again. The counting is best effort
/// and never fails the batch; the offer path does not wait for it (match-offers runs on the queue
/// message sent before).
pub async fn handle_slot_stream_counting(
    outlets: &Outlets,
    store: &Store,
    now: chrono::DateTime<chrono::Utc>,
    event: DynamoDbEvent,
) -> DynamoDbEventResponse {
    let counted: Vec<(Option<String>, Counted)> = event
        .records
        .iter()
        .filter_map(|r| {
            let seq = r.change.sequence_number.clone();
            if let Some((office, service, window)) = entered_line(r) {
                return Some((seq, Counted::Entered(office, service, window)));
            }
            let (office, service) = taken_by_queue(r)?;
            Some((seq, Counted::Taken(office, service)))
        })
        .collect();
    let sequence: Vec<Option<String>> = event
        .records
        .iter()
        .map(|r| r.change.sequence_number.clone())
        .collect();
    let response = handle_slot_stream(outlets, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.as_deref())
        .collect();
    // Lambda retries the batch from its first failed record: everything from there comes again.
    let first_failed = sequence
        .iter()
        .position(|seq| seq.as_deref().is_some_and(|s| failed.contains(&s)));
    let again: Vec<&Option<String>> = first_failed
        .map(|at| sequence[at..].iter().collect())
        .unwrap_or_default();
    for (seq, what) in &counted {
        if again.contains(&seq) {
            continue;
        }
        match what {
            Counted::Entered(office, service, window) => {
                store.count_release(office, service, *window, now).await;
                store.tally_released(office, service, now).await;
            }
            Counted::Taken(office, service) => store.tally_taken(office, service, now).await,
        }
    }
    response
}

/// What match-offers was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchTrigger {
    SlotReleased(Slot),
    Rescan,
    /// SES says mail to these addresses bounced for good, or was reported as spam.
    MailFeedback(crate::app::MailFeedback),
}

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("unexpected event {event_source}/{detail_type}")]
    Unexpected {
        event_source: String,
        detail_type: String,
    },
    #[error("malformed SlotReleased detail: {0}")]
    Malformed(String),
    #[error(transparent)]
    App(#[from] AppError),
}

/// Reads an `EventBridge` event (as JSON, the way Lambda hands it over).
///
/// # Errors
/// For events match-offers does not handle, or a `SlotReleased` without a valid slot id.
pub fn parse_trigger(event: &serde_json::Value) -> Result<MatchTrigger, TriggerError> {
    let text = |k: &str| {
        event
            .get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (source, detail_type) = (text("source"), text("detail-type"));
    match (source.as_str(), detail_type.as_str()) {
        (crate::events::SOURCE, "SlotReleased") => {
            let detail: SlotReleased =
                serde_json::from_value(event.get("detail").cloned().unwrap_or_default())
                    .map_err(|e| TriggerError::Malformed(e.to_string()))?;
            let bad = |e: &dyn std::fmt::Display| TriggerError::Malformed(e.to_string());
            let r = detail.slot;
            Ok(MatchTrigger::SlotReleased(Slot {
                id: SlotId::parse(&r.id).map_err(|e| bad(&e))?,
                office: OfficeId::parse(&r.office).map_err(|e| bad(&e))?,
                service: ServiceId::parse(&r.service).map_err(|e| bad(&e))?,
                start: chrono::DateTime::parse_from_rfc3339(&r.start)
                    .map_err(|e| bad(&e))?
                    .with_timezone(&chrono::Utc),
                minutes: r.minutes,
                // As the stream saw it; the offer transaction checks it is still so.
                status: SlotStatus::Free,
                offer: None,
                wish: None,
                persons: r.persons,
            }))
        }
        ("aws.events" | "aws.scheduler", "Scheduled Event") => Ok(MatchTrigger::Rescan),
        ("aws.ses", "Email Bounced" | "Email Complaint Received") => {
            let detail = event.get("detail").cloned().unwrap_or_default();
            Ok(MatchTrigger::MailFeedback(mail_feedback(&detail)))
        }
        _ => Err(TriggerError::Unexpected {
            event_source: source,
            detail_type,
        }),
    }
}

/// The addresses an SES bounce or complaint event is about: the recipients of a permanent bounce
/// (a transient one, a full mailbox, says nothing about the address) or of a complaint.
fn mail_feedback(detail: &serde_json::Value) -> crate::app::MailFeedback {
    let (kind, recipients) = match detail["eventType"].as_str() {
        Some("Complaint") => (
            crate::app::FeedbackKind::Complaint,
            &detail["complaint"]["complainedRecipients"],
        ),
        _ if detail["bounce"]["bounceType"] == "Permanent" => (
            crate::app::FeedbackKind::Bounce,
            &detail["bounce"]["bouncedRecipients"],
        ),
        _ => (crate::app::FeedbackKind::Bounce, &serde_json::Value::Null),
    };
    crate::app::MailFeedback {
        kind,
        message: detail["mail"]["messageId"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        addresses: recipients
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["emailAddress"].as_str().map(str::to_owned))
            .collect(),
    }
}

/// deliver-outbox: each new outbox item on the wishes table's stream (the event source's filter
/// lets only inserted `MAIL#` and `EVENT#` items through; anything else is skipped here too) is
/// claimed and delivered. A record whose claim could not be made (the database did not answer)
/// is reported, with every later one, so Lambda retries them in order; a send or publication
/// that fails after its claim is left to the rescan, which retries it after the lease.
pub async fn handle_outbox_stream(deps: &Deps, event: DynamoDbEvent) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let (records, owed): (Vec<&EventRecord>, Vec<_>) = event
        .records
        .iter()
        .filter_map(|r| Some((r, crate::store::stream::outbox_item(r)?)))
        .unzip();
    for (record, result) in records.into_iter().zip(deps.deliver_all(&owed).await) {
        if let Err(e) = result {
            tracing::warn!(event_id = %record.event_id, error = %e, "outbox item not delivered");
            report_failure(&mut response, record);
        }
    }
    response
}

/// What match-offers did with a batch of its queue.
#[derive(Debug, Default)]
pub struct MatchedBatch {
    /// For Lambda: the messages to return to the queue.
    pub response: SqsBatchResponse,
    /// Offers made.
    pub offers: usize,
}

/// match-offers on its FIFO queue ([`crate::matchqueue`]): each message is a released slot,
/// matched in the order SQS hands them over (a line's slots in release order); a batch of several
/// is a storm ([`app::match_slot_in_storm`]). From the first
/// one whose matching failed (the database did not answer, or the line kept changing), that
/// message and every later one are reported, so Lambda returns them to the queue and a line's
/// later slots stay behind its earlier one. A message that is not a released slot is logged
/// (its id, never its body) and dropped: no retry can change it.
pub async fn handle_match_queue(deps: &Deps, batch: &SqsEvent) -> MatchedBatch {
    let mut out = MatchedBatch::default();
    let mut failed = false;
    // A batch of several slots is a storm: the heads' wishes are read before trying.
    let storm = batch.records.len() > 1;
    for message in &batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        if failed {
            out.response.add_failure(id);
            continue;
        }
        let trigger = serde_json::from_str(message.body.as_deref().unwrap_or_default())
            .map_err(|e| TriggerError::Malformed(e.to_string()))
            .and_then(|event| parse_trigger(&event));
        let Ok(MatchTrigger::SlotReleased(slot)) = trigger else {
            tracing::warn!(message = %id, "dropping a match-queue message that is not a released slot");
            continue;
        };
        let matched = if storm {
            app::match_slot_in_storm(deps, &slot).await
        } else {
            app::match_slot(deps, &slot).await
        };
        match matched {
            Ok(offer) => out.offers += usize::from(offer.is_some()),
            Err(e) => {
                tracing::warn!(message = %id, slot = %slot.id, error = %e, "slot not matched, returned to the queue");
                failed = true;
                out.response.add_failure(id);
            }
        }
    }
    out
}

/// match-offers: a batch of its queue ([`handle_match_queue`], answered with the messages to
/// retry); a released slot from the bus is offered to the first wish in line; the schedule
/// rescans.
pub async fn handle_match_event(
    deps: &Deps,
    event: &serde_json::Value,
) -> Result<serde_json::Value, TriggerError> {
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event.clone())
            .map_err(|e| TriggerError::Malformed(e.to_string()))?;
        return Ok(json!(handle_match_queue(deps, &batch).await.response));
    }
    match parse_trigger(event)? {
        MatchTrigger::SlotReleased(slot) => {
            let offer = app::match_slot(deps, &slot).await?;
            Ok(json!({"slot": slot.id, "offer": offer.map(|o| o.id)}))
        }
        MatchTrigger::Rescan => Ok(json!(app::rescan(deps).await?)),
        MatchTrigger::MailFeedback(feedback) => {
            Ok(json!({"wishes_paused": app::mail_feedback(deps, &feedback).await?}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> EventRecord {
        serde_json::from_str(json).unwrap()
    }

    const NEW_FREE: &str = r#"{"awsRegion":"eu-central-1","eventID":"1","eventName":"INSERT","eventSource":"aws:dynamodb",
        "dynamodb":{"Keys":{"id":{"S":"s1"}},"NewImage":{"id":{"S":"s1"},"office":{"S":"bilk"},"service":{"S":"id-card"},
        "start":{"S":"2024-01-24T07:30:00.000Z"},"minutes":{"N":"15"},"status":{"S":"free"}},"SequenceNumber":"100",
        "SizeBytes":10,"StreamViewType":"NEW_AND_OLD_IMAGES"}}"#;

    #[test]
    fn a_new_free_slot_is_released() {
        let s = released_slot(&record(NEW_FREE)).unwrap();
        assert_eq!(s.id, "s1");
        assert_eq!(s.minutes, 15);
    }

    #[test]
    fn a_free_slot_changing_otherwise_is_not_released_again() {
        let json = NEW_FREE.replace(r#""SequenceNumber""#, r#""OldImage":{"id":{"S":"s1"},"office":{"S":"bilk"},"service":{"S":"id-card"},
            "start":{"S":"2024-01-24T07:30:00.000Z"},"minutes":{"N":"20"},"status":{"S":"free"}},"SequenceNumber""#);
        assert!(released_slot(&record(&json)).is_none());
    }

    #[test]
    fn new_and_released_slots_enter_their_local_line_but_a_declined_one_not_again() {
        // 07:30 UTC on Wednesday 24 January 2024 is 08:30 in Berlin.
        let (office, service, window) = entered_line(&record(NEW_FREE)).unwrap();
        assert_eq!((office.as_ref(), service.as_ref()), ("bilk", "id-card"));
        assert_eq!(window, Window::new(crate::domain::Weekday::Wed, 8).unwrap());
        let old = |status: &str| {
            NEW_FREE.replace(r#""SequenceNumber""#, &format!(r#""OldImage":{{"id":{{"S":"s1"}},"office":{{"S":"bilk"}},"service":{{"S":"id-card"}},
                "start":{{"S":"2024-01-24T07:30:00.000Z"}},"minutes":{{"N":"15"}},"status":{{"S":"{status}"}}}},"SequenceNumber""#))
        };
        assert!(entered_line(&record(&old("booked"))).is_some());
        assert!(released_slot(&record(&old("offered"))).is_some());
        assert!(entered_line(&record(&old("offered"))).is_none());
        assert!(entered_line(&record(&old("free"))).is_none());
    }

    #[test]
    fn a_slot_booked_through_an_offer_is_taken_by_the_queue_and_nothing_else_is() {
        let change = |old: &str, new: &str| {
            let image = |status: &str| {
                format!(
                    r#"{{"id":{{"S":"s1"}},"office":{{"S":"bilk"}},"service":{{"S":"id-card"}},
                "start":{{"S":"2024-01-24T07:30:00.000Z"}},"minutes":{{"N":"15"}},"status":{{"S":"{status}"}}}}"#
                )
            };
            let old = if old.is_empty() {
                String::new()
            } else {
                format!(r#""OldImage":{},"#, image(old))
            };
            record(&format!(
                r#"{{"awsRegion":"eu-central-1","eventID":"1","eventName":"MODIFY","eventSource":"aws:dynamodb",
                "dynamodb":{{"Keys":{{"id":{{"S":"s1"}}}},"NewImage":{},{old}"SequenceNumber":"100",
                "SizeBytes":10,"StreamViewType":"NEW_AND_OLD_IMAGES"}}}}"#,
                image(new)
            ))
        };
        let (office, service) = taken_by_queue(&change("offered", "booked")).unwrap();
        assert_eq!((office.as_ref(), service.as_ref()), ("bilk", "id-card"));
        // Booked directly by the booking system, offered, freed, or new: not by the queue.
        for (old, new) in [
            ("free", "booked"),
            ("free", "offered"),
            ("offered", "free"),
            ("", "booked"),
            ("booked", "booked"),
        ] {
            assert!(taken_by_queue(&change(old, new)).is_none(), "{old} → {new}");
        }
    }

    #[test]
    fn the_sample_events_parse_into_triggers() {
        let batch: SqsEvent =
            serde_json::from_str(include_str!("../../events/match-queue.json")).unwrap();
        let released: serde_json::Value =
            serde_json::from_str(batch.records[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(
            parse_trigger(&released).unwrap(),
            MatchTrigger::SlotReleased(Slot {
                id: SlotId::parse("bilk-2024-01-24-0830").unwrap(),
                office: OfficeId::parse("bilk").unwrap(),
                service: ServiceId::parse("id-card").unwrap(),
                start: chrono::DateTime::parse_from_rfc3339("2024-01-24T07:30:00Z")
                    .unwrap()
                    .with_timezone(&chrono::Utc),
                minutes: 15,
                status: SlotStatus::Free,
                offer: None,
                wish: None,
                persons: 1,
            })
        );
        let scheduled: serde_json::Value =
            serde_json::from_str(include_str!("../../events/rescan-scheduled.json")).unwrap();
        assert_eq!(parse_trigger(&scheduled).unwrap(), MatchTrigger::Rescan);
        let stream: DynamoDbEvent =
            serde_json::from_str(include_str!("../../events/slots-stream.json")).unwrap();
        assert_eq!(stream.records.iter().filter_map(released_slot).count(), 1);
    }

    #[test]
    fn the_outbox_sample_event_is_an_owed_event_without_personal_data() {
        let stream: DynamoDbEvent =
            serde_json::from_str(include_str!("../../events/outbox-stream.json")).unwrap();
        let owed: Vec<_> = stream
            .records
            .iter()
            .filter_map(crate::store::stream::outbox_item)
            .collect();
        let [crate::store::stream::Owed::Event(event)] = owed.as_slice() else {
            panic!("one owed event, got {owed:?}");
        };
        assert_eq!(event.name, "OfferAccepted");
        assert_eq!(event.key, "offer-0190f5c2-accepted#0-OfferAccepted");
        let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap();
        assert_eq!(detail["slot"], "bilk-2024-01-24-0830");
        assert!(!event.detail.contains('@'));
    }

    #[test]
    fn ses_bounces_and_complaints_name_the_addresses_and_transient_bounces_none() {
        let bounce: serde_json::Value =
            serde_json::from_str(include_str!("../../events/ses-bounce.json")).unwrap();
        let MatchTrigger::MailFeedback(f) = parse_trigger(&bounce).unwrap() else {
            panic!("not feedback");
        };
        assert_eq!(f.kind, crate::app::FeedbackKind::Bounce);
        assert_eq!(f.addresses, ["gibt-es-nicht@example.de"]);
        assert!(f.message.starts_with("0107018d3a5f1b00"));
        let complaint: serde_json::Value =
            serde_json::from_str(include_str!("../../events/ses-complaint.json")).unwrap();
        let MatchTrigger::MailFeedback(f) = parse_trigger(&complaint).unwrap() else {
            panic!("not feedback");
        };
        assert_eq!(
            (f.kind, f.addresses),
            (
                crate::app::FeedbackKind::Complaint,
                vec!["beschwerde@example.de".to_owned()]
            )
        );
        let mut transient = bounce;
        transient["detail"]["bounce"]["bounceType"] = json!("Transient");
        let MatchTrigger::MailFeedback(f) = parse_trigger(&transient).unwrap() else {
            panic!("not feedback");
        };
        assert!(f.addresses.is_empty());
    }

    #[test]
    fn other_events_are_refused() {
        let e = json!({"source": "x", "detail-type": "y", "detail": {}});
        assert!(matches!(
            parse_trigger(&e),
            Err(TriggerError::Unexpected { .. })
        ));
        let e = json!({"source": "terminagent", "detail-type": "SlotReleased", "detail": {"slot": {"id": "a b"}}});
        assert!(matches!(parse_trigger(&e), Err(TriggerError::Malformed(_))));
    }
}
