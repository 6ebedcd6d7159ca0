//! Slots as the booking system describes them, and how they become free, offered, booked or withdrawn.

use super::prelude::*;

/// What `upsert_slots` did with one row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpsertOutcome {
    Created,
    Updated,
    Unchanged,
    /// The slot is held by an open offer or booked through one; only the offer's answer changes it.
    Conflict,
}

impl Store {
    /// The office takes a slot back. A free slot is simply removed; an offered one is removed with
    /// its offer withdrawn and the wish back in line (with its place, free to get this slot
    /// again should it come back). A booked slot is refused (`Conflict`): cancel the booking first.
    pub async fn withdraw_slot(
        &self,
        slot: &Slot,
        offer: Option<&Offer>,
        out: &Effects,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut items = Vec::new();
        let (condition, v) = match (slot.status, offer) {
            (SlotStatus::Free, _) => ("#status = :free", Values::default()),
            (SlotStatus::Offered, Some(offer)) => {
                let v = Values::at(now).offer(offer);
                items.push(self.close_offer_update(offer, OfferStatus::Withdrawn, now)?);
                items.push(self.guarded(Write::WishOfferWithdrawn, wish_key(&offer.wish), &v)?);
                // A family's run: its other slots are free again.
                let others = Offer {
                    also: Vec::new(),
                    ..offer.clone()
                };
                for other in offer.run().into_iter().filter(|s| s.id != slot.id) {
                    let one = Offer {
                        slot: other.id,
                        start: other.start,
                        minutes: other.minutes,
                        ..others.clone()
                    };
                    items.extend(self.free_slot_update(&one, now)?);
                }
                ("#status = :offered AND offer = :offer", v)
            }
            _ => return Err(StoreError::Conflict),
        };
        let delete = writes::delete(&self.slots, slot_key(&slot.id), condition, &v)?;
        items.push(TransactWriteItem::builder().delete(delete).build());
        self.commit(items, out, now).await
    }

    pub async fn get_slot(&self, id: &SlotId) -> Result<Option<Slot>, StoreError> {
        let record = self.read::<SlotRecord>(Table::Slots, slot_key(id), "get_slot");
        Ok(record.await?.map(SlotRecord::into_slot))
    }

    pub(super) fn slot_record(u: &SlotUpsert, now: DateTime<Utc>) -> SlotRecord {
        let free = u.status == SlotStatus::Free;
        SlotRecord {
            slot: Slot {
                id: u.id.clone(),
                office: u.office.clone(),
                service: u.service.clone(),
                start: u.start,
                minutes: u.minutes,
                status: u.status,
                offer: None,
                wish: None,
                persons: u.persons,
            },
            gsi1pk: free.then(|| free_pk(&u.office)),
            gsi1sk: free.then(|| free_sk(u.start, &u.id)),
            updated_at: ts(now),
            // Past slots are of no use to anyone a month later.
            expires_at: epoch(u.start + Duration::days(30)),
        }
    }

    /// Adds or updates one slot as the booking system describes it. A new free slot, or a booked
    /// one becoming free, enters the queue through the table's stream.
    pub async fn upsert_slot(
        &self,
        u: &SlotUpsert,
        now: DateTime<Utc>,
    ) -> Result<UpsertOutcome, StoreError> {
        let record = Self::slot_record(u, now);
        // Create if new.
        let new = Values::default();
        let created = self
            .put_if(
                Table::Slots,
                &record,
                "attribute_not_exists(id)",
                &new,
                "upsert_slot",
            )
            .await?;
        if created {
            return Ok(UpsertOutcome::Created);
        }
        let Some(current) = self.get_slot(&u.id).await? else {
            return Err(StoreError::Conflict);
        };
        if current.status == SlotStatus::Offered || current.wish.is_some() {
            return Ok(UpsertOutcome::Conflict);
        }
        if current.office == u.office
            && current.service == u.service
            && current.start == u.start
            && current.minutes == u.minutes
            && current.persons == u.persons
            && current.status == u.status
        {
            return Ok(UpsertOutcome::Unchanged);
        }
        // Replace only if nobody took it in between.
        let seen = Values::default().with(":seen", s(current.status.as_str()));
        let condition = "#status = :seen AND attribute_not_exists(wish)";
        Ok(
            if self
                .put_if(Table::Slots, &record, condition, &seen, "upsert_slot")
                .await?
            {
                UpsertOutcome::Updated
            } else {
                UpsertOutcome::Conflict
            },
        )
    }

    /// booked → free (the appointment was cancelled). Returns the slot after the change, or the
    /// unchanged slot when it was not booked.
    pub async fn release_slot(
        &self,
        id: &SlotId,
        now: DateTime<Utc>,
    ) -> Result<Option<(Slot, bool)>, StoreError> {
        let Some(slot) = self.get_slot(id).await? else {
            return Ok(None);
        };
        if slot.status != SlotStatus::Booked {
            return Ok(Some((slot, false)));
        }
        let v = Values::at(now)
            .with(":fpk", s(free_pk(&slot.office)))
            .with(":fsk", s(free_sk(slot.start, &slot.id)));
        let released = self
            .apply(Write::SlotReleased, slot_key(id), &v, "release_slot")
            .await?;
        match released {
            Some(after) => {
                let record: SlotRecord = serde_dynamo::from_item(after)?;
                Ok(Some((record.into_slot(), true)))
            }
            // Someone else changed it first: answer the slot as it is now.
            None => Ok(self.get_slot(id).await?.map(|s| (s, false))),
        }
    }

    /// Free slots of one office starting at or after `from` — or, for the next page, after the
    /// slot `after` — earliest first, at most `limit`; `true` when there may be more.
    pub async fn free_slots(
        &self,
        office: &OfficeId,
        from: DateTime<Utc>,
        after: Option<&Slot>,
        limit: i32,
    ) -> Result<(Vec<Slot>, bool), StoreError> {
        let (condition, bound) = match after {
            Some(slot) => (
                "gsi1pk = :pk AND gsi1sk > :bound",
                free_sk(slot.start, &slot.id),
            ),
            None => ("gsi1pk = :pk AND gsi1sk >= :bound", ts(from)),
        };
        let range = (free_pk(office), bound);
        let items = self
            .index_range(
                Table::Slots,
                condition,
                (&range.0, &range.1),
                limit,
                "free_slots",
            )
            .await?;
        let more = items.len() >= usize::try_from(limit).unwrap_or(usize::MAX);
        let slots = items
            .into_iter()
            .map(|item| Ok(serde_dynamo::from_item::<_, SlotRecord>(item)?.into_slot()))
            .collect::<Result<Vec<Slot>, StoreError>>()?;
        Ok((slots, more))
    }

    /// The free slots of `slot`'s office that start after it, until `until`, earliest first, at
    /// most `limit` (from the free index: a family's run of back-to-back slots is found among
    /// them). One query, whatever the queue.
    pub async fn free_slots_after(
        &self,
        slot: &Slot,
        until: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Slot>, StoreError> {
        let values = Values::default()
            .with(":pk", s(free_pk(&slot.office)))
            .with(":after", s(free_sk(slot.start, &slot.id)))
            .with(":until", s(ts(until)));
        let lookup = Lookup {
            index: Some(keys::GSI),
            limit: Some(limit),
            ..Lookup::new("gsi1pk = :pk AND gsi1sk BETWEEN :after AND :until", values)
        };
        let out = self.query(Table::Slots, lookup, "free_slots_after").await?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| Ok(serde_dynamo::from_item::<_, SlotRecord>(item)?.into_slot()))
            .filter(|s| s.as_ref().map_or(true, |s: &Slot| s.id != slot.id))
            .collect()
    }

    /// Records that a free slot found no taker, with its event; `false` when the slot changed
    /// meanwhile or was already said to be unclaimed (once per slot until it changes).
    pub async fn mark_unclaimed(
        &self,
        slot: &Slot,
        out: &Effects,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let v = Values::at(now).with(":start", s(ts(slot.start)));
        let update = self.guarded(Write::SlotUnclaimed, slot_key(&slot.id), &v)?;
        match self.commit(vec![update], out, now).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// offered → free: the slot goes back to the queue (at `now`, the use case's clock).
    pub(super) fn free_slot_update(
        &self,
        offer: &Offer,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        self.run_writes(Write::SlotFreed, offer, &Values::at(now).offer(offer))
    }

    /// One `write` for each slot the offer holds (a family's run has several), each bound to its
    /// own start and place in the free index.
    pub(super) fn run_writes(
        &self,
        write: Write,
        offer: &Offer,
        v: &Values,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        offer
            .run()
            .iter()
            .map(|slot| {
                let v = v
                    .clone()
                    .with(":start", s(ts(slot.start)))
                    .with(":fsk", s(free_sk(slot.start, &slot.id)));
                self.guarded(write, slot_key(&slot.id), &v)
            })
            .collect()
    }
}
