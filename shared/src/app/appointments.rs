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
    let mut events = change.events;
    // Given back while its wish looked for an earlier one: the search ends with it.
    let looking = wish.holding() == Some(&offer.id);
    let open = if looking {
        deps.open_offer(&wish).await?
    } else {
        None
    };
    let stop = match wish.stop_looking(open.as_ref()) {
        Ok(stopped) if looking => {
            events.extend(stopped.events);
            Some((&wish, open.as_ref()))
        }
        _ => None,
    };
    let out = Effects::mail(mail, events);
    match deps.store.return_appointment(&offer, stop, now, &out).await {
        Ok(()) => {
            if looking {
                deps.store.dequeue(&wish, &wish.lines(&catalog)).await?;
            }
            tracing::info!(offer_id = %offer.id, "appointment returned");
        }
        // Given back by a click just before, or the booking system changed the slot meanwhile.
        Err(StoreError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    super::offers::reread(deps, &offer).await
}

/// `POST /a/{token}/earlier`: keep the appointment and look for an earlier one. The wish goes
/// back into its lines with its place (DESIGN.md: its own confirmation time), only slots before
/// the appointment are offered, and a mail says so with the link to stop. A repeat, or an
/// appointment that has begun or was given back, shows it as it is and sends nothing.
///
/// # Errors
/// `NotFound` for a link that is no appointment's; the store's errors.
pub async fn look_for_earlier(deps: &Deps, token: &str) -> Result<(Offer, Option<Wish>), AppError> {
    let (offer, wish, _) = appointment_by_token(deps, token).await?;
    let now = deps.clock.now();
    let Some(wish) = wish else {
        return Ok((offer, None));
    };
    let Ok(change) = wish.look_for_earlier(&offer, now, deps.config.earlier_behind) else {
        return Ok((offer, Some(wish)));
    };
    let catalog = deps.catalog().await?;
    let mail = deps.mails(&catalog, now).earlier(&change.state, &offer)?;
    let out = Effects::mail(mail, change.events);
    match deps.store.look_for_earlier(&change.state, now, &out).await {
        Ok(()) => {
            super::wishes::enqueue_committed(deps, &change.state, &catalog, now).await;
            tracing::info!(offer_id = %offer.id, "looking for an earlier appointment");
        }
        Err(StoreError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    let wish = deps.store.get_wish(&offer.wish, now).await?;
    Ok((offer, wish))
}

/// A wish looking for an earlier appointment stops (the citizen cancelled the search, or its
/// time ran out): fulfilled again with the appointment it holds, out of its lines, with a mail.
/// `false` when the wish moved on meanwhile (the caller reads it again).
///
/// # Errors
/// The store's errors.
pub(super) async fn stop_looking(
    deps: &Deps,
    catalog: &crate::domain::Catalog,
    (wish, actor): (&Wish, Option<&str>),
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, AppError> {
    let open = deps.open_offer(wish).await?;
    let Ok(change) = wish.stop_looking(open.as_ref()) else {
        return Ok(false);
    };
    let held = match wish.holding() {
        Some(id) => deps.store.get_offer(id).await?,
        None => None,
    };
    let out = match &held {
        Some(held) => Effects::mail(
            deps.mails(catalog, now).stopped_looking(wish, held)?,
            change.events,
        ),
        None => Effects::events(format!("wish-{}-stopped", wish.id), change.events),
    };
    // A member of staff ending the search on request: the audit log says who, in the change.
    let audit = actor.map(|name| crate::domain::staff::AuditEntry {
        at: now,
        actor: name.to_owned(),
        action: crate::domain::staff::AuditAction::Cancelled,
        wish: Some(wish.id.clone()),
    });
    match deps
        .store
        .stop_looking(wish, open.as_ref(), now, &out, audit.as_ref())
        .await
    {
        Ok(()) => {
            deps.store.dequeue(wish, &wish.lines(catalog)).await?;
            tracing::info!(wish_id = %wish.id, "stopped looking for an earlier appointment");
            Ok(true)
        }
        Err(StoreError::Conflict) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// What became of the booking system's request to look for an earlier appointment for one it
/// booked directly.
#[derive(Debug)]
pub enum DirectEarlier {
    /// The wish (waiting) looks for an earlier slot; the appointment is ours to swap.
    Started {
        wish: crate::domain::WishId,
        appointment: OfferId,
    },
    /// The slot cannot be handed over (not booked, booked through an offer, begun).
    Refused(crate::domain::appointment::DirectBookingError),
}

/// `POST /admin/slots/{id}/earlier`: the booking system booked the slot directly, and its
/// citizen would take an earlier one. `request` is the wish without its service (the slot's):
/// checked as a citizen's, confirmed at once (the booking system knows the citizen), and its
/// mail links the wish's page, where the search can be stopped. Accepting an earlier offer then
/// gives this slot back as for any appointment (its stream record is a released slot's, and
/// `AppointmentReturned` tells the booking system).
///
/// # Errors
/// `NotFound` for an unknown slot, `Invalid` for a wish that does not hold, the store's errors.
pub async fn earlier_for_direct_booking(
    deps: &Deps,
    slot: &crate::domain::SlotId,
    mut request: crate::domain::WishDraft,
) -> Result<DirectEarlier, AppError> {
    let slot = deps.store.get_slot(slot).await?.ok_or(AppError::NotFound)?;
    let catalog = deps.catalog().await?;
    request.service = Some(slot.service.to_string());
    let new = request.validate(&catalog).map_err(AppError::Invalid)?;
    let now = deps.clock.now();
    let ids = (crate::domain::WishId::generate(), OfferId::generate());
    let (wish, appointment) = match crate::domain::appointment::booked_directly(
        ids,
        new,
        &slot,
        (now, deps.config.earlier_behind),
    ) {
        Ok(found) => found,
        Err(why) => return Ok(DirectEarlier::Refused(why)),
    };
    let mail = deps.mails(&catalog, now).earlier(&wish, &appointment)?;
    let out = Effects::mail(mail, Vec::new());
    match deps
        .store
        .create_booked_directly(&wish, &appointment, now, &out)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(AppError::Conflict("slot while handing it to the queue"));
        }
        Err(e) => return Err(e.into()),
    }
    super::wishes::enqueue_committed(deps, &wish, &catalog, now).await;
    tracing::info!(wish_id = %wish.id, "looking for an earlier appointment for a direct booking");
    Ok(DirectEarlier::Started {
        wish: wish.id,
        appointment: appointment.id,
    })
}
