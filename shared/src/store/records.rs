//! The items as they lie in `DynamoDB`, and their mapping to and from domain types.
//!
//! Nothing outside `store` sees these records or an `AttributeValue`.

use crate::domain::{Language, Offer, OfferStatus, Slot, Wish};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::keys::{OFFER_SK, OPEN_OFFERS, WISH_SK, due_sk, epoch, offer_pk, queue_key, wish_pk};

pub fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt(format!("bad time {s:?}")))
}

/// A wish item: the wish, its place in line once confirmed, its TTL once it may expire.
#[serde_with::skip_serializing_none]
#[derive(Debug, Serialize, Deserialize)]
pub struct WishRecord {
    pub pk: String,
    pub sk: String,
    #[serde(flatten)]
    pub wish: Wish,
    pub queue_key: Option<String>,
    /// The lines (their partition keys) the wish was put into: what dequeue takes it out of,
    /// whatever the catalogue says by then.
    pub queued: Option<Vec<String>>,
    pub expires_at: Option<i64>,
}

impl WishRecord {
    #[must_use]
    pub fn from_wish(w: &Wish, expires_at: Option<DateTime<Utc>>) -> Self {
        Self {
            pk: wish_pk(&w.id),
            sk: WISH_SK.into(),
            wish: w.clone(),
            queue_key: w.confirmed_at.map(|t| queue_key(t, &w.id)),
            queued: None,
            expires_at: expires_at.map(epoch),
        }
    }

    /// Whether the wish's data is still to be shown (its TTL has not passed: `DynamoDB` deletes
    /// late, and `DynamoDB` Local never).
    #[must_use]
    pub fn is_current(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|e| e > epoch(now))
    }

    #[must_use]
    pub fn into_wish(self) -> Wish {
        self.wish
    }
}

/// A slot item: the slot, and on the free index while it is free.
#[serde_with::skip_serializing_none]
#[derive(Debug, Serialize, Deserialize)]
pub struct SlotRecord {
    #[serde(flatten)]
    pub slot: Slot,
    pub gsi1pk: Option<String>,
    pub gsi1sk: Option<String>,
    pub updated_at: String,
    pub expires_at: i64,
}

impl SlotRecord {
    #[must_use]
    pub fn into_slot(self) -> Slot {
        self.slot
    }
}

/// An offer item: the offer, on the open-offers index by deadline while it is open.
#[serde_with::skip_serializing_none]
#[derive(Debug, Serialize, Deserialize)]
pub struct OfferRecord {
    #[serde(flatten)]
    pub offer: Offer,
    pub pk: String,
    pub sk: String,
    pub gsi1pk: Option<String>,
    pub gsi1sk: Option<String>,
    pub expires_at: Option<i64>,
}

impl OfferRecord {
    #[must_use]
    pub fn from_offer(o: &Offer, expires_at: DateTime<Utc>) -> Self {
        let open = o.status == OfferStatus::Open;
        Self {
            pk: offer_pk(&o.id),
            sk: OFFER_SK.into(),
            offer: o.clone(),
            gsi1pk: open.then(|| OPEN_OFFERS.to_owned()),
            gsi1sk: open.then(|| due_sk(o.deadline, &o.id)),
            expires_at: Some(epoch(expires_at)),
        }
    }

    #[must_use]
    pub fn into_offer(self) -> Offer {
        self.offer
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenRecord {
    pub pk: String,
    pub sk: String,
    /// `wish` or `offer`.
    pub kind: String,
    pub target: String,
    pub expires_at: i64,
}

/// A mail owed to a citizen, written in the same transaction as the change it tells about.
/// A domain event owed to the bus, written in the same transaction as the change it tells about;
/// kept (without its lease) for the retention time once published.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRecord {
    pub pk: String,
    pub sk: String,
    pub key: String,
    /// The event's name (`detail-type`).
    #[serde(rename = "type")]
    pub name: String,
    /// The JSON detail: ids and the slot's state, never an address.
    pub detail: String,
    pub status: String,
    pub attempts: u32,
    pub created_at: String,
    pub gsi1pk: Option<String>,
    /// When the current publisher's lease ends; after that the rescan publishes it.
    pub gsi1sk: Option<String>,
    /// The events feed: [`super::keys::FEED`], and `<commit time>#<key>` (the cursor); empty
    /// for items written before the feed existed.
    #[serde(default)]
    pub gsi2pk: String,
    #[serde(default)]
    pub gsi2sk: String,
    pub expires_at: i64,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MailRecord {
    pub pk: String,
    pub sk: String,
    pub key: String,
    /// The wish the mail is about (absent in mails written before it was recorded).
    #[serde(default)]
    pub wish: Option<String>,
    /// The recipient; removed with the body once sent.
    #[serde(default)]
    pub to: String,
    /// The whole MIME message, deflated and base64-encoded (a fifth of its size: the item is
    /// written in a transaction and copied into the index, so every KB costs four write units);
    /// removed once sent.
    #[serde(rename = "mime_z")]
    pub packed: Option<String>,
    pub status: String,
    pub attempts: u32,
    pub created_at: String,
    pub gsi1pk: Option<String>,
    /// When the current sender's lease ends; after that anyone may send it.
    pub gsi1sk: Option<String>,
    pub expires_at: i64,
}

impl MailRecord {
    /// What the outbox still owes of this mail: nothing once it is sent (its body is gone).
    #[must_use]
    pub fn owed(self) -> Option<super::stream::Owed> {
        let raw = super::outbox::unpack_mime(self.packed.as_deref()?).ok()?;
        Some(super::stream::Owed::Mail(super::DueMail {
            created_at: parse_ts(&self.created_at).ok()?,
            wish: self
                .wish
                .and_then(|w| crate::domain::WishId::parse(&w).ok()),
            attempts: self.attempts,
            key: self.key,
            to: self.to,
            raw,
            lease: self.gsi1sk?,
        }))
    }
}

impl EventRecord {
    /// What the outbox still owes of this event: nothing once it is published (off the due list).
    #[must_use]
    pub fn owed(self) -> Option<super::stream::Owed> {
        Some(super::stream::Owed::Event(crate::domain::OwedEvent {
            key: self.key,
            name: self.name,
            detail: self.detail,
            lease: self.gsi1sk?,
            attempts: self.attempts,
        }))
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Serialize, Deserialize)]
pub struct QueueEntryRecord {
    pub pk: String,
    pub sk: String,
    pub wish: String,
    /// Who to write to, so the usual offer needs no read of the wish (deleted with the entry).
    pub email: Option<String>,
    pub language: Option<Language>,
    /// As long as the wish may stand in line (refreshed when it is kept).
    pub expires_at: Option<i64>,
}
