//! The items as they lie in `DynamoDB`, and their mapping to and from domain types.
//!
//! Nothing outside `store` sees these records or an `AttributeValue`.

use crate::domain::{
    Email, Language, Offer, OfferId, OfferStatus, OfficeId, ServiceId, Slot, SlotId, SlotStatus,
    Weekday, Window, Wish, WishId, WishStatus,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use super::StoreError;
use super::keys::{
    OFFER_SK, OPEN_OFFERS, WISH_SK, due_sk, epoch, offer_pk, queue_key, ts, wish_pk,
};

pub fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt(format!("bad time {s:?}")))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WishRecord {
    pub pk: String,
    pub sk: String,
    pub id: String,
    pub email: String,
    pub service: String,
    pub offices: Vec<String>,
    pub windows: BTreeMap<Weekday, Vec<u8>>,
    pub language: Language,
    pub status: WishStatus,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_offer: Option<String>,
    #[serde(default)]
    pub declined: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded_at: Option<String>,
    #[serde(default)]
    pub unanswered: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl WishRecord {
    pub fn from_wish(w: &Wish, expires_at: Option<DateTime<Utc>>) -> Self {
        Self {
            pk: wish_pk(&w.id),
            sk: WISH_SK.into(),
            id: w.id.to_string(),
            email: w.email.as_ref().to_owned(),
            service: w.service.to_string(),
            offices: w.offices.iter().map(ToString::to_string).collect(),
            windows: crate::domain::wish::windows_map(&w.windows),
            language: w.language,
            status: w.status,
            created_at: ts(w.created_at),
            confirmed_at: w.confirmed_at.map(ts),
            queue_key: w.confirmed_at.map(|t| queue_key(t, &w.id)),
            open_offer: w.open_offer.as_ref().map(ToString::to_string),
            declined: w.declined.iter().map(ToString::to_string).collect(),
            kept_at: w.kept_at.map(ts),
            reminded_at: w.reminded_at.map(ts),
            unanswered: w.unanswered,
            expires_at: expires_at.map(epoch),
        }
    }

    pub fn into_wish(self) -> Result<Wish, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("wish {}: bad {what}", self.id));
        let mut windows = BTreeSet::new();
        for (day, hours) in &self.windows {
            for h in hours {
                windows.insert(Window::new(*day, *h).map_err(|_| bad("window"))?);
            }
        }
        Ok(Wish {
            id: WishId::parse(&self.id).map_err(|_| bad("id"))?,
            email: Email::parse(&self.email).map_err(|_| bad("email"))?,
            service: ServiceId::parse(&self.service).map_err(|_| bad("service"))?,
            offices: self
                .offices
                .iter()
                .map(|o| OfficeId::parse(o))
                .collect::<Result<_, _>>()
                .map_err(|_| bad("office"))?,
            windows,
            language: self.language,
            status: self.status,
            created_at: parse_ts(&self.created_at)?,
            confirmed_at: self.confirmed_at.as_deref().map(parse_ts).transpose()?,
            open_offer: self
                .open_offer
                .as_deref()
                .map(OfferId::parse)
                .transpose()
                .map_err(|_| bad("offer"))?,
            declined: self
                .declined
                .iter()
                .map(|s| SlotId::parse(s))
                .collect::<Result<_, _>>()
                .map_err(|_| bad("declined"))?,
            kept_at: self.kept_at.as_deref().map(parse_ts).transpose()?,
            reminded_at: self.reminded_at.as_deref().map(parse_ts).transpose()?,
            unanswered: self.unanswered,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SlotRecord {
    pub id: String,
    pub office: String,
    pub service: String,
    pub start: String,
    pub minutes: u16,
    pub status: SlotStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wish: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    pub updated_at: String,
    pub expires_at: i64,
}

impl SlotRecord {
    pub fn into_slot(self) -> Result<Slot, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("slot {}: bad {what}", self.id));
        Ok(Slot {
            id: SlotId::parse(&self.id).map_err(|_| bad("id"))?,
            office: OfficeId::parse(&self.office).map_err(|_| bad("office"))?,
            service: ServiceId::parse(&self.service).map_err(|_| bad("service"))?,
            start: parse_ts(&self.start)?,
            minutes: self.minutes,
            status: self.status,
            offer: self
                .offer
                .as_deref()
                .map(OfferId::parse)
                .transpose()
                .map_err(|_| bad("offer"))?,
            wish: self
                .wish
                .as_deref()
                .map(WishId::parse)
                .transpose()
                .map_err(|_| bad("wish"))?,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct OfferRecord {
    pub pk: String,
    pub sk: String,
    pub id: String,
    pub wish: String,
    pub slot: String,
    pub office: String,
    pub service: String,
    pub start: String,
    pub minutes: u16,
    pub status: OfferStatus,
    pub deadline: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl OfferRecord {
    pub fn from_offer(o: &Offer, expires_at: DateTime<Utc>) -> Self {
        let open = o.status == OfferStatus::Open;
        Self {
            pk: offer_pk(&o.id),
            sk: OFFER_SK.into(),
            id: o.id.to_string(),
            wish: o.wish.to_string(),
            slot: o.slot.to_string(),
            office: o.office.to_string(),
            service: o.service.to_string(),
            start: ts(o.start),
            minutes: o.minutes,
            status: o.status,
            deadline: ts(o.deadline),
            created_at: ts(o.created_at),
            gsi1pk: open.then(|| OPEN_OFFERS.to_owned()),
            gsi1sk: open.then(|| due_sk(o.deadline, &o.id)),
            expires_at: Some(epoch(expires_at)),
        }
    }

    pub fn into_offer(self) -> Result<Offer, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("offer {}: bad {what}", self.id));
        Ok(Offer {
            id: OfferId::parse(&self.id).map_err(|_| bad("id"))?,
            wish: WishId::parse(&self.wish).map_err(|_| bad("wish"))?,
            slot: SlotId::parse(&self.slot).map_err(|_| bad("slot"))?,
            office: OfficeId::parse(&self.office).map_err(|_| bad("office"))?,
            service: ServiceId::parse(&self.service).map_err(|_| bad("service"))?,
            start: parse_ts(&self.start)?,
            minutes: self.minutes,
            status: self.status,
            deadline: parse_ts(&self.deadline)?,
            created_at: parse_ts(&self.created_at)?,
        })
    }
}

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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MailRecord {
    pub pk: String,
    pub sk: String,
    pub key: String,
    /// The recipient; removed with the body once sent.
    #[serde(default)]
    pub to: String,
    /// The whole MIME message, deflated and base64-encoded (a fifth of its size: the item is
    /// written in a transaction and copied into the index, so every KB costs four write units);
    /// removed once sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "mime_z")]
    pub packed: Option<String>,
    pub status: String,
    pub attempts: u32,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    /// When the current sender's lease ends; after that anyone may send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    pub expires_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct QueueEntryRecord {
    pub pk: String,
    pub sk: String,
    pub wish: String,
    /// Who to write to, so the usual offer needs no read of the wish (deleted with the entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
}
