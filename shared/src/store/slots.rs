//! Slots as the booking system describes them, and how they become free, offered, booked or withdrawn.

use super::{
    DateTime, Delete, Duration, GSI, Offer, OfferStatus, OfficeId, Op, OutgoingMail, ReturnValue,
    Slot, SlotId, SlotRecord, SlotStatus, SlotUpsert, Store, StoreError, TransactWriteItem, Utc,
    WishStatus, conditional_update, epoch, free_pk, free_sk, item, s, slot_key, ts, vals, wish_key,
};

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
        offer: Option<(&Offer, &OutgoingMail)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut delete = Delete::builder()
            .table_name(&self.slots)
            .set_key(Some(slot_key(&slot.id)));
        let mut items = Vec::new();
        match (slot.status, offer) {
            (SlotStatus::Free, _) => {
                delete = delete
                    .condition_expression("#status = :free")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":free", s(SlotStatus::Free.as_str()));
            }
            (SlotStatus::Offered, Some((offer, mail))) => {
                delete = delete
                    .condition_expression("#status = :offered AND offer = :offer")
                    .expression_attribute_names("#status", "status")
                    .set_expression_attribute_values(Some(vals([
                        (":offered", s(SlotStatus::Offered.as_str())),
                        (":offer", s(offer.id.as_ref())),
                    ])));
                items.push(self.close_offer_update(offer, OfferStatus::Withdrawn, now)?);
                let wish = conditional_update(
                    &self.wishes,
                    wish_key(&offer.wish),
                    "SET #status = :waiting REMOVE open_offer",
                    "#status = :offered AND open_offer = :offer",
                    vals([
                        (":waiting", s(WishStatus::Waiting.as_str())),
                        (":offered", s(WishStatus::Offered.as_str())),
                        (":offer", s(offer.id.as_ref())),
                    ]),
                )?;
                items.push(wish);
                items.extend(self.outbox_put(mail, now)?);
            }
            _ => return Err(StoreError::Conflict),
        }
        items.push(TransactWriteItem::builder().delete(delete.build()?).build());
        self.transact(items, None).await
    }

    pub async fn get_slot(&self, id: &SlotId) -> Result<Option<Slot>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.slots)
            .set_key(Some(slot_key(id)))
            .consistent_read(true)
            .send()
            .await
            .op("get_slot")?;
        out.item
            .map(|item| serde_dynamo::from_item::<_, SlotRecord>(item)?.into_slot())
            .transpose()
    }

    pub(super) fn slot_record(u: &SlotUpsert, now: DateTime<Utc>) -> SlotRecord {
        let free = u.status == SlotStatus::Free;
        SlotRecord {
            id: u.id.to_string(),
            office: u.office.to_string(),
            service: u.service.to_string(),
            start: ts(u.start),
            minutes: u.minutes,
            status: u.status,
            offer: None,
            wish: None,
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
        let created = self
            .client
            .put_item()
            .table_name(&self.slots)
            .set_item(Some(item(&record)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        if created.unless_condition_failed("upsert_slot")?.is_some() {
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
            && current.status == u.status
        {
            return Ok(UpsertOutcome::Unchanged);
        }
        // Replace only if nobody took it in between.
        let replaced = self
            .client
            .put_item()
            .table_name(&self.slots)
            .set_item(Some(item(&record)?))
            .condition_expression("#status = :seen AND attribute_not_exists(wish)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":seen", s(current.status.as_str()))
            .send()
            .await;
        Ok(match replaced.unless_condition_failed("upsert_slot")? {
            Some(_) => UpsertOutcome::Updated,
            None => UpsertOutcome::Conflict,
        })
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
        let result = self
            .client
            .update_item()
            .table_name(&self.slots)
            .set_key(Some(slot_key(id)))
            .update_expression("SET #status = :free, gsi1pk = :fpk, gsi1sk = :fsk, updated_at = :now REMOVE wish, offer")
            .condition_expression("#status = :booked")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(vals([
                (":free", s(SlotStatus::Free.as_str())),
                (":booked", s(SlotStatus::Booked.as_str())),
                (":fpk", s(free_pk(&slot.office))),
                (":fsk", s(free_sk(slot.start, &slot.id))),
                (":now", s(ts(now))),
            ])))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result.unless_condition_failed("release_slot")? {
            Some(out) => {
                let record: SlotRecord =
                    serde_dynamo::from_item(out.attributes.unwrap_or_default())?;
                Ok(Some((record.into_slot()?, true)))
            }
            // Someone else changed it first: answer the slot as it is now.
            None => Ok(self.get_slot(id).await?.map(|s| (s, false))),
        }
    }

    /// Free slots of one office starting at or after `from`, earliest first.
    pub async fn free_slots(
        &self,
        office: &OfficeId,
        from: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Slot>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.slots)
            .index_name(GSI)
            .key_condition_expression("gsi1pk = :pk AND gsi1sk >= :from")
            .set_expression_attribute_values(Some(vals([
                (":pk", s(free_pk(office))),
                (":from", s(ts(from))),
            ])))
            .limit(limit)
            .send()
            .await
            .op("free_slots")?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| serde_dynamo::from_item::<_, SlotRecord>(item)?.into_slot())
            .filter(|s| s.as_ref().map_or(true, |s| s.status == SlotStatus::Free))
            .collect()
    }

    /// offered → free: the slot goes back to the queue (at `now`, the use case's clock).
    pub(super) fn free_slot_update(
        &self,
        offer: &Offer,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        conditional_update(
            &self.slots,
            slot_key(&offer.slot),
            "SET #status = :free, gsi1pk = :fpk, gsi1sk = :fsk, updated_at = :now REMOVE offer, wish",
            "#status = :offered AND offer = :offer",
            vals([
                (":free", s(SlotStatus::Free.as_str())),
                (":offered", s(SlotStatus::Offered.as_str())),
                (":offer", s(offer.id.as_ref())),
                (":fpk", s(free_pk(&offer.office))),
                (":fsk", s(free_sk(offer.start, &offer.slot))),
                (":now", s(ts(now))),
            ]),
        )
    }
}
