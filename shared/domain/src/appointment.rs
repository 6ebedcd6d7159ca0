//! A booked appointment and the search for an earlier one (DESIGN.md, "Lifecycle: appointment").
//!
//! ```text
//! wish:  fulfilled ─look_for_earlier─▶ waiting (holding its appointment) ─offer─▶ offered
//!            ▲                              │ stop_looking (cancel, age, the appointment near)
//!            ├──────────────────────────────┘
//!            └── accept an earlier offer: the new slot booked, the old appointment replaced
//! offer: accepted ─give_back─▶ returned, ─replace─▶ replaced (its slot back to the queue)
//! ```

use super::ids::{OfferId, WishId};
use super::lifecycle::{Change, DomainEvent, TransitionError};
use super::offer::{Offer, OfferStatus};
use super::slot::{Slot, SlotStatus};
use super::wish::{Holding, NewWish, Wish, WishStatus};
use chrono::{DateTime, Utc};

/// How far a wish ranked behind ([`Holding::behind`]) is moved back in its lines: past any
/// confirmation time there will be (its queue keys and counts then sort after all others).
const RANK_BEHIND_DAYS: i64 = 366_000;

impl Wish {
    /// The time the wish ranks by in its lines: its confirmation, or, for a wish looking for
    /// an earlier appointment that the city ranks behind, that moved past every other's.
    #[must_use]
    pub fn ranked_at(&self) -> Option<DateTime<Utc>> {
        let behind = self.earlier.as_ref().is_some_and(|h| h.behind);
        self.confirmed_at.map(|t| {
            if behind {
                t + chrono::Duration::days(RANK_BEHIND_DAYS)
            } else {
                t
            }
        })
    }

    /// fulfilled → waiting, holding `appointment` (its booked offer, still to come): the wish
    /// goes back into its lines with its place and looks for a slot before the appointment.
    /// Its age counts from now.
    ///
    /// # Errors
    /// When the wish is not fulfilled, looks already, or the appointment is not its booked one.
    pub fn look_for_earlier(
        &self,
        appointment: &Offer,
        now: DateTime<Utc>,
        behind: bool,
    ) -> Result<Change<Wish>, TransitionError> {
        if self.status != WishStatus::Fulfilled || self.earlier.is_some() {
            return Err(TransitionError::WishNotIn(self.status, "fulfilled"));
        }
        if appointment.wish != self.id
            || appointment.status != OfferStatus::Accepted
            || now >= appointment.start
        {
            return Err(TransitionError::NotBooked(appointment.status));
        }
        let mut w = self.clone();
        w.status = WishStatus::Waiting;
        w.earlier = Some(Holding {
            offer: appointment.id.clone(),
            before: appointment.start,
            behind,
        });
        w.open_offer = None;
        w.unanswered = 0;
        w.kept_at = Some(now);
        w.reminded_at = None;
        Ok(Change {
            state: w,
            events: vec![],
        })
    }

    /// A wish that looks for an earlier appointment stops (the citizen cancels the search, it
    /// reaches its age, or no earlier slot can come any more): fulfilled again with the
    /// appointment it holds; an open offer is withdrawn (its slot goes on).
    ///
    /// # Errors
    /// When the wish is not looking for an earlier appointment.
    pub fn stop_looking(
        &self,
        open_offer: Option<&Offer>,
    ) -> Result<Change<Wish>, TransitionError> {
        if self.earlier.is_none() || !self.in_line() {
            return Err(TransitionError::WishNotIn(
                self.status,
                "looking for earlier",
            ));
        }
        let mut w = self.clone();
        w.status = WishStatus::Fulfilled;
        w.earlier = None;
        w.open_offer = None;
        let events = open_offer
            .filter(|o| o.status == OfferStatus::Open)
            .map(|o| DomainEvent::OfferWithdrawn {
                offer: o.id.clone(),
                slot: o.slot.clone(),
                also: o.also_ids(),
            })
            .into_iter()
            .collect();
        Ok(Change { state: w, events })
    }

    /// The appointment this wish holds while it looks for an earlier one.
    #[must_use]
    pub fn holding(&self) -> Option<&OfferId> {
        self.earlier.as_ref().map(|h| &h.offer)
    }
}

/// Why the booking system cannot hand a slot's appointment to the queue's "earlier" search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DirectBookingError {
    #[error("the slot is not booked")]
    NotBooked,
    #[error("the slot was booked through an offer: its citizen asks on the appointment's page")]
    BookedThroughOffer,
    #[error("the appointment has begun")]
    Begun,
}

/// An appointment the booking system booked directly (the slot is `booked`, no offer of ours)
/// whose citizen wants an earlier one: the appointment as an accepted offer of ours, and a
/// wish confirmed now (the booking system knows the citizen) that holds it and looks for a
/// slot before it.
///
/// # Errors
/// When the slot is not booked, was booked through an offer, or has begun.
pub fn booked_directly(
    (wish_id, offer_id): (WishId, OfferId),
    new: NewWish,
    slot: &Slot,
    (now, behind): (DateTime<Utc>, bool),
) -> Result<(Wish, Offer), DirectBookingError> {
    if slot.status != SlotStatus::Booked {
        return Err(DirectBookingError::NotBooked);
    }
    if slot.offer.is_some() || slot.wish.is_some() {
        return Err(DirectBookingError::BookedThroughOffer);
    }
    if now >= slot.start {
        return Err(DirectBookingError::Begun);
    }
    let appointment = Offer {
        id: offer_id,
        wish: wish_id.clone(),
        slot: slot.id.clone(),
        office: slot.office.clone(),
        service: slot.service.clone(),
        start: slot.start,
        minutes: slot.minutes,
        status: OfferStatus::Accepted,
        deadline: now,
        created_at: now,
        persons: slot.persons,
        also: Vec::new(),
    };
    let mut wish = super::lifecycle::submitted(wish_id, new, now);
    wish.status = WishStatus::Waiting;
    wish.confirmed_at = Some(now);
    wish.kept_at = Some(now);
    wish.earlier = Some(Holding {
        offer: appointment.id.clone(),
        before: slot.start,
        behind,
    });
    Ok((wish, appointment))
}

/// Accepting an earlier offer: the new appointment booked, the old one replaced in the same
/// transaction (its slot goes to the queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    pub accepted: Offer,
    pub replaced: Offer,
    pub events: Vec<DomainEvent>,
}

impl Offer {
    /// accepted → replaced: an earlier appointment was booked for the same wish; the slot is
    /// free again and the booking system hears it as given back.
    ///
    /// # Errors
    /// When the offer is not a booked appointment still to come.
    pub fn replace(&self, now: DateTime<Utc>) -> Result<Change<Offer>, TransitionError> {
        let mut change = self.give_back(now)?;
        change.state.status = OfferStatus::Replaced;
        Ok(change)
    }

    /// open → accepted for a wish that holds `old`: the swap, decided at once.
    ///
    /// # Errors
    /// As [`Offer::accept`] and [`Offer::replace`]; also when `old` is not the wish's.
    pub fn accept_instead_of(
        &self,
        old: &Offer,
        wish: &WishId,
        now: DateTime<Utc>,
    ) -> Result<Swap, TransitionError> {
        if &old.wish != wish || &self.wish != wish {
            return Err(TransitionError::NotBooked(old.status));
        }
        let accepted = self.accept(now)?;
        let replaced = old.replace(now)?;
        let mut events = accepted.events;
        events.extend(replaced.events);
        Ok(Swap {
            accepted: accepted.state,
            replaced: replaced.state,
            events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OfficeId, ServiceId, SlotId};
    use crate::{Email, Language, Window};
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-01-19T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn fulfilled() -> Wish {
        Wish {
            id: WishId::generate(),
            contact: Email::parse("a@example.org").unwrap().into(),
            service: ServiceId::parse("id-card").unwrap(),
            offices: vec![OfficeId::parse("bilk").unwrap()],
            windows: [Window::new(crate::Weekday::Mon, 8).unwrap()].into(),
            language: Language::De,
            status: WishStatus::Fulfilled,
            created_at: now() - Duration::days(20),
            confirmed_at: Some(now() - Duration::days(20)),
            open_offer: None,
            declined: std::collections::BTreeSet::new(),
            kept_at: None,
            reminded_at: None,
            unanswered: 2,
            earlier: None,
            persons: 1,
        }
    }

    fn offer(wish: &Wish, status: OfferStatus, days: i64) -> Offer {
        Offer {
            id: OfferId::generate(),
            wish: wish.id.clone(),
            slot: SlotId::parse(&format!("s-{days}")).unwrap(),
            office: wish.offices[0].clone(),
            service: wish.service.clone(),
            start: now() + Duration::days(days),
            minutes: 15,
            status,
            deadline: now() + Duration::hours(20),
            created_at: now(),
            persons: 1,
            also: Vec::new(),
        }
    }

    #[test]
    fn a_booked_wish_looks_for_an_earlier_slot_once_and_only_before_its_appointment() {
        let wish = fulfilled();
        let booked = offer(&wish, OfferStatus::Accepted, 30);
        let looking = wish.look_for_earlier(&booked, now(), false).unwrap().state;
        assert_eq!(looking.status, WishStatus::Waiting);
        assert_eq!(looking.holding(), Some(&booked.id));
        assert_eq!((looking.unanswered, looking.kept_at), (0, Some(now())));
        let held = looking.earlier.clone().unwrap();
        assert!(held.wants(booked.start - Duration::minutes(1)));
        assert!(!held.wants(booked.start));
        // Twice, for an appointment that has begun, or for another wish's: no.
        assert!(looking.look_for_earlier(&booked, now(), false).is_err());
        assert!(wish.look_for_earlier(&booked, booked.start, false).is_err());
        let other = offer(&fulfilled(), OfferStatus::Accepted, 30);
        assert!(wish.look_for_earlier(&other, now(), false).is_err());
        let returned = offer(&wish, OfferStatus::Returned, 30);
        assert!(wish.look_for_earlier(&returned, now(), false).is_err());
    }

    #[test]
    fn a_search_ranked_behind_sorts_after_every_confirmation_and_its_own_rank_otherwise() {
        let wish = fulfilled();
        let booked = offer(&wish, OfferStatus::Accepted, 30);
        let own = wish.look_for_earlier(&booked, now(), false).unwrap().state;
        assert_eq!(own.ranked_at(), wish.confirmed_at);
        let behind = wish.look_for_earlier(&booked, now(), true).unwrap().state;
        let far = behind.ranked_at().unwrap();
        assert!(far > now() + Duration::days(365 * 900), "{far}");
        // Its queue keys still sort by its own confirmation among those ranked behind.
        assert!(crate::time::rfc3339(far) > crate::time::rfc3339(now()));
    }

    #[test]
    fn stopping_the_search_keeps_the_appointment_and_withdraws_an_open_offer() {
        let wish = fulfilled();
        let booked = offer(&wish, OfferStatus::Accepted, 30);
        let mut looking = wish.look_for_earlier(&booked, now(), false).unwrap().state;
        let open = offer(&looking, OfferStatus::Open, 3);
        looking.status = WishStatus::Offered;
        looking.open_offer = Some(open.id.clone());
        let stopped = looking.stop_looking(Some(&open)).unwrap();
        assert_eq!(stopped.state.status, WishStatus::Fulfilled);
        assert_eq!(
            (stopped.state.earlier, stopped.state.open_offer),
            (None, None)
        );
        assert_eq!(stopped.events.len(), 1);
        assert!(wish.stop_looking(None).is_err(), "not looking");
    }

    #[test]
    fn accepting_an_earlier_offer_replaces_the_old_appointment_in_one_decision() {
        let wish = fulfilled();
        let old = offer(&wish, OfferStatus::Accepted, 30);
        let new = offer(&wish, OfferStatus::Open, 3);
        let swap = new.accept_instead_of(&old, &wish.id, now()).unwrap();
        assert_eq!(swap.accepted.status, OfferStatus::Accepted);
        assert_eq!(swap.replaced.status, OfferStatus::Replaced);
        let names: Vec<_> = swap.events.iter().map(DomainEvent::name).collect();
        assert_eq!(names, ["OfferAccepted", "AppointmentReturned"]);
        // Not for another wish's appointment, nor one that was given back meanwhile.
        let theirs = offer(&fulfilled(), OfferStatus::Accepted, 30);
        assert!(new.accept_instead_of(&theirs, &wish.id, now()).is_err());
        let given_back = offer(&wish, OfferStatus::Returned, 30);
        assert!(new.accept_instead_of(&given_back, &wish.id, now()).is_err());
    }
}
