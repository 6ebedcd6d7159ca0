//! A booked appointment (an accepted offer): its page, and giving it back.

use super::{AppError, Deps};
use crate::domain::{Effects, LinkKind, Offer, OfferId, Token, Wish};
use crate::store::StoreError;

/// The appointment behind a link (`/a/{token}`), with its wish while that is kept.
///
/// # Errors
/// `NotFound` for anything but a link to an offer that was accepted.
pub async fn appointment_by_token(
    deps: &Deps,
    token: &str,
) -> Result<(Offer, Option<Wish>, Token), AppError> {
    let (id, token) = deps.resolve_link(token, LinkKind::Appointment).await?;
    let id = OfferId::parse(&id).map_err(|_| AppError::NotFound)?;
    let offer = deps.store.get_offer(&id).await?.ok_or(AppError::NotFound)?;
    let now = deps.clock.now();
    if offer.appointment(now).is_none() {
        return Err(AppError::NotFound);
    }
    let wish = deps.store.get_wish(&offer.wish, now).await?;
    Ok((offer, wish, token))
}

/// The rescan's part: the reminder of each booked appointment whose time has come, once (the
/// reminder's commit takes the appointment off the list). `true` when this call sent it.
///
/// # Errors
/// The store's errors.
pub(super) async fn remind(
    deps: &Deps,
    catalog: &crate::domain::Catalog,
    offer: &Offer,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, AppError> {
    let booked = offer.appointment(now) == Some(crate::domain::offer::AppointmentStatus::Booked);
    let wish = if booked {
        deps.store.get_wish(&offer.wish, now).await?
    } else {
        None
    };
    // Nothing to remind of (it has begun), or nobody to write to: off the list without a mail.
    let out = match wish {
        Some(wish) => Effects::mail(
            deps.mails(catalog, now)
                .appointment_reminder(offer, &wish)?,
            Vec::new(),
        ),
        None => Effects::events(
            format!("offer-{}-appointment-reminder", offer.id),
            Vec::new(),
        ),
    };
    let mailed = out.mail.is_some();
    match deps.store.remind_appointment(offer, now, &out).await {
        Ok(()) => Ok(mailed),
        Err(StoreError::Conflict) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// `POST /a/{token}/return`: the citizen cannot come. The slot is free again and goes to the
/// queue at once (its stream record is a released slot's), `AppointmentReturned` is published,
/// and the confirmation mail carries the calendar file that takes it out of the calendar. A
/// repeat, or an appointment that has begun, shows it as it is and sends nothing.
///
/// # Errors
/// `NotFound` for a link that is no appointment's; the store's errors.
pub async fn return_appointment(deps: &Deps, token: &str) -> Result<Offer, AppError> {
    let (offer, wish, token) = appointment_by_token(deps, token).await?;
    let now = deps.clock.now();
    let (Some(wish), Ok(change)) = (wish, offer.give_back(now)) else {
        return Ok(offer);
    };
    let catalog = deps.catalog().await?;
    let mail = deps
        .mails(&catalog, now)
        .returned(&change.state, &wish, &token)?;
    let out = Effects::mail(mail, change.events);
    match deps.store.return_appointment(&offer, now, &out).await {
        Ok(()) => tracing::info!(offer_id = %offer.id, "appointment returned"),
        // Given back by a click just before, or the booking system changed the slot meanwhile.
        Err(StoreError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    super::offers::reread(deps, &offer).await
}
