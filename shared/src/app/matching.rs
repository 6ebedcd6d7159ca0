//! A free slot offered to the first wish in line that may take it (DESIGN.md, "Matching rule").

use super::{AppError, Deps};
use crate::domain::lifecycle;
use crate::domain::matching::pick;
use crate::domain::{
    Catalog, OfferId, Slot, SlotStatus, Token, Window, Wish, WishId, local_window, offer_deadline,
};
use crate::mails::Recipient;
use crate::store::StoreError;
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
        if slot.status != SlotStatus::Free {
            return Ok(None);
        }
        let Some(deadline) = offer_deadline(now, slot.start, deps.config.timing) else {
            return Ok(None);
        };
        let window = local_window(slot.start);
        let result = if attempt == 0 {
            let (head, _) = deps
                .store
                .head_of_line(&slot.office, &slot.service, window, None, 1)
                .await?;
            let Some(entry) = head.into_iter().next() else {
                return Ok(None);
            };
            if let Some(email) = entry.email {
                let to = Recipient {
                    id: &entry.wish,
                    email: &email,
                    language: entry.language,
                    active: true,
                };
                offer_to(deps, &catalog, &slot, to, deadline, now).await
            } else {
                offer_first_fitting(deps, &catalog, &slot, window, deadline, now).await
            }
        } else {
            offer_first_fitting(deps, &catalog, &slot, window, deadline, now).await
        };
        match result {
            Ok(offer) => return Ok(offer),
            // Someone else changed the slot or the wish: read again.
            Err(AppError::Conflict(_)) => {
                slot = match deps.store.get_slot(&slot.id).await? {
                    Some(s) => s,
                    None => return Ok(None),
                };
            }
            Err(e) => return Err(e),
        }
    }
    Err(AppError::Conflict("slot while matching"))
}

/// The offer to the first wish in line that may take the slot, if any.
async fn offer_first_fitting(
    deps: &Deps,
    catalog: &Catalog,
    slot: &Slot,
    window: Window,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<crate::domain::Offer>, AppError> {
    match first_fitting(deps, slot, window, now).await? {
        Some(wish) => offer_to(deps, catalog, slot, (&wish).into(), deadline, now).await,
        None => Ok(None),
    }
}

/// The first wish in line that may take the slot, reading the line a page at a time with the
/// wishes' current states.
async fn first_fitting(
    deps: &Deps,
    slot: &Slot,
    window: Window,
    now: DateTime<Utc>,
) -> Result<Option<Wish>, AppError> {
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
            return Ok(Some(w.clone()));
        }
        match next {
            Some(n) => after = Some(n),
            None => return Ok(None),
        }
    }
}

/// The offer transaction for one wish; `Conflict` when the slot or the wish changed meanwhile.
async fn offer_to(
    deps: &Deps,
    catalog: &Catalog,
    slot: &Slot,
    to: Recipient<'_>,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<crate::domain::Offer>, AppError> {
    let Ok(change) = lifecycle::offer(OfferId::generate(), slot, to.id, deadline, now) else {
        return Ok(None);
    };
    let offer = change.state;
    let token = Token::generate();
    let mail = deps.mails(catalog, now).offer(&offer, to, &token)?;
    match deps
        .store
        .create_offer(&offer, &token.hash(), &mail, now)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Err(AppError::Conflict("offer")),
        Err(e) => return Err(e.into()),
    }
    deps.deliver_and_notify(&mail, &change.events).await;
    tracing::info!(offer_id = %offer.id, wish_id = %to.id, "offer sent");
    Ok(Some(offer))
}
