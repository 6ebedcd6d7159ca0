//! Wishes and their links: creation, reads, and every state change of a wish.

use super::{
    ADDRESS_SK, AGE_DUE, AddressBook, AddressRecord, AttributeValue, DateTime, ENQUEUE_DUE,
    LinkKind, Offer, OfferStatus, Op, OutgoingMail, Put, Store, StoreError, TOKEN_SK, TokenHash,
    TokenRecord, TransactWriteItem, Utc, Wish, WishId, WishRecord, WishStatus, address_pk,
    conditional_update, due_sk, epoch, item, key, keys, n, queue_key, s, token_pk, ts, vals,
    wish_key,
};

impl Store {
    /// Stores a new pending wish with its link token, the opt-in mail, and the address's updated
    /// book (optimistically locked: two submissions at once cannot both pass the limits).
    pub async fn create_wish(
        &self,
        wish: &Wish,
        token: &TokenHash,
        mail: &OutgoingMail,
        book: &AddressBook,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = WishRecord::from_wish(wish, Some(now + self.retention.pending));
        let token_record = TokenRecord {
            pk: token_pk(token.as_ref()),
            sk: TOKEN_SK.into(),
            kind: keys::LINK_WISH.into(),
            target: wish.id.to_string(),
            expires_at: epoch(now + self.retention.token),
        };
        let address = AddressRecord {
            pk: address_pk(&wish.email),
            sk: ADDRESS_SK.into(),
            wishes: book.wishes.iter().map(ToString::to_string).collect(),
            submissions: book.submissions.iter().map(|t| ts(*t)).collect(),
            version: book.version.map_or(1, |v| v + 1),
            expires_at: epoch(now + self.retention.token),
        };
        let mut put_address = Put::builder()
            .table_name(&self.wishes)
            .set_item(Some(item(&address)?));
        put_address = match book.version {
            Some(v) => put_address
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v)),
            None => put_address.condition_expression("attribute_not_exists(pk)"),
        };
        let mut items = vec![
            self.put(&self.wishes, item(&record)?, true)?,
            self.put(&self.wishes, item(&token_record)?, true)?,
            TransactWriteItem::builder()
                .put(put_address.build()?)
                .build(),
        ];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    /// The target id behind a link token, if the token is ours and not expired.
    pub async fn resolve_token(
        &self,
        token: &TokenHash,
        kind: LinkKind,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.wishes)
            .set_key(Some(key(token_pk(token.as_ref()), TOKEN_SK)))
            .send()
            .await
            .op("resolve_token")?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let record: TokenRecord = serde_dynamo::from_item(item)?;
        // DynamoDB deletes expired items late (and DynamoDB Local never): expiry is checked here.
        if record.kind != keys::link_kind(kind) || record.expires_at <= epoch(now) {
            return Ok(None);
        }
        Ok(Some(record.target))
    }

    /// A wish, unless its data has expired (an unconfirmed wish after 24 h, an ended one after the
    /// retention time).
    pub async fn get_wish(
        &self,
        id: &WishId,
        now: DateTime<Utc>,
    ) -> Result<Option<Wish>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.wishes)
            .set_key(Some(wish_key(id)))
            .consistent_read(true)
            .send()
            .await
            .op("get_wish")?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let record: WishRecord = serde_dynamo::from_item(item)?;
        if record.expires_at.is_some_and(|e| e <= epoch(now)) {
            return Ok(None);
        }
        record.into_wish().map(Some)
    }

    /// Reads wishes in one round trip (at most 100), consistent, skipping expired ones.
    pub async fn get_wishes(
        &self,
        ids: &[WishId],
        now: DateTime<Utc>,
    ) -> Result<Vec<Wish>, StoreError> {
        let mut found = Vec::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let mut unique: Vec<&WishId> = Vec::new();
        for id in ids {
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
        let keys = unique.iter().map(|id| wish_key(id)).collect();
        for item in self.batch_get(keys, true).await? {
            let record: WishRecord = serde_dynamo::from_item(item)?;
            if record.expires_at.is_none_or(|e| e > epoch(now)) {
                found.push(record.into_wish()?);
            }
        }
        Ok(found)
    }

    /// pending → waiting: the wish gets its place in line (the confirmation time) and is marked
    /// for enqueueing, which [`Store::enqueue`] completes (or the rescan, after a crash).
    pub async fn confirm_wish(
        &self,
        wish: &Wish,
        now: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let update = conditional_update(
            &self.wishes,
            wish_key(&wish.id),
            "SET #status = :waiting, confirmed_at = :now, queue_key = :qk, gsi1pk = :due, gsi1sk = :now REMOVE expires_at",
            "#status = :pending AND (attribute_not_exists(expires_at) OR expires_at > :epoch)",
            vals([
                (":waiting", s(WishStatus::Waiting.as_str())),
                (":pending", s(WishStatus::Pending.as_str())),
                (":now", s(ts(now))),
                (":qk", s(queue_key(now, &wish.id))),
                (":due", s(ENQUEUE_DUE)),
                (":epoch", n(epoch(now))),
            ]),
        )?;
        let mut items = vec![update];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    /// waiting|offered|pending → cancelled; an open offer is withdrawn and its slot set free again
    /// (which the stream turns into a `SlotReleased`).
    pub async fn cancel_wish(
        &self,
        wish: &Wish,
        open_offer: Option<&Offer>,
        now: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let mut items = vec![self.end_wish_update(wish, WishStatus::Cancelled, now)?];
        if let Some(offer) = open_offer {
            items.push(self.close_offer_update(offer, OfferStatus::Withdrawn, now)?);
            items.push(self.free_slot_update(offer, now)?);
        }
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    pub(super) fn end_wish_update(
        &self,
        wish: &Wish,
        status: WishStatus,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let expected = wish.status.as_str();
        conditional_update(
            &self.wishes,
            wish_key(&wish.id),
            "SET #status = :to, ended_at = :now, expires_at = :exp REMOVE open_offer, gsi1pk, gsi1sk",
            "#status = :from",
            vals([
                (":to", s(status.as_str())),
                (":from", s(expected)),
                (":now", s(ts(now))),
                (":exp", n(epoch(now + self.retention.ended))),
            ]),
        )
    }

    /// offered → waiting after a decline or an expiry: the wish keeps its place and never gets
    /// this slot again.
    /// offered → waiting (or paused) after a decline or an expiry: the wish keeps its place and
    /// never gets this slot again; `unanswered` counts expiries in a row.
    pub(super) fn back_to_waiting_update(
        &self,
        offer: &Offer,
        to: WishStatus,
        unanswered: u8,
    ) -> Result<TransactWriteItem, StoreError> {
        conditional_update(
            &self.wishes,
            wish_key(&offer.wish),
            "SET #status = :to, unanswered = :n, declined = list_append(if_not_exists(declined, :empty), :slot) REMOVE open_offer",
            "#status = :offered AND open_offer = :offer",
            vals([
                (":to", s(to.as_str())),
                (":n", n(i64::from(unanswered))),
                (":offered", s(WishStatus::Offered.as_str())),
                (":offer", s(offer.id.as_ref())),
                (":empty", AttributeValue::L(vec![])),
                (":slot", AttributeValue::L(vec![s(offer.slot.as_ref())])),
            ]),
        )
    }

    /// paused → waiting: the citizen confirmed again; the place in line was never lost.
    pub async fn resume_wish(
        &self,
        wish: &Wish,
        now: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let update = conditional_update(
            &self.wishes,
            wish_key(&wish.id),
            "SET #status = :waiting, unanswered = :zero",
            "#status = :paused",
            vals([
                (":waiting", s(WishStatus::Waiting.as_str())),
                (":paused", s(WishStatus::Paused.as_str())),
                (":zero", n(0)),
            ]),
        )?;
        let mut items = vec![update];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    /// Confirmed wishes whose age must be looked at by `now` (reminder or expiry).
    pub async fn wishes_by_age(
        &self,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Wish>, StoreError> {
        let mut wishes = Vec::new();
        for item in self.gsi_due(AGE_DUE, &ts(now), limit).await? {
            let record: WishRecord = serde_dynamo::from_item(item)?;
            wishes.push(record.into_wish()?);
        }
        Ok(wishes)
    }

    /// When the rescan should look at this wish's age next.
    pub async fn schedule_age_check(
        &self,
        wish: &Wish,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.wishes)
            .set_key(Some(wish_key(&wish.id)))
            .update_expression("SET gsi1sk = :at")
            .condition_expression("gsi1pk = :age")
            .set_expression_attribute_values(Some(vals([
                (":age", s(AGE_DUE)),
                (":at", s(due_sk(at, &wish.id))),
            ])))
            .send()
            .await;
        // A wish no longer on the age list (ended, or not yet enqueued) needs no schedule.
        result.unless_condition_failed("schedule_age_check")?;
        Ok(())
    }

    /// Records the "still interested?" reminder together with its mail.
    pub async fn remind_wish(
        &self,
        wish: &Wish,
        now: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let update = conditional_update(
            &self.wishes,
            wish_key(&wish.id),
            "SET reminded_at = :now, gsi1sk = :at",
            "#status = :status AND gsi1pk = :age AND attribute_not_exists(reminded_at)",
            vals([
                (":now", s(ts(now))),
                (":at", s(due_sk(ends_at, &wish.id))),
                (":status", s(wish.status.as_str())),
                (":age", s(AGE_DUE)),
            ]),
        )?;
        let mut items = vec![update];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    /// "Keep my wish": the age starts again, the place in line stays.
    pub async fn keep_wish(
        &self,
        wish: &Wish,
        now: DateTime<Utc>,
        next_check: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let update = conditional_update(
            &self.wishes,
            wish_key(&wish.id),
            "SET kept_at = :now, gsi1pk = :age, gsi1sk = :at REMOVE reminded_at",
            "#status = :status AND attribute_exists(reminded_at)",
            vals([
                (":now", s(ts(now))),
                (":at", s(due_sk(next_check, &wish.id))),
                (":status", s(wish.status.as_str())),
                (":age", s(AGE_DUE)),
            ]),
        )?;
        let mut items = vec![update];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    /// waiting → expired at the maximum age.
    pub async fn expire_wish(
        &self,
        wish: &Wish,
        now: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let mut items = vec![self.end_wish_update(wish, WishStatus::Expired, now)?];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }
}
