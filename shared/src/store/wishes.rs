//! Wishes and their links: creation, reads, and every state change of a wish.

use super::prelude::*;

/// What happened to a wish's age ([`Store::mark_age`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeMark {
    Reminded,
    /// Kept, with the data kept until then.
    Kept(DateTime<Utc>),
}

impl Store {
    /// Stores a new pending wish with its link token, the opt-in mail, and the address's updated
    /// book (optimistically locked: two submissions at once cannot both pass the limits).
    pub async fn create_wish(
        &self,
        wish: &Wish,
        replaces: bool,
        token: Option<&TokenHash>,
        out: &Effects,
        book: &AddressBook,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = WishRecord::from_wish(wish, Some(now + self.retention.pending));
        // The book lives as long as its longest suppression, should that be longer.
        let keep = book
            .suppressed
            .values()
            .copied()
            .fold(now + self.retention.token, DateTime::max);
        let address = AddressRecord::of_book(
            self.address_pk(wish.contact.email().ok_or_else(|| {
                StoreError::Corrupt("a citizen's submission without an address".into())
            })?)?,
            book,
            epoch(keep),
        );
        // The book as it was read (optimistic lock); a replaced wish must still be pending (not
        // confirmed meanwhile, not expired).
        let address_condition = if book.version.is_some() {
            "version = :v"
        } else {
            "attribute_not_exists(pk)"
        };
        let version = Values::new().with(":v", n(book.version.unwrap_or(0)));
        let put_wish = if replaces {
            let condition = "#status = :pending AND expires_at > :epoch";
            self.put_when(Table::Wishes, &record, condition, &Values::at(now))?
        } else {
            self.put(&self.wishes, item(&record)?, true)?
        };
        let mut items = vec![
            put_wish,
            self.put_when(Table::Wishes, &address, address_condition, &version)?,
        ];
        if let Some(token) = token {
            let token_record = TokenRecord {
                pk: token_pk(token.as_ref()),
                sk: TOKEN_SK.into(),
                kind: keys::LINK_WISH.into(),
                target: wish.id.to_string(),
                expires_at: epoch(now + self.retention.token),
            };
            items.push(self.put(&self.wishes, item(&token_record)?, true)?);
        }
        self.commit(items, out, now).await
    }

    /// The target id behind a link token, if the token is ours and not expired.
    pub async fn resolve_token(
        &self,
        token: &TokenHash,
        kind: LinkKind,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let key = key(token_pk(token.as_ref()), TOKEN_SK);
        let record: Option<TokenRecord> = self.read(Table::Wishes, key, "resolve_token").await?;
        // DynamoDB deletes expired items late (and DynamoDB Local never): expiry is checked here.
        Ok(record
            .filter(|r| r.kind == keys::link_kind(kind) && r.expires_at > epoch(now))
            .map(|r| r.target))
    }

    /// A wish, unless its data has expired (an unconfirmed wish after 24 h, an ended one after the
    /// retention time).
    pub async fn get_wish(
        &self,
        id: &WishId,
        now: DateTime<Utc>,
    ) -> Result<Option<Wish>, StoreError> {
        let record: Option<WishRecord> = self.read(Table::Wishes, wish_key(id), "get_wish").await?;
        Ok(record
            .filter(|r| r.is_current(now))
            .map(WishRecord::into_wish))
    }

    /// Reads wishes in one round trip (at most 100), consistent, skipping expired ones.
    pub async fn get_wishes(
        &self,
        ids: &[WishId],
        now: DateTime<Utc>,
    ) -> Result<Vec<Wish>, StoreError> {
        let mut unique: Vec<&WishId> = Vec::new();
        for id in ids {
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        let keys = unique.iter().map(|id| wish_key(id)).collect();
        Self::current_wishes(self.batch_get(keys, true).await?, now)
    }

    /// The wishes among `items` whose data has not expired.
    pub(super) fn current_wishes(
        items: Vec<Item>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Wish>, StoreError> {
        let mut found = Vec::new();
        for item in items {
            let record: WishRecord = serde_dynamo::from_item(item)?;
            if record.is_current(now) {
                found.push(record.into_wish());
            }
        }
        Ok(found)
    }

    /// pending → waiting: the wish gets its place in line (the confirmation time) and is marked
    /// for enqueueing, which [`Store::enqueue`] completes (or the rescan, after a crash).
    /// The wish's data is kept until `keep_until` (the end of its age, with a margin) unless it
    /// is kept again.
    pub async fn confirm_wish(
        &self,
        wish: &Wish,
        now: DateTime<Utc>,
        keep_until: DateTime<Utc>,
        out: &Effects,
    ) -> Result<(), StoreError> {
        let v = Values::at(now)
            .with(":place", s(queue_key(now, &wish.id)))
            .with(":until", n(epoch(keep_until)));
        let update = self.guarded(Write::WishConfirmed, wish_key(&wish.id), &v)?;
        self.commit(vec![update], out, now).await
    }

    /// waiting|offered|pending → cancelled; an open offer is withdrawn and its slot set free again
    /// (which the stream turns into a `SlotReleased`).
    ///
    /// `audit`: the console's entry for a cancel a member of staff made, written in the same
    /// transaction and kept exactly as long as the ended wish.
    pub async fn cancel_wish(
        &self,
        wish: &Wish,
        open_offer: Option<&Offer>,
        now: DateTime<Utc>,
        out: &Effects,
        audit: Option<&crate::domain::staff::AuditEntry>,
    ) -> Result<(), StoreError> {
        let mut items = vec![self.end_wish_update(wish, WishStatus::Cancelled, now)?];
        if let Some(entry) = audit {
            items.push(self.audit_put(entry, now + self.ended_retention(wish))?);
        }
        if let Some(offer) = open_offer {
            items.push(self.close_offer_update(offer, OfferStatus::Withdrawn, now)?);
            items.extend(self.free_slot_update(offer, now)?);
        }
        self.commit(items, out, now).await
    }

    /// fulfilled → waiting, holding its booked appointment (`looking`, the decided state):
    /// onto the enqueue list as a confirmed wish, with its mail.
    pub async fn look_for_earlier(
        &self,
        looking: &Wish,
        now: DateTime<Utc>,
        out: &Effects,
    ) -> Result<(), StoreError> {
        let held = looking.earlier.as_ref().ok_or_else(|| {
            StoreError::Corrupt("a wish looking for earlier holds nothing".into())
        })?;
        let v = Values::at(now).with(":earlier", serde_dynamo::to_attribute_value(held)?);
        let item = self.guarded(Write::WishLooksEarlier, wish_key(&looking.id), &v)?;
        self.commit(vec![item], out, now).await
    }

    /// An appointment the booking system booked directly, handed to the queue's search for an
    /// earlier one: the wish (confirmed, onto the enqueue list), the appointment as an accepted
    /// offer, the slot marked as booked by it (only while it is booked and no offer of ours
    /// holds it), and the mail. `Conflict` when the slot changed meanwhile.
    pub async fn create_booked_directly(
        &self,
        wish: &Wish,
        appointment: &Offer,
        now: DateTime<Utc>,
        out: &Effects,
    ) -> Result<(), StoreError> {
        // Kept like a fulfilled wish: until the retention time after the appointment.
        let kept = appointment.start + self.retention.ended;
        let mut record = item(&WishRecord::from_wish(wish, Some(kept)))?;
        record.insert(keys::GSI_PK.into(), s(ENQUEUE_DUE));
        record.insert(keys::GSI_SK.into(), s(ts(now)));
        let offer = OfferRecord::from_offer(appointment, kept);
        let v = Values::at(now).offer(appointment);
        let items = vec![
            self.put(&self.wishes, record, true)?,
            self.put(&self.wishes, item(&offer)?, true)?,
            self.guarded(Write::SlotBookedDirectly, slot_key(&appointment.slot), &v)?,
        ];
        self.commit(items, out, now).await
    }

    /// A wish looking for an earlier appointment stops (from the state `wish` was read in):
    /// fulfilled again; an open offer is withdrawn and its slot freed.
    ///
    /// With `audit` (a member of staff ended the search) the entry is written in the same
    /// transaction, kept as long as the fulfilled wish it names: until the retention time after
    /// the appointment it holds.
    pub async fn stop_looking(
        &self,
        wish: &Wish,
        open_offer: Option<&Offer>,
        now: DateTime<Utc>,
        out: &Effects,
        audit: Option<&crate::domain::staff::AuditEntry>,
    ) -> Result<(), StoreError> {
        let mut items = self.stop_looking_items(wish, open_offer, now)?;
        if let Some(entry) = audit {
            let held_until = wish.earlier.as_ref().map_or(now, |h| h.before.max(now));
            items.push(self.audit_put(entry, held_until + self.retention.ended)?);
        }
        self.commit(items, out, now).await
    }

    /// The writes of [`Store::stop_looking`].
    pub(super) fn stop_looking_items(
        &self,
        wish: &Wish,
        open_offer: Option<&Offer>,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let v = Values::at(now).wish(wish);
        let mut items = vec![self.guarded(Write::WishStopsLooking, wish_key(&wish.id), &v)?];
        if let Some(offer) = open_offer.filter(|o| o.status == OfferStatus::Open) {
            items.push(self.close_offer_update(offer, OfferStatus::Withdrawn, now)?);
            items.extend(self.free_slot_update(offer, now)?);
        }
        Ok(items)
    }

    pub(super) fn end_wish_update(
        &self,
        wish: &Wish,
        status: WishStatus,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        self.end_wish_update_kept_from(wish, status, now, now)
    }

    /// As [`Store::end_wish_update`], its retention counted from `kept_from` (a fulfilled
    /// wish: from its appointment, whose page, reminder and give-back need its address).
    pub(super) fn end_wish_update_kept_from(
        &self,
        wish: &Wish,
        status: WishStatus,
        now: DateTime<Utc>,
        kept_from: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let keep = self.ended_retention(wish);
        let v = Values::at(now)
            .wish(wish)
            .with(":to", s(status.as_str()))
            .with(":ended", n(epoch(kept_from.max(now) + keep)));
        self.guarded(Write::WishEnded, wish_key(&wish.id), &v)
    }

    /// How long an ended wish's data is kept after it ended. An unconfirmed wish was never in
    /// line: nothing of it is kept longer than it would have been kept anyway.
    fn ended_retention(&self, wish: &Wish) -> Duration {
        if wish.status == WishStatus::Pending {
            self.retention.pending
        } else {
            self.retention.ended
        }
    }

    /// offered → waiting (or paused) after a decline or an expiry: the wish keeps its place and
    /// never gets this slot again; `unanswered` counts expiries in a row.
    pub(super) fn back_to_waiting_update(
        &self,
        offer: &Offer,
        to: WishStatus,
        unanswered: u8,
    ) -> Result<TransactWriteItem, StoreError> {
        let v = Values::new()
            .offer(offer)
            .with(":to", s(to.as_str()))
            .with(":unanswered", n(i64::from(unanswered)));
        self.guarded(Write::WishBackInLine, wish_key(&offer.wish), &v)
    }

    /// paused → waiting: the citizen confirmed again; the place in line was never lost.
    pub async fn resume_wish(
        &self,
        wish: &Wish,
        now: DateTime<Utc>,
        out: &Effects,
    ) -> Result<(), StoreError> {
        let update = self.guarded(Write::WishResumed, wish_key(&wish.id), &Values::at(now))?;
        self.commit(vec![update], out, now).await
    }

    /// Confirmed wishes whose age must be looked at by `now` (reminder or expiry).
    pub async fn wishes_by_age(
        &self,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Wish>, StoreError> {
        let items = self.gsi_due(AGE_DUE, &ts(now), limit).await?;
        // An ended wish leaves the age list with its end: all of these are current.
        Self::current_wishes(items, now)
    }

    /// When the rescan should look at this wish's age next.
    pub async fn schedule_age_check(
        &self,
        wish: &Wish,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let v = Values::at(at).with(":at", s(due_sk(at, &wish.id)));
        // A wish no longer on the age list (ended, or not yet enqueued) needs no schedule.
        self.apply(
            Write::WishAgeScheduled,
            wish_key(&wish.id),
            &v,
            "schedule_age_check",
        )
        .await?;
        Ok(())
    }

    /// A step in the wish's age, with its mail: the "still interested?" reminder was sent
    /// ([`AgeMark::Reminded`]) or the citizen chose to keep the wish ([`AgeMark::Kept`]); the
    /// rescan looks at the wish again at `next`.
    pub async fn mark_age(
        &self,
        wish: &Wish,
        mark: AgeMark,
        next: DateTime<Utc>,
        now: DateTime<Utc>,
        out: &Effects,
    ) -> Result<(), StoreError> {
        let (write, until) = match mark {
            AgeMark::Reminded => (Write::WishReminded, now),
            AgeMark::Kept(until) => (Write::WishKept, until),
        };
        let v = Values::at(now)
            .wish(wish)
            .with(":at", s(due_sk(next, &wish.id)))
            .with(":until", n(epoch(until)));
        let update = self.guarded(write, wish_key(&wish.id), &v)?;
        self.commit(vec![update], out, now).await
    }

    /// waiting → expired at the maximum age.
    pub async fn expire_wish(
        &self,
        wish: &Wish,
        now: DateTime<Utc>,
        out: &Effects,
    ) -> Result<(), StoreError> {
        let items = vec![self.end_wish_update(wish, WishStatus::Expired, now)?];
        self.commit(items, out, now).await
    }
}
