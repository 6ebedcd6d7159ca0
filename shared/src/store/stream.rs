//! The slots table's stream records as slot states: the old and the new image of one change,
//! decoded from the item layout that [`super::records`] writes.

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
