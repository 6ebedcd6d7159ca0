//! Stream records decoded from the item layout that [`super::records`] writes: the slots table's
//! as slot states (the old and the new image of one change), the wishes table's new outbox items
//! as what they owe.

use super::keys::STATUS;
use aws_lambda_events::event::dynamodb::EventRecord;
use serde::Deserialize;

/// A slot as one stream image shows it (only what the triggers need).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SlotImage {
    pub id: String,
    pub office: String,
    pub service: String,
    /// RFC 3339, as stored.
    pub start: String,
    pub minutes: u16,
    pub status: crate::domain::SlotStatus,
    #[serde(default = "crate::domain::persons::one")]
    pub persons: u8,
}

/// One change of a slot item: its image before (none for a new item) and after (none for a
/// deleted one). An image that is not a slot decodes as `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotChange {
    pub old: Option<SlotImage>,
    pub new: Option<SlotImage>,
}

#[must_use]
pub fn slot_change(record: &EventRecord) -> SlotChange {
    let decode = |image: &serde_dynamo::Item| {
        if image.is_empty() || !image.contains_key(STATUS) {
            return None;
        }
        serde_dynamo::from_item::<_, SlotImage>(image.clone()).ok()
    };
    SlotChange {
        old: decode(&record.change.old_image),
        new: decode(&record.change.new_image),
    }
}

/// What a new outbox item owes: a mail or an event, with the lease it was written with.
#[derive(Debug, Clone)]
pub enum Owed {
    Mail(super::DueMail),
    Event(crate::domain::OwedEvent),
}

/// The outbox item a wishes-table stream record inserted, if it inserted one that is still
/// owed. Anything else (another item, a modification, an item already delivered) is `None`.
#[must_use]
pub fn outbox_item(record: &EventRecord) -> Option<Owed> {
    let image = &record.change.new_image;
    let pk = image.get(super::keys::PK).and_then(|v| match v {
        serde_dynamo::AttributeValue::S(s) => Some(s.as_str()),
        _ => None,
    })?;
    if pk.starts_with(super::keys::MAIL_PREFIX) {
        let r: super::records::MailRecord = serde_dynamo::from_item(image.clone()).ok()?;
        return r.owed();
    }
    if pk.starts_with(super::keys::EVENT_PREFIX) {
        let r: super::records::EventRecord = serde_dynamo::from_item(image.clone()).ok()?;
        return r.owed();
    }
    None
}
