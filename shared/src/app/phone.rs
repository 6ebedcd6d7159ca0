//! Wishes for people without email, as the console handles them: a clerk enters one (confirmed
//! at once), its offers are on the call list, and the clerk records the answer through the
//! citizen's own use cases ([`super::offers`]) — the same transactions, events and outbox.
//! Every look at and change of these wishes is in the audit log.

use super::{AppError, Deps};
use crate::domain::phone::{CallAnswer, PhoneWishDraft, taken_by_phone};
use crate::domain::staff::{AuditAction, AuditEntry};
use crate::domain::{Effects, Offer, OfferId, OfferStatus, PhoneNumber, Release, Wish, WishId};
use crate::store::CallAttempt;

/// Enters a wish a clerk took by phone or at the counter: checked as a citizen's wish (with a
/// name or reference and a number instead of an address), waiting at once with its place the
/// time it was entered, `WishConfirmed` and the clerk's audit entry in its transaction, then put
/// into its lines (or by the rescan, should that fail).
///
/// # Errors
/// `Invalid` with the field errors (nothing stored).
pub async fn enter_phone_wish(
    deps: &Deps,
    actor: &str,
    draft: &PhoneWishDraft,
) -> Result<Wish, AppError> {
    let catalog = deps.catalog().await?;
    let checked = draft.validate(&catalog).map_err(AppError::Invalid)?;
    let now = deps.clock.now();
    let change = taken_by_phone(WishId::generate(), checked, now);
    let wish = change.state;
    let until = super::wishes::keep_until(deps, now);
    let entry = audit(actor, AuditAction::Entered, &wish.id, now);
    let out = Effects::events(format!("wish-{}-entered", wish.id), change.events)
        .audited(Some((entry, until)));
    deps.store
        .create_phone_wish(&wish, until, &out, now)
        .await?;
    super::wishes::enqueue_committed(deps, &wish, &catalog, now).await;
    tracing::info!(wish_id = %wish.id, "wish entered by phone");
    Ok(wish)
}

fn audit(
    actor: &str,
    action: AuditAction,
    wish: &WishId,
    at: chrono::DateTime<chrono::Utc>,
) -> AuditEntry {
    AuditEntry {
        at,
        actor: actor.to_owned(),
        action,
        wish: Some(wish.clone()),
    }
}

/// One line of the call list: the open offer, the wish it is for, the calls that reached nobody.
#[derive(Debug, Clone)]
pub struct Call {
    pub offer: Offer,
    pub wish: Wish,
    pub attempts: Vec<CallAttempt>,
}

/// Most offers the call list reads.
const CALL_LIST_READ: i32 = 500;

/// The call list: the open offers of wishes taken by phone, earliest deadline first, each look
/// written to the audit log before it is shown.
pub async fn call_list(deps: &Deps, actor: &str) -> Result<Vec<Call>, AppError> {
    let now = deps.clock.now();
    let offers = deps.store.open_offers(CALL_LIST_READ).await?;
    let ids: Vec<WishId> = offers.iter().map(|o| o.wish.clone()).collect();
    let mut wishes = Vec::new();
    for chunk in ids.chunks(100) {
        wishes.extend(deps.store.get_wishes(chunk, now).await?);
    }
    let mut calls = Vec::new();
    for offer in offers {
        let Some(wish) = wishes
            .iter()
            .find(|w| w.id == offer.wish && w.contact.phone().is_some())
        else {
            continue;
        };
        let attempts = deps.store.call_attempts(&offer.id).await?;
        calls.push(Call {
            wish: wish.clone(),
            offer,
            attempts,
        });
    }
    let looks: Vec<AuditEntry> = calls
        .iter()
        .map(|c| audit(actor, AuditAction::Viewed, &c.wish.id, now))
        .collect();
    deps.store.record_looks(&looks, now).await?;
    Ok(calls)
}

/// What recording an answer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The offer after the answer (accepted, declined; still open after a call that reached
    /// nobody), and its wish as it was.
    Done(Offer, Box<Wish>),
    /// The offer was no longer open (answered from another desk, expired, withdrawn): nothing
    /// changed.
    NotOpen(Offer),
}

/// Records the answer a person gave on the phone to an offer of their wish: accepted and
/// declined go through the citizen's own use cases; a call that reached nobody is recorded (who,
/// when) and the offer stays open until its deadline.
///
/// # Errors
/// `NotFound` for an unknown offer, or one whose wish is gone or was not taken by phone (a
/// citizen with an address answers by the mailed links).
pub async fn record_answer(
    deps: &Deps,
    actor: &str,
    offer: &OfferId,
    answer: CallAnswer,
) -> Result<Recorded, AppError> {
    let now = deps.clock.now();
    let offer = deps
        .store
        .get_offer(offer)
        .await?
        .ok_or(AppError::NotFound)?;
    let wish = deps
        .store
        .get_wish(&offer.wish, now)
        .await?
        .filter(|w| w.contact.phone().is_some())
        .ok_or(AppError::NotFound)?;
    if offer.status != OfferStatus::Open {
        return Ok(Recorded::NotOpen(offer));
    }
    let after = match answer {
        CallAnswer::Accepted => {
            let entry = audit(actor, AuditAction::Accepted, &wish.id, now);
            super::offers::accept(deps, offer, &wish, Some(entry)).await?
        }
        CallAnswer::Declined => {
            let entry = audit(actor, AuditAction::Declined, &wish.id, now);
            super::offers::release_offer_audited(deps, offer, &wish, Release::Declined, Some(entry))
                .await?
        }
        CallAnswer::NotReached => {
            let entry = audit(actor, AuditAction::NotReached, &wish.id, now);
            let base = wish.kept_at.or(wish.confirmed_at).unwrap_or(now);
            let until = super::wishes::keep_until(deps, base);
            deps.store
                .record_call_attempt(&offer, &entry, until)
                .await?;
            offer
        }
    };
    let expected = match answer {
        CallAnswer::Accepted => OfferStatus::Accepted,
        CallAnswer::Declined => OfferStatus::Declined,
        CallAnswer::NotReached => OfferStatus::Open,
    };
    Ok(if after.status == expected {
        Recorded::Done(after, Box::new(wish))
    } else {
        Recorded::NotOpen(after)
    })
}

/// The wishes taken for a phone number, for a support call: as [`super::support_lookup`] shows
/// an address's, each look in the audit log first.
pub async fn support_lookup_phone(
    deps: &Deps,
    actor: &str,
    number: &PhoneNumber,
) -> Result<Vec<(Wish, Vec<super::Place>)>, AppError> {
    let now = deps.clock.now();
    let ids = deps.store.phone_book(number, now).await?;
    let wishes: Vec<Wish> = deps
        .store
        .get_wishes(&ids, now)
        .await?
        .into_iter()
        .filter(|w| w.contact.phone().is_some_and(|p| &p.number == number))
        .collect();
    super::staff::shown_to_support(deps, actor, wishes).await
}
