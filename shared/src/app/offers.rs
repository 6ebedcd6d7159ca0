//! A citizen's answer to an offer: accept, decline, or cancel the whole wish.

use super::wishes::cancel_wish;
use super::{AppError, Deps};
use crate::domain::staff::AuditEntry;
use crate::domain::{Effects, LinkKind, Offer, OfferId, OfferStatus, Release, Token, Wish};
use crate::store::StoreError;

/// The offer behind a link, with its wish.
pub async fn offer_by_token(
    deps: &Deps,
    token: &str,
) -> Result<(Offer, Option<Wish>, Token), AppError> {
    let (id, token) = deps.resolve_link(token, LinkKind::Offer).await?;
    let id = OfferId::parse(&id).map_err(|_| AppError::NotFound)?;
    let offer = deps.store.get_offer(&id).await?.ok_or(AppError::NotFound)?;
    let wish = deps.store.get_wish(&offer.wish, deps.clock.now()).await?;
    Ok((offer, wish, token))
}

/// The language of the offer's wish, for its page (`None` once the wish's data is gone).
pub async fn wish_language(deps: &Deps, offer: &Offer) -> Option<crate::domain::Language> {
    let wish = deps.store.get_wish(&offer.wish, deps.clock.now()).await;
    wish.ok().flatten().map(|w| w.language)
}

/// The offer as it is now (after a change, or after losing a race to one).
pub(super) async fn reread(deps: &Deps, offer: &Offer) -> Result<Offer, AppError> {
    deps.store
        .get_offer(&offer.id)
        .await?
        .ok_or(AppError::NotFound)
}

/// `POST /o/{token}/accept`: the slot is booked for the wish, which is fulfilled and leaves its
/// lines; a wish that held an appointment and looked for an earlier one gives that one back in
/// the same transaction (its slot goes to the queue). Repeats, and answers after the deadline,
/// show the offer as it is.
pub async fn accept_offer(deps: &Deps, token: &str) -> Result<Offer, AppError> {
    let (offer, wish, _) = offer_by_token(deps, token).await?;
    let Some(wish) = wish else { return Ok(offer) };
    accept(deps, offer, &wish, None).await
}

/// The accept of [`accept_offer`], whoever answered: the citizen by the link, or a clerk who
/// records the answer given on the phone (`audit`: their entry, in the same transaction).
pub(super) async fn accept(
    deps: &Deps,
    offer: Offer,
    wish: &Wish,
    audit: Option<AuditEntry>,
) -> Result<Offer, AppError> {
    let now = deps.clock.now();
    // A wish that holds a booked appointment and looked for an earlier one swaps them.
    let held = match wish.holding() {
        Some(id) => deps.store.get_offer(id).await?,
        None => None,
    };
    let catalog = deps.catalog().await?;
    let mails = deps.mails(&catalog, now);
    let replacing = held.as_ref().filter(|o| o.status == OfferStatus::Accepted);
    let out = if let Some(old) = replacing {
        let Ok(swap) = offer.accept_instead_of(old, &wish.id, now) else {
            return Ok(offer);
        };
        let mail = mails.swapped(&offer, &swap.replaced, wish)?;
        Effects::mail(mail, swap.events)
    } else {
        let Ok(change) = offer.accept(now) else {
            return Ok(offer);
        };
        Effects::mail(mails.accepted(&offer, wish)?, change.events)
    };
    // Kept as long as the fulfilled wish: until the retention time after the appointment.
    let kept = offer.start.max(now) + deps.store.retention.ended;
    let out = out.audited(audit.map(|entry| (entry, kept)));
    let remind_at = offer.reminder_at(deps.config.appointment_reminder, now);
    match deps
        .store
        .accept_offer(&offer, wish, (now, remind_at), replacing, &out)
        .await
    {
        Ok(()) => {
            deps.store.dequeue(wish, &wish.lines(&catalog)).await?;
            tracing::info!(offer_id = %offer.id, "offer accepted");
        }
        Err(StoreError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    reread(deps, &offer).await
}

/// `POST /o/{token}/decline`: the wish waits on with its place; the slot goes to the next wish.
pub async fn decline_offer(deps: &Deps, token: &str) -> Result<Offer, AppError> {
    let (offer, wish, _) = offer_by_token(deps, token).await?;
    let Some(wish) = wish else { return Ok(offer) };
    release_offer(deps, offer, &wish, Release::Declined).await
}

/// An open offer declined or run out: the wish waits again (or pauses) and the slot is free.
/// A late decline is still a decline; only expiry requires the deadline to have passed.
pub(super) async fn release_offer(
    deps: &Deps,
    offer: Offer,
    wish: &Wish,
    how: Release,
) -> Result<Offer, AppError> {
    release_offer_audited(deps, offer, wish, how, None).await
}

/// [`release_offer`], with the audit entry of a clerk who recorded the answer (kept as long as
/// the wish, which waits on).
pub(super) async fn release_offer_audited(
    deps: &Deps,
    offer: Offer,
    wish: &Wish,
    how: Release,
    audit: Option<AuditEntry>,
) -> Result<Offer, AppError> {
    let now = deps.clock.now();
    let Ok(released) = offer.release(wish, how, now) else {
        return Ok(offer);
    };
    let catalog = deps.catalog().await?;
    let mail = deps
        .mails(&catalog, now)
        .released(&offer, wish, &released)?;
    let to: OfferStatus = how.status();
    let base = wish.kept_at.or(wish.confirmed_at).unwrap_or(now);
    let kept = super::wishes::keep_until(deps, base);
    let out = Effects::mail(mail, released.events.clone()).audited(audit.map(|e| (e, kept)));
    match deps
        .store
        .release_offer(
            &offer,
            to,
            (released.wish_status, released.unanswered),
            now,
            &out,
        )
        .await
    {
        Ok(()) => {
            tracing::info!(offer_id = %offer.id, status = to.as_str(), "offer released");
        }
        Err(StoreError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    reread(deps, &offer).await
}

/// `POST /o/{token}/cancel`: cancels the whole wish.
pub async fn cancel_from_offer(deps: &Deps, token: &str) -> Result<Offer, AppError> {
    let (offer, wish, _) = offer_by_token(deps, token).await?;
    if let Some(wish) = wish {
        cancel_wish(deps, wish).await?;
    }
    reread(deps, &offer).await
}
