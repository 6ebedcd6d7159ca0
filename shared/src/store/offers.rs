//! Offers: the offer transaction, its answers and the overdue list.

use super::{
    DateTime, OPEN_OFFERS, Offer, OfferId, OfferRecord, OfferStatus, Op, OutgoingMail, SlotStatus,
    Store, StoreError, TOKEN_SK, TokenHash, TokenRecord, TransactWriteItem, Utc, Wish, WishStatus,
    conditional_update, epoch, item, keys, offer_key, s, slot_key, token_pk, ts, vals, wish_key,
};

impl Store {
    /// The offer transaction: slot free → offered, wish waiting → offered, offer and its link
    /// created, offer mail into the outbox. `Conflict` when the slot or wish changed meanwhile.
    pub async fn create_offer(
        &self,
        offer: &Offer,
        token: &TokenHash,
        mail: &OutgoingMail,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let slot = conditional_update(
            &self.slots,
            slot_key(&offer.slot),
            "SET #status = :offered, offer = :offer, updated_at = :now REMOVE gsi1pk, gsi1sk",
            "#status = :free AND office = :office AND service = :service AND #start = :start",
            vals([
                (":offered", s(SlotStatus::Offered.as_str())),
                (":free", s(SlotStatus::Free.as_str())),
                (":offer", s(offer.id.as_ref())),
                (":office", s(offer.office.as_ref())),
                (":service", s(offer.service.as_ref())),
                (":start", s(ts(offer.start))),
                (":now", s(ts(now))),
            ]),
        )?;
        let wish = conditional_update(
            &self.wishes,
            wish_key(&offer.wish),
            "SET #status = :offered, open_offer = :offer",
            "#status = :waiting AND attribute_not_exists(open_offer) AND NOT contains(declined, :slot)",
            vals([
                (":offered", s(WishStatus::Offered.as_str())),
                (":waiting", s(WishStatus::Waiting.as_str())),
                (":offer", s(offer.id.as_ref())),
                (":slot", s(offer.slot.as_ref())),
            ]),
        )?;
        let token_record = TokenRecord {
            pk: token_pk(token.as_ref()),
            sk: TOKEN_SK.into(),
            kind: keys::LINK_OFFER.into(),
            target: offer.id.to_string(),
            expires_at: epoch(offer.deadline + self.retention.ended),
        };
        let mut items = vec![
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
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    pub async fn get_offer(&self, id: &OfferId) -> Result<Option<Offer>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.wishes)
            .set_key(Some(offer_key(id)))
            .consistent_read(true)
            .send()
            .await
            .op("get_offer")?;
        out.item
            .map(|item| serde_dynamo::from_item::<_, OfferRecord>(item)?.into_offer())
            .transpose()
    }

    /// open → accepted: the slot is booked for the wish, the wish fulfilled.
    pub async fn accept_offer(
        &self,
        offer: &Offer,
        wish: &Wish,
        now: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let close = conditional_update(
            &self.wishes,
            offer_key(&offer.id),
            "SET #status = :to, closed_at = :now REMOVE gsi1pk, gsi1sk",
            "#status = :open AND deadline > :now",
            vals([
                (":to", s(OfferStatus::Accepted.as_str())),
                (":open", s(OfferStatus::Open.as_str())),
                (":now", s(ts(now))),
            ]),
        )?;
        let book = conditional_update(
            &self.slots,
            slot_key(&offer.slot),
            "SET #status = :booked, wish = :wish, updated_at = :now",
            "#status = :offered AND offer = :offer",
            vals([
                (":booked", s(SlotStatus::Booked.as_str())),
                (":offered", s(SlotStatus::Offered.as_str())),
                (":offer", s(offer.id.as_ref())),
                (":wish", s(offer.wish.as_ref())),
                (":now", s(ts(now))),
            ]),
        )?;
        let mut items = vec![
            close,
            book,
            self.end_wish_update(wish, WishStatus::Fulfilled, now)?,
        ];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await?;
        self.bump_offer_counter("accepted").await;
        Ok(())
    }

    /// open → declined or expired: the wish waits again with its place, the slot is free again.
    pub async fn release_offer(
        &self,
        offer: &Offer,
        to: OfferStatus,
        wish_after: (WishStatus, u8),
        now: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let mut items = vec![
            self.close_offer_update(offer, to, now)?,
            self.back_to_waiting_update(offer, wish_after.0, wish_after.1)?,
            self.free_slot_update(offer, now)?,
        ];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await?;
        self.bump_offer_counter(to.as_str()).await;
        Ok(())
    }

    /// Open offers whose deadline has passed, oldest first.
    pub async fn overdue_offers(
        &self,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Offer>, StoreError> {
        self.gsi_due(OPEN_OFFERS, &ts(now), limit)
            .await?
            .into_iter()
            .map(|item| serde_dynamo::from_item::<_, OfferRecord>(item)?.into_offer())
            .collect()
    }

    pub(super) fn close_offer_update(
        &self,
        offer: &Offer,
        to: OfferStatus,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        conditional_update(
            &self.wishes,
            offer_key(&offer.id),
            "SET #status = :to, closed_at = :now REMOVE gsi1pk, gsi1sk",
            "#status = :open",
            vals([
                (":to", s(to.as_str())),
                (":open", s(OfferStatus::Open.as_str())),
                (":now", s(ts(now))),
            ]),
        )
    }
}
