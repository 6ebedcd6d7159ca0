//! Wishes taken by phone: the wish entered confirmed (with its number's entry, for the support
//! look-up), a number's wishes, and the open offers the call list starts from.

use super::prelude::*;
use crate::domain::PhoneNumber;

/// A phone number's entry for one wish: the keyed hash of the number (in the key) and the wish.
#[derive(serde::Serialize, serde::Deserialize)]
struct PhoneEntryRecord {
    pk: String,
    sk: String,
    wish: String,
    expires_at: i64,
}

impl Store {
    /// The key of a number's entries: a keyed hash of the number (as the limits hash addresses).
    fn phone_pk(&self, number: &PhoneNumber) -> Result<String, StoreError> {
        Ok(keys::phone_pk(
            &self.limit_key.digest("phone", number.as_ref())?,
        ))
    }

    /// Stores a wish a clerk took by phone, confirmed (`wish` is waiting, its place the time it
    /// was entered) and on the enqueue list, which [`Store::enqueue`] completes (or the rescan);
    /// its number's entry, both kept until `keep_until`; and the effects (the event, the audit
    /// entry) in the same transaction.
    pub async fn create_phone_wish(
        &self,
        wish: &Wish,
        keep_until: DateTime<Utc>,
        out: &Effects,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let phone = wish
            .contact
            .phone()
            .ok_or_else(|| StoreError::Corrupt("a phone wish without a number".into()))?;
        let mut record = item(&WishRecord::from_wish(wish, Some(keep_until)))?;
        record.insert(keys::GSI_PK.into(), s(ENQUEUE_DUE));
        record.insert(keys::GSI_SK.into(), s(ts(now)));
        let entry = PhoneEntryRecord {
            pk: self.phone_pk(&phone.number)?,
            sk: keys::phone_sk(&wish.id),
            wish: wish.id.to_string(),
            expires_at: epoch(keep_until),
        };
        let items = vec![
            self.put(&self.wishes, record, true)?,
            self.put(&self.wishes, item(&entry)?, true)?,
        ];
        self.commit(items, out, now).await
    }

    /// The wishes taken for a number (those whose entry has not expired; the caller reads them).
    pub async fn phone_book(
        &self,
        number: &PhoneNumber,
        now: DateTime<Utc>,
    ) -> Result<Vec<WishId>, StoreError> {
        let pk = self.phone_pk(number)?;
        let lookup = Lookup {
            consistent: true,
            ..Lookup::new("pk = :pk", Values::default().with(":pk", s(pk)))
        };
        let out = self.query(Table::Wishes, lookup, "phone_book").await?;
        let mut ids = Vec::new();
        for item in out.items.unwrap_or_default() {
            let r: PhoneEntryRecord = serde_dynamo::from_item(item)?;
            if r.expires_at > epoch(now) {
                ids.extend(WishId::parse(&r.wish).ok());
            }
        }
        Ok(ids)
    }

    /// Every open offer, earliest deadline first (at most `limit`), from the open-offers index:
    /// the call list keeps those of wishes taken by phone. Its cost grows with the offers open
    /// in the city (bounded by the free slots), never with the wishes waiting.
    pub async fn open_offers(&self, limit: i32) -> Result<Vec<Offer>, StoreError> {
        // Every due key starts with a time, which sorts before "~".
        self.gsi_due(OPEN_OFFERS, "~", limit)
            .await?
            .into_iter()
            .map(|item| Ok(serde_dynamo::from_item::<_, OfferRecord>(item)?.into_offer()))
            .collect()
    }
}

/// A clerk's call about an offer that reached nobody.
#[derive(serde::Serialize, serde::Deserialize)]
struct CallAttemptRecord {
    pk: String,
    sk: String,
    actor: String,
    at: String,
    expires_at: i64,
}

/// One call that reached nobody: when, and who called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallAttempt {
    pub at: DateTime<Utc>,
    pub actor: String,
}

impl Store {
    /// Records a call about an open offer that reached nobody, with its audit entry (kept as
    /// long as the wish is), in one transaction; the attempt is kept as long as the offer.
    pub async fn record_call_attempt(
        &self,
        offer: &Offer,
        audit: &crate::domain::staff::AuditEntry,
        audit_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = CallAttemptRecord {
            pk: keys::call_pk(&offer.id),
            sk: ts(audit.at),
            actor: audit.actor.clone(),
            at: ts(audit.at),
            expires_at: epoch(offer.deadline + self.retention.ended),
        };
        let items = vec![
            self.put(&self.wishes, item(&record)?, false)?,
            self.audit_put(audit, audit_until)?,
        ];
        self.transact(items, None).await
    }

    /// The calls about an offer that reached nobody, latest first (at most 5).
    pub async fn call_attempts(&self, offer: &OfferId) -> Result<Vec<CallAttempt>, StoreError> {
        let lookup = Lookup {
            scan_backward: true,
            limit: Some(5),
            ..Lookup::new(
                "pk = :pk",
                Values::default().with(":pk", s(keys::call_pk(offer))),
            )
        };
        let out = self.query(Table::Wishes, lookup, "call_attempts").await?;
        let mut attempts = Vec::new();
        for item in out.items.unwrap_or_default() {
            let r: CallAttemptRecord = serde_dynamo::from_item(item)?;
            attempts.push(CallAttempt {
                at: records::parse_ts(&r.at)?,
                actor: r.actor,
            });
        }
        Ok(attempts)
    }
}
