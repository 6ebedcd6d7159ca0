//! What the booking system or a clerk does with slots: load, release, withdraw, look up.

use super::{AppError, Deps};
use crate::domain::slot::{SlotRow, SlotUpsert};
use crate::domain::{Effects, FieldErrors, Slot, SlotId, SlotStatus};
use crate::store::{Stats, StoreError, UpsertOutcome};

/// What became of a slot the office withdrew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withdrawal {
    Removed,
    /// Booked slots are cancelled in the booking system first (then released or withdrawn).
    Booked(Slot),
    NotFound,
}

/// The outcome of `PUT /admin/slots`: each row's result, or every row's problems.
#[derive(Debug, Clone)]
pub enum SlotsPut {
    Stored(Vec<(SlotId, UpsertOutcome)>),
    /// `(row index, problems)`; nothing was stored.
    Invalid(Vec<(usize, FieldErrors)>),
}

/// `PUT /admin/slots`: every row is checked first; one bad row and nothing is written. A new free
/// slot (or a booked one set free) goes to the queue through the slots table's stream.
pub async fn put_slots(deps: &Deps, rows: &[SlotRow]) -> Result<SlotsPut, AppError> {
    let catalog = deps.catalog().await?;
    let mut checked: Vec<SlotUpsert> = Vec::new();
    let mut invalid = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match row.validate(&catalog) {
            Ok(s) => checked.push(s),
            Err(e) => invalid.push((i, e)),
        }
    }
    if !invalid.is_empty() {
        return Ok(SlotsPut::Invalid(invalid));
    }
    let now = deps.clock.now();
    let mut results = Vec::new();
    for s in &checked {
        results.push((s.id.clone(), deps.store.upsert_slot(s, now).await?));
    }
    Ok(SlotsPut::Stored(results))
}

/// `GET /admin/slots/{id}`.
pub async fn get_slot(deps: &Deps, id: &SlotId) -> Result<Option<Slot>, AppError> {
    Ok(deps.store.get_slot(id).await?)
}

/// `GET /admin/stats`.
pub async fn stats(deps: &Deps) -> Result<Stats, AppError> {
    Ok(deps.store.stats().await?)
}

/// `POST /admin/slots/{id}/release`: a booked slot becomes free and goes to the queue.
pub async fn release_slot(deps: &Deps, id: &SlotId) -> Result<Option<Slot>, AppError> {
    Ok(deps
        .store
        .release_slot(id, deps.clock.now())
        .await?
        .map(|(s, _)| s))
}

/// `DELETE /admin/slots/{id}`: the office takes a slot back. An open offer for it is withdrawn;
/// the wish goes back in line with its place and is told by mail.
pub async fn withdraw_slot(deps: &Deps, id: &SlotId) -> Result<Withdrawal, AppError> {
    let catalog = deps.catalog().await?;
    for _ in 0..5 {
        let now = deps.clock.now();
        let Some(slot) = deps.store.get_slot(id).await? else {
            return Ok(Withdrawal::NotFound);
        };
        let result = match (slot.status, &slot.offer) {
            (SlotStatus::Booked, _) => return Ok(Withdrawal::Booked(slot)),
            (SlotStatus::Offered, Some(offer_id)) => {
                let Some(offer) = deps.store.get_offer(offer_id).await? else {
                    continue;
                };
                let Some(wish) = deps.store.get_wish(&offer.wish, now).await? else {
                    continue;
                };
                let Ok(change) = offer.withdraw(&slot.id) else {
                    continue;
                };
                let mail = deps.mails(&catalog, now).withdrawn(&offer, &wish)?;
                let out = Effects::mail(mail, change.events);
                deps.store
                    .withdraw_slot(&slot, Some(&offer), &out, now)
                    .await
            }
            _ => {
                let event = crate::domain::DomainEvent::SlotWithdrawn {
                    slot: slot.id.clone(),
                };
                let out = Effects::events(format!("slot-{}-withdrawn", slot.id), vec![event]);
                deps.store.withdraw_slot(&slot, None, &out, now).await
            }
        };
        match result {
            Ok(()) => return Ok(Withdrawal::Removed),
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Conflict("slot while withdrawing"))
}
