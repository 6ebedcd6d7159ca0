//! The outbox: mails written in the transaction of their change, sent after it, retried after their lease.

use super::prelude::*;
use crate::domain::outbox::{FIRST_LEASE, retry_lease};

/// A mail the outbox still owes.
#[derive(Debug, Clone)]
pub struct DueMail {
    pub key: String,
    /// The wish it is about, when known.
    pub wish: Option<WishId>,
    pub to: String,
    pub raw: String,
    pub lease: String,
    /// Delivery attempts so far (each claim counts one).
    pub attempts: u32,
    /// When its change was committed: the retries' bound runs from here.
    pub created_at: DateTime<Utc>,
}
/// One event of the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    /// Poll with this to get the events after it.
    pub cursor: String,
    /// The event's name (`detail-type` on the bus).
    pub name: String,
    pub time: DateTime<Utc>,
    pub detail: serde_json::Value,
}
/// A MIME message as the outbox keeps it: deflated, then base64 (a string attribute).
pub(super) fn pack_mime(raw: &str) -> Result<String, StoreError> {
    use std::io::Write as _;
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(raw.as_bytes())
        .and_then(|()| z.finish())
        .map(|bytes| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes))
        .map_err(|e| StoreError::Corrupt(format!("compressing a mail: {e}")))
}

pub(super) fn unpack_mime(packed: &str) -> Result<String, StoreError> {
    use std::io::Read as _;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, packed)
        .map_err(|e| StoreError::Corrupt(format!("outbox mail: {e}")))?;
    let mut raw = String::new();
    flate2::read::DeflateDecoder::new(bytes.as_slice())
        .read_to_string(&mut raw)
        .map_err(|e| StoreError::Corrupt(format!("outbox mail: {e}")))?;
    Ok(raw)
}

impl Store {
    /// Commits a change with what it owes (mail, events): all or nothing.
    pub(super) async fn commit(
        &self,
        mut items: Vec<TransactWriteItem>,
        out: &Effects,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        items.extend(self.outbox_put(out, now)?);
        self.transact(items, None).await
    }

    /// The outbox items of a change: its mail with the link tokens it carries, and its events.
    /// The writer delivers them right after the transaction; the lease keeps the rescan away
    /// meanwhile.
    pub(super) fn outbox_put(
        &self,
        out: &Effects,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = Vec::new();
        if let Some(mail) = &out.mail {
            items.extend(self.mail_put(mail, now)?);
        }
        if let Some((entry, until)) = &out.audit {
            items.push(self.audit_put(entry, *until)?);
        }
        for (key, event) in out.event_keys() {
            let record = EventRecord {
                pk: keys::event_pk(&key),
                sk: keys::EVENT_SK.into(),
                name: event.name().into(),
                detail: event.detail().to_string(),
                status: keys::MAIL_PENDING.into(),
                attempts: 0,
                created_at: ts(now),
                gsi1pk: Some(keys::due_pk(keys::EVENT_DUE, &key)),
                gsi1sk: Some(due_sk(now + FIRST_LEASE, &key)),
                gsi2pk: keys::FEED.into(),
                gsi2sk: due_sk(now, &key),
                expires_at: epoch(now + self.retention.ended),
                key,
            };
            items.push(self.put(&self.wishes, item(&record)?, true)?);
        }
        Ok(items)
    }

    fn mail_put(
        &self,
        mail: &OutgoingMail,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let record = MailRecord {
            pk: mail_pk(&mail.key),
            sk: MAIL_SK.into(),
            key: mail.key.clone(),
            wish: Some(mail.wish.to_string()),
            to: mail.to.clone(),
            packed: Some(pack_mime(&mail.raw)?),
            status: keys::MAIL_PENDING.into(),
            attempts: 0,
            created_at: ts(now),
            gsi1pk: Some(keys::due_pk(MAIL_DUE, &mail.key)),
            gsi1sk: Some(due_sk(now + FIRST_LEASE, &mail.key)),
            expires_at: epoch(now + self.retention.ended),
        };
        let mut items = vec![self.put(&self.wishes, item(&record)?, true)?];
        for t in &mail.tokens {
            let token = TokenRecord {
                pk: token_pk(t.hash.as_ref()),
                sk: TOKEN_SK.into(),
                kind: keys::link_kind(t.kind).into(),
                target: t.target.clone(),
                expires_at: epoch(t.expires_at),
            };
            items.push(self.put(&self.wishes, item(&token)?, true)?);
        }
        Ok(items)
    }

    /// Events in commit order after the cursor `after` (from the oldest kept when `None`) and
    /// written before `until`, at most `limit`.
    pub async fn events_feed(
        &self,
        after: Option<&str>,
        until: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        let values = Values::default()
            .with(":feed", s(keys::FEED))
            .with(":until", s(ts(until)));
        // The cursor is the last event's index key; its table key follows from it.
        let start = after.and_then(|cursor| {
            let (_, event_key) = cursor.split_once('#')?;
            let mut start = key(keys::event_pk(event_key), keys::EVENT_SK);
            start.insert("gsi2pk".into(), s(keys::FEED));
            start.insert("gsi2sk".into(), s(cursor));
            Some(start)
        });
        let lookup = Lookup {
            index: Some(keys::FEED_INDEX),
            limit: Some(limit),
            start,
            ..Lookup::new("gsi2pk = :feed AND gsi2sk < :until", values)
        };
        let out = self.query(Table::Wishes, lookup, "events_feed").await?;
        let mut events = Vec::new();
        for item in out.items.unwrap_or_default() {
            let r: EventRecord = serde_dynamo::from_item(item)?;
            events.push(FeedEvent {
                time: records::parse_ts(&r.created_at)?,
                cursor: r.gsi2sk,
                name: r.name,
                detail: serde_json::from_str(&r.detail)
                    .map_err(|e| StoreError::Corrupt(format!("event detail: {e}")))?,
            });
        }
        Ok(events)
    }

    /// Records that an event is on the bus.
    pub async fn mark_event_published(
        &self,
        event_key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = key(keys::event_pk(event_key), keys::EVENT_SK);
        self.apply(
            Write::EventPublished,
            key,
            &Values::at(now),
            "mark_event_published",
        )
        .await?;
        Ok(())
    }

    /// Mails and events whose deliverer's lease has run out without a delivery being recorded
    /// (at most `limit` of each).
    pub async fn due_outbox(
        &self,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Owed>, StoreError> {
        let mut due = Vec::new();
        for item in self.due_list(MAIL_DUE, now, limit).await? {
            due.extend(serde_dynamo::from_item::<_, MailRecord>(item)?.owed());
        }
        for item in self.due_list(keys::EVENT_DUE, now, limit).await? {
            due.extend(serde_dynamo::from_item::<_, EventRecord>(item)?.owed());
        }
        Ok(due)
    }

    /// The `limit` earliest items of a due list across its partitions ([`keys::due_partitions`]).
    async fn due_list(
        &self,
        list: &str,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        for pk in keys::due_partitions(list) {
            items.extend(self.gsi_due(&pk, &ts(now), limit).await?);
        }
        let due_at = |item: &Item| {
            item.get(keys::GSI_SK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        items.sort_by_cached_key(due_at);
        items.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(items)
    }

    /// Gives up on a mail after its retries' bound (or pauses a wish SES reported the address
    /// of, `mail` then `None`), in one transaction: the mail is marked failed (its body and
    /// address dropped, off the due list), the wish paused when `paused` says so (an open offer
    /// withdrawn, its slot free again for the next wish), and what the change owes
    /// (`MailFailed`, …) goes to the outbox. A failed mail is counted in the statistics.
    pub async fn fail_mail(
        &self,
        mail: Option<&DueMail>,
        paused: Option<(&Wish, Option<&Offer>)>,
        now: DateTime<Utc>,
        out: &Effects,
    ) -> Result<(), StoreError> {
        let v = Values::at(now);
        let mut items = Vec::new();
        if let Some(mail) = mail {
            items.push(self.guarded(Write::MailFailed, key(mail_pk(&mail.key), MAIL_SK), &v)?);
        }
        if let Some((wish, offer)) = paused {
            items.push(self.guarded(
                Write::WishPaused,
                wish_key(&wish.id),
                &v.clone().wish(wish),
            )?);
            if let Some(offer) = offer {
                items.push(self.close_offer_update(offer, OfferStatus::Withdrawn, now)?);
                items.extend(self.free_slot_update(offer, now)?);
            }
        }
        self.commit(items, out, now).await?;
        if mail.is_some() {
            self.bump_offer_counter(keys::MAILS_FAILED_COUNTER).await;
        }
        Ok(())
    }

    /// Takes over an owed mail or event for one attempt, from the lease it was read with (its
    /// lease moves on); `false` when someone else took it first or it was delivered.
    pub async fn claim(&self, owed: &Owed, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let (id, item, lease, attempts) = match owed {
            Owed::Mail(m) => (&m.key, key(mail_pk(&m.key), MAIL_SK), &m.lease, m.attempts),
            Owed::Event(e) => (
                &e.key,
                key(keys::event_pk(&e.key), keys::EVENT_SK),
                &e.lease,
                e.attempts,
            ),
        };
        // Each attempt holds the item longer: one that keeps failing is retried less often.
        let v = Values::at(now)
            .with(":lease", s(due_sk(now + retry_lease(attempts), id)))
            .with(":seen", s(lease.as_str()));
        Ok(self
            .apply(Write::OutboxClaimed, item, &v, "claim")
            .await?
            .is_some())
    }

    /// Records a send; the message body and the address (personal data, live links) are dropped
    /// with it.
    pub async fn mark_mail_sent(
        &self,
        mail_key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = key(mail_pk(mail_key), MAIL_SK);
        self.apply(Write::MailSent, key, &Values::at(now), "mark_mail_sent")
            .await?;
        Ok(())
    }
}
#[cfg(test)]
mod tests {
    use super::{pack_mime, unpack_mime};

    #[test]
    fn outbox_mails_are_kept_compressed_and_come_back_byte_for_byte() {
        let raw = "Subject: Terminangebot\r\n\r\n".to_owned()
            + &"<p style=\"color:#003d7a\">Bürgerbüro Bilk, Mi 24.01. 8:30</p>\r\n".repeat(80);
        let packed = pack_mime(&raw).unwrap();
        assert!(
            packed.len() * 5 < raw.len(),
            "{} of {}",
            packed.len(),
            raw.len()
        );
        assert_eq!(unpack_mime(&packed).unwrap(), raw);
        assert!(unpack_mime("not base64!").is_err());
        assert!(unpack_mime("aGVsbG8=").is_err(), "not deflate data");
    }
}
