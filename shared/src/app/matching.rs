//! A free slot offered to the first wish in line that may take it (DESIGN.md, "Matching rule").

use super::{AppError, Deps};
use crate::domain::lifecycle;
use crate::domain::matching::pick;
use crate::domain::{
    Effects, Email, OfferId, Slot, SlotStatus, Token, Wish, WishId, local_window, offer_deadline,
};
use crate::mails::Recipient;
use crate::store::{QueueEntry, StoreError};
use chrono::{DateTime, Utc};

/// How many queue entries one read takes from the head of a line.
const PAGE: i32 = 25;

/// Offers a free slot to the first wish in line.
///
/// The usual offer costs one query (the head of the line; its entries say whom to write to) and
/// one transaction whose conditions check that the slot is still free and the wish still waiting
/// and has not declined this slot — independent of the length of the line. Only when that
/// first try conflicts (the head holds another offer, declined this slot, or someone else took
/// the slot) is the slot read again and the line read page by page with the wishes' states.
#[tracing::instrument(skip_all, fields(slot_id = %slot.id))]
pub async fn match_slot(
    deps: &Deps,
    slot: &Slot,
) -> Result<Option<crate::domain::Offer>, AppError> {
    let catalog = deps.catalog().await?;
    let mut slot = slot.clone();
    for attempt in 0..8 {
        let now = deps.clock.now();
        // Read: who is first in line (from the head's entry on the first try, from the wishes'
        // states after a conflict).
        let Some(first) = first_in_line(deps, &slot, attempt == 0, now).await? else {
            return unclaimed(deps, &slot, now).await;
        };
        let to = first.recipient();
        // Decide: the offer and its mail.
        let Some(deadline) = offer_deadline(now, slot.start, deps.config.timing) else {
            return unclaimed(deps, &slot, now).await;
        };
        let Ok(change) = lifecycle::offer(OfferId::generate(), &slot, to.id, deadline, now) else {
            return Ok(None);
        };
        let offer = change.state;
        let token = Token::generate();
        let mail = deps.mails(&catalog, now).offer(&offer, to, &token)?;
        let out = Effects::mail(mail, change.events);
        // Commit, conditioned on the slot being free and the wish waiting as read.
        match deps
            .store
            .create_offer(&offer, &token.hash(), &out, now)
            .await
        {
            Ok(()) => {
                tracing::info!(offer_id = %offer.id, wish_id = %offer.wish, "offer sent");
                return Ok(Some(offer));
            }
            // Someone else changed the slot or the wish: read again.
            Err(StoreError::Conflict) => {
                slot = match deps.store.get_slot(&slot.id).await? {
                    Some(s) => s,
                    None => return Ok(None),
                };
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Conflict("slot while matching"))
}

/// No wish can take the free slot: the booking system hears of it once (`SlotUnclaimed`), until
/// the slot changes. Never an offer.
async fn unclaimed(
    deps: &Deps,
    slot: &Slot,
    now: DateTime<Utc>,
) -> Result<Option<crate::domain::Offer>, AppError> {
    let Ok(event) = lifecycle::unclaimed(slot) else {
        return Ok(None);
    };
    let key = format!("slot-{}-unclaimed-{}", slot.id, now.timestamp_millis());
    let out = Effects::events(key, vec![event]);
    if deps.store.mark_unclaimed(slot, &out, now).await? {
        tracing::info!(slot_id = %slot.id, "slot unclaimed");
    }
    Ok(None)
}

/// Whom a slot is offered to: the entry at the head of its line (which says whom to write to),
/// or a wish read with its current state.
enum First {
    Entry(QueueEntry, Email),
    Wish(Wish),
}

impl First {
    fn recipient(&self) -> Recipient<'_> {
        match self {
            First::Entry(entry, email) => Recipient {
                id: &entry.wish,
                email,
                language: entry.language,
                active: true,
            },
            First::Wish(wish) => wish.into(),
        }
    }
}

/// The first wish in the slot's line that may take it, if the slot is free. `fast`: trust the
/// head entry (one query; the offer's conditions catch a head that cannot take it).
async fn first_in_line(
    deps: &Deps,
    slot: &Slot,
    fast: bool,
    now: DateTime<Utc>,
) -> Result<Option<First>, AppError> {
    if slot.status != SlotStatus::Free {
        return Ok(None);
    }
    let window = local_window(slot.start);
    if fast {
        let (head, _) = deps
            .store
            .head_of_line(&slot.office, &slot.service, window, None, 1)
            .await?;
        let Some(entry) = head.into_iter().next() else {
            return Ok(None);
        };
        if let Some(email) = entry.email.clone() {
            return Ok(Some(First::Entry(entry, email)));
        }
    }
    let mut after: Option<String> = None;
    loop {
        let (entries, next) = deps
            .store
            .head_of_line(&slot.office, &slot.service, window, after.as_deref(), PAGE)
            .await?;
        let ids: Vec<WishId> = entries.into_iter().map(|e| e.wish).collect();
        let wishes = deps.store.get_wishes(&ids, now).await?;
        // Back into queue order: the batch read returns items in any order.
        let ordered: Vec<&Wish> = ids
            .iter()
            .filter_map(|id| wishes.iter().find(|w| &w.id == id))
            .collect();
        if let Some(w) = pick(slot, ordered) {
            return Ok(Some(First::Wish(w.clone())));
        }
        match next {
            Some(n) => after = Some(n),
            None => return Ok(None),
        }
    }
}
