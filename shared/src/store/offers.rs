//! Offers: the offer transaction, its answers and the overdue list.

use super::prelude::*;

/// What became of an offer transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferCommit {
    Made,
    /// The slot is no longer free as read (or something else failed): read it again.
    SlotChanged,
    /// Only the wish's condition failed: the slot is still free for the next in line.
    WishTaken,
    /// Only a later slot of a family's run was no longer free as read: the first slot is still
    /// free, but the runs from it must be read again.
    RunChanged,
    /// Another offer appended to the line's allocation chain first: read its head again (and
    /// the wishes, when the wish's condition failed too).
    ChainMoved {
        wish_taken: bool,
    },
}

/// The positions of the offer transaction's conditional items (see [`Store::create_offer`]).
const SLOT_ITEM: usize = 0;
const WISH_ITEM: usize = 1;
const CHAIN_ITEM: usize = 4;

impl Store {
    /// The offer transaction: slot free → offered, wish waiting → offered, offer and its link
    /// created, offer mail into the outbox. When a condition does not hold it says whose: the
    /// slot's (taken or changed meanwhile) or the wish's (it holds another offer, declined this
    /// slot, or left the line), so matching knows what to read again.
    ///
    /// The offer's allocation record is appended to its line's chain in the same transaction:
    /// an offer exists exactly when its record does, and the chain's head condition makes the
    /// appends of one line serial.
    pub async fn create_offer(
        &self,
        offer: &Offer,
        token: &TokenHash,
        out: &Effects,
        record: &crate::domain::allocation::AllocationRecord,
        now: DateTime<Utc>,
    ) -> Result<OfferCommit, StoreError> {
        let v = Values::at(now).offer(offer);
        let mut slots = self.run_writes(Write::SlotOffered, offer, &v)?;
        let slot = slots.remove(0);
        let wish = self.wish_offered(offer, &v)?;
        let token_record = TokenRecord {
            pk: token_pk(token.as_ref()),
            sk: TOKEN_SK.into(),
            kind: keys::LINK_OFFER.into(),
            target: offer.id.to_string(),
            expires_at: epoch(offer.deadline + self.retention.ended),
        };
        let items = vec![
            slot,
            wish,
            self.put(
                &self.wishes,
                item(&OfferRecord::from_offer(
                    offer,
                    offer.deadline + self.retention.ended,
                ))?,
                true,
            )?,
            self.put(&self.wishes, item(&token_record)?, true)?,
        ];
        let mut items = items;
        items.extend(self.allocation_parts(record)?);
        items.extend(self.outbox_put(out, now)?);
        // A family's run: its other slots last, after the outbox.
        let first_of_run = items.len();
        items.extend(slots);
        Ok(match self.transact_or_failed(items, None).await? {
            Ok(()) => OfferCommit::Made,
            Err(failed) if failed.contains(&SLOT_ITEM) => OfferCommit::SlotChanged,
            Err(failed) if failed.contains(&CHAIN_ITEM) => OfferCommit::ChainMoved {
                wish_taken: failed.contains(&WISH_ITEM),
            },
            Err(failed) if failed == [WISH_ITEM] => OfferCommit::WishTaken,
            Err(failed) if failed.iter().all(|i| *i >= first_of_run) => OfferCommit::RunChanged,
            Err(_) => OfferCommit::SlotChanged,
        })
    }

    /// The wish's part of the offer transaction ([`Write::WishOffered`]): for a family's run,
    /// also unless it declined any later slot of the run before.
    fn wish_offered(&self, offer: &Offer, v: &Values) -> Result<TransactWriteItem, StoreError> {
        if offer.also.is_empty() {
            return self.guarded(Write::WishOffered, wish_key(&offer.wish), v);
        }
        let (update, condition) = Write::WishOffered.spec();
        let mut condition = condition.unwrap_or_default().to_owned();
        let mut v = v.clone();
        for (i, slot) in offer.also.iter().enumerate() {
            let placeholder = format!(":also{i}");
            condition.push_str(" AND NOT contains(declined, ");
            condition.push_str(&placeholder);
            condition.push(')');
            v = v.with(&placeholder, s(slot.id.as_ref()));
        }
        let update = writes::expression_update(
            &self.wishes,
            wish_key(&offer.wish),
            update,
            Some(&condition),
            &v,
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub async fn get_offer(&self, id: &OfferId) -> Result<Option<Offer>, StoreError> {
        let record = self.read::<OfferRecord>(Table::Wishes, offer_key(id), "get_offer");
        Ok(record.await?.map(OfferRecord::into_offer))
    }

    /// open → accepted: the slot is booked for the wish, the wish fulfilled (and kept until
    /// the retention time after the appointment). With `replacing` (the wish held that booked
    /// appointment and looked for an earlier one) the old appointment is replaced in the same
    /// transaction: its slot is free again, and its stream record sends it to the queue.
    pub async fn accept_offer(
        &self,
        offer: &Offer,
        wish: &Wish,
        (now, remind_at): (DateTime<Utc>, Option<DateTime<Utc>>),
        replacing: Option<&Offer>,
        out: &Effects,
    ) -> Result<(), StoreError> {
        // The offer (the appointment's page) is kept as long as the wish: until the retention
        // time after the appointment.
        let v = Values::at(now).offer(offer).with(
            ":kept",
            n(epoch(offer.start.max(now) + self.retention.ended)),
        );
        let close = match remind_at {
            Some(at) => {
                let v = v
                    .clone()
                    .with(":rpk", s(keys::REMIND_DUE))
                    .with(":rsk", s(due_sk(at, &offer.id)));
                self.guarded(Write::OfferAcceptedToRemind, offer_key(&offer.id), &v)?
            }
            None => self.guarded(Write::OfferAccepted, offer_key(&offer.id), &v)?,
        };
        let mut items = vec![
            close,
            self.end_wish_update_kept_from(wish, WishStatus::Fulfilled, now, offer.start)?,
        ];
        items.extend(self.run_writes(Write::SlotBooked, offer, &v)?);
        if let Some(old) = replacing {
            let v = Values::at(now).offer(old);
            items.push(self.guarded(Write::OfferReplaced, offer_key(&old.id), &v)?);
            items.extend(self.run_writes(Write::SlotReturned, old, &v)?);
        }
        items.extend(self.outbox_put(out, now)?);
        self.transact(items, None).await?;
        self.bump_offer_counter("accepted").await;
        self.count_outcome(offer, OfferStatus::Accepted, now).await;
        Ok(())
    }

    /// accepted → returned: the slot the offer booked is free again (its stream record sends it
    /// to the queue as a released slot), the confirmation mail and `AppointmentReturned` into
    /// the outbox. `Conflict` when the offer or its slot changed meanwhile.
    ///
    /// With `stop` (the wish, as read, looked for an earlier appointment than this one, and
    /// its open offer) the search ends in the same transaction.
    pub async fn return_appointment(
        &self,
        offer: &Offer,
        stop: Option<(&Wish, Option<&Offer>)>,
        now: DateTime<Utc>,
        out: &Effects,
    ) -> Result<(), StoreError> {
        let v = Values::at(now).offer(offer);
        let mut items = vec![self.guarded(Write::OfferReturned, offer_key(&offer.id), &v)?];
        items.extend(self.run_writes(Write::SlotReturned, offer, &v)?);
        if let Some((wish, open)) = stop {
            items.extend(self.stop_looking_items(wish, open, now)?);
        }
        self.commit(items, out, now).await
    }

    /// open → declined or expired: the wish waits again with its place, the slot is free again.
    pub async fn release_offer(
        &self,
        offer: &Offer,
        to: OfferStatus,
        wish_after: (WishStatus, u8),
        now: DateTime<Utc>,
        out: &Effects,
    ) -> Result<(), StoreError> {
        let mut items = vec![
            self.close_offer_update(offer, to, now)?,
            self.back_to_waiting_update(offer, wish_after.0, wish_after.1)?,
        ];
        items.extend(self.free_slot_update(offer, now)?);
        items.extend(self.outbox_put(out, now)?);
        self.transact(items, None).await?;
        self.bump_offer_counter(to.as_str()).await;
        self.count_outcome(offer, to, now).await;
        Ok(())
    }

    /// open → expired for an offer whose wish is gone (its data expired): the slot is free
    /// again, and the booking system hears of it; there is nobody to write to.
    pub async fn expire_orphan_offer(
        &self,
        offer: &Offer,
        out: &Effects,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut items = vec![self.close_offer_update(offer, OfferStatus::Expired, now)?];
        items.extend(self.free_slot_update(offer, now)?);
        self.commit(items, out, now).await?;
        self.bump_offer_counter(OfferStatus::Expired.as_str()).await;
        self.count_outcome(offer, OfferStatus::Expired, now).await;
        Ok(())
    }

    /// Open offers whose deadline has passed, oldest first.
    pub async fn overdue_offers(
        &self,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Offer>, StoreError> {
        self.offers_due(OPEN_OFFERS, now, limit).await
    }

    /// Booked appointments whose reminder is due by `now`, at most `limit`.
    pub async fn appointments_to_remind(
        &self,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Offer>, StoreError> {
        self.offers_due(keys::REMIND_DUE, now, limit).await
    }

    /// The offers on the due list `list` (an index partition) whose time is `now` or earlier.
    async fn offers_due(
        &self,
        list: &str,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Offer>, StoreError> {
        self.gsi_due(list, &ts(now), limit)
            .await?
            .into_iter()
            .map(|item| Ok(serde_dynamo::from_item::<_, OfferRecord>(item)?.into_offer()))
            .collect()
    }

    /// The appointment's reminder committed with its mail (`out`), once: `Conflict` when it
    /// went out already or the appointment was given back meanwhile.
    pub async fn remind_appointment(
        &self,
        offer: &Offer,
        now: DateTime<Utc>,
        out: &Effects,
    ) -> Result<(), StoreError> {
        let v = Values::at(now).offer(offer);
        let item = self.guarded(Write::AppointmentReminded, offer_key(&offer.id), &v)?;
        self.commit(vec![item], out, now).await
    }

    pub(super) fn close_offer_update(
        &self,
        offer: &Offer,
        to: OfferStatus,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let v = Values::at(now).offer(offer).with(":to", s(to.as_str()));
        self.guarded(Write::OfferClosed, offer_key(&offer.id), &v)
    }
}
