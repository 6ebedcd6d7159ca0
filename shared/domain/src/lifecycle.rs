//! The lifecycle of wishes and offers as pure transitions: each takes the current state and
//! `now` and returns the new state with the domain events it causes, or a [`TransitionError`]
//! saying why the transition does not apply. The store writes the new state under a condition
//! on the old one, so a transition decided on a stale read simply conflicts.
//!
//! ```text
//! wish:  pending ─confirm─▶ waiting ─offer─▶ offered ─accept─▶ fulfilled
//!                             ▲  ▲              │ decline / expire (3 unanswered: paused)
//!                             │  └──────────────┘
//!                  paused ─resume─┘     any active ─cancel─▶ cancelled, ─expire─▶ expired
//! offer: open ─▶ accepted | declined | expired | withdrawn
//! ```

use super::ids::{OfferId, SlotId, WishId};
use super::offer::{Offer, OfferStatus};
use super::slot::{Slot, SlotStatus};
use super::wish::{NewWish, PAUSE_AFTER_UNANSWERED, Wish, WishStatus};
use chrono::{DateTime, Utc};

pub use super::event::DomainEvent;

/// Why a transition does not apply to the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the wish is {0:?}, not {1:?}")]
    WishNotIn(WishStatus, &'static str),
    #[error("the offer is {0:?}, not open")]
    OfferNotOpen(OfferStatus),
    #[error("the offer's deadline has not passed yet")]
    NotOverdue,
    #[error("the offer's deadline has passed")]
    Overdue,
    #[error("the wish has no pending reminder")]
    NotReminded,
    #[error("the slot is {0:?}")]
    SlotNotFree(SlotStatus),
    #[error("an offer needs at least one slot")]
    EmptyRun,
    #[error("the offer is {0:?}, not an appointment still to come")]
    NotBooked(OfferStatus),
}

/// A new state and the events it causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<T> {
    pub state: T,
    pub events: Vec<DomainEvent>,
}

fn change<T>(state: T, events: Vec<DomainEvent>) -> Change<T> {
    Change { state, events }
}

/// The wish a checked submission becomes: pending until the double opt-in.
#[must_use]
pub fn submitted(id: WishId, new: NewWish, now: DateTime<Utc>) -> Wish {
    let asked = super::request::Asked {
        service: new.service,
        offices: new.offices,
        windows: new.windows,
        language: new.language,
        persons: new.persons,
    };
    new_wish(id, new.email.into(), asked, now)
}

/// A new wish of `contact` asking for `asked`, pending, made at `now`.
#[must_use]
pub(crate) fn new_wish(
    id: WishId,
    contact: super::Contact,
    asked: super::request::Asked,
    now: DateTime<Utc>,
) -> Wish {
    Wish {
        id,
        contact,
        service: asked.service,
        offices: asked.offices,
        windows: asked.windows,
        language: asked.language,
        status: WishStatus::Pending,
        created_at: now,
        confirmed_at: None,
        open_offer: None,
        declined: std::collections::BTreeSet::new(),
        kept_at: None,
        reminded_at: None,
        unanswered: 0,
        earlier: None,
        persons: asked.persons,
    }
}

impl Wish {
    fn require(&self, ok: bool, expected: &'static str) -> Result<(), TransitionError> {
        if ok {
            Ok(())
        } else {
            Err(TransitionError::WishNotIn(self.status, expected))
        }
    }

    /// pending → waiting: the confirmation time is the wish's place in every line.
    ///
    /// # Errors
    /// When the wish is not pending (a repeated click).
    pub fn confirm(&self, now: DateTime<Utc>) -> Result<Change<Wish>, TransitionError> {
        self.require(self.status == WishStatus::Pending, "pending")?;
        let mut w = self.clone();
        w.status = WishStatus::Waiting;
        w.confirmed_at = Some(now);
        let event = DomainEvent::WishConfirmed {
            wish: w.id.clone(),
            service: w.service.clone(),
            offices: w.offices.clone(),
        };
        Ok(change(w, vec![event]))
    }

    /// paused → waiting, with the old place in line.
    ///
    /// # Errors
    /// When the wish is not paused.
    pub fn resume(&self) -> Result<Change<Wish>, TransitionError> {
        self.require(self.status == WishStatus::Paused, "paused")?;
        let mut w = self.clone();
        w.status = WishStatus::Waiting;
        w.unanswered = 0;
        let event = DomainEvent::WishResumed { wish: w.id.clone() };
        Ok(change(w, vec![event]))
    }

    /// Any active state → cancelled; an open offer is withdrawn with it (its slot goes on).
    ///
    /// # Errors
    /// When the wish has already ended.
    pub fn cancel(&self, open_offer: Option<&Offer>) -> Result<Change<Wish>, TransitionError> {
        self.require(self.status.is_active(), "active")?;
        let mut w = self.clone();
        w.status = WishStatus::Cancelled;
        w.open_offer = None;
        let mut events = vec![DomainEvent::WishCancelled { wish: w.id.clone() }];
        if let Some(o) = open_offer {
            events.push(DomainEvent::OfferWithdrawn {
                offer: o.id.clone(),
                slot: o.slot.clone(),
                also: o.also_ids(),
            });
        }
        Ok(change(w, events))
    }

    /// A mail about this wish could not be delivered (`mail` is its key): a waiting or offered
    /// wish is paused, so it holds no slot its citizen cannot hear of — an open offer is
    /// withdrawn with it and its slot goes on — and resumes with its place when the citizen
    /// confirms again from its page. The alarm hears of the mail in any case; the new state is
    /// `None` when the wish needs no change (pending, paused or ended).
    #[must_use]
    pub fn undeliverable(&self, open_offer: Option<&Offer>, mail: &str) -> Change<Option<Wish>> {
        let mut events = vec![DomainEvent::MailFailed {
            mail: mail.to_owned(),
            wish: Some(self.id.clone()),
        }];
        if !matches!(self.status, WishStatus::Waiting | WishStatus::Offered) {
            return change(None, events);
        }
        let mut w = self.clone();
        w.status = WishStatus::Paused;
        w.open_offer = None;
        events.push(DomainEvent::WishPaused { wish: w.id.clone() });
        if let Some(o) = open_offer.filter(|o| o.status == OfferStatus::Open) {
            events.push(DomainEvent::OfferWithdrawn {
                offer: o.id.clone(),
                slot: o.slot.clone(),
                also: o.also_ids(),
            });
        }
        change(Some(w), events)
    }

    /// The "still interested?" reminder: the wish now ends at `ends_at` unless kept.
    ///
    /// # Errors
    /// When the wish is not in line or was already reminded.
    pub fn remind(&self, now: DateTime<Utc>) -> Result<Change<Wish>, TransitionError> {
        self.require(self.in_line(), "in line")?;
        if self.reminded_at.is_some() {
            return Err(TransitionError::NotReminded);
        }
        let mut w = self.clone();
        w.reminded_at = Some(now);
        Ok(change(w, vec![]))
    }

    /// "Keep my wish" after a reminder: the age starts again, the place stays.
    ///
    /// # Errors
    /// Without a pending reminder, or when the wish is not waiting or offered.
    pub fn keep(&self, now: DateTime<Utc>) -> Result<Change<Wish>, TransitionError> {
        self.require(
            matches!(self.status, WishStatus::Waiting | WishStatus::Offered),
            "waiting or offered",
        )?;
        if self.reminded_at.is_none() {
            return Err(TransitionError::NotReminded);
        }
        let mut w = self.clone();
        w.kept_at = Some(now);
        w.reminded_at = None;
        Ok(change(w, vec![]))
    }

    /// waiting or paused → expired at the maximum age (an offered wish answers its offer first).
    ///
    /// # Errors
    /// When the wish holds an open offer or is not in line.
    pub fn expire(&self) -> Result<Change<Wish>, TransitionError> {
        self.require(
            matches!(self.status, WishStatus::Waiting | WishStatus::Paused),
            "waiting or paused",
        )?;
        let mut w = self.clone();
        w.status = WishStatus::Expired;
        let event = DomainEvent::WishExpired { wish: w.id.clone() };
        Ok(change(w, vec![event]))
    }

    /// Whether the wish stands in its lines (confirmed and not ended).
    #[must_use]
    pub fn in_line(&self) -> bool {
        self.confirmed_at.is_some()
            && matches!(
                self.status,
                WishStatus::Waiting | WishStatus::Offered | WishStatus::Paused
            )
    }
}

/// A free slot that no wish in its line can take (or too soon for anyone to answer an offer)
/// is unclaimed: the booking system may now give it to anyone.
///
/// # Errors
/// [`TransitionError::SlotNotFree`] unless the slot is free.
pub fn unclaimed(slot: &Slot) -> Result<DomainEvent, TransitionError> {
    if slot.status != SlotStatus::Free {
        return Err(TransitionError::SlotNotFree(slot.status));
    }
    Ok(DomainEvent::SlotUnclaimed {
        slot: slot.id.clone(),
        office: slot.office.clone(),
        service: slot.service.clone(),
        start: slot.start,
        minutes: slot.minutes,
    })
}

/// An offer of a run of free slots (one slot, or a family's back-to-back slots, the first
/// first) to a wish for `persons`, open until `deadline`.
///
/// # Errors
/// When the run is empty or a slot of it is not free.
pub fn offer(
    id: OfferId,
    run: &[Slot],
    (wish, persons): (&WishId, u8),
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Change<Offer>, TransitionError> {
    let Some((slot, also)) = run.split_first() else {
        return Err(TransitionError::EmptyRun);
    };
    if let Some(taken) = run.iter().find(|s| s.status != SlotStatus::Free) {
        return Err(TransitionError::SlotNotFree(taken.status));
    }
    let offer = Offer {
        id,
        wish: wish.clone(),
        slot: slot.id.clone(),
        office: slot.office.clone(),
        service: slot.service.clone(),
        start: slot.start,
        minutes: slot.minutes,
        status: OfferStatus::Open,
        deadline,
        created_at: now,
        persons,
        also: also.iter().map(super::party::RunSlot::from).collect(),
    };
    let event = DomainEvent::OfferSent {
        offer: offer.id.clone(),
        slot: offer.slot.clone(),
        also: offer.also_ids(),
        wish: offer.wish.clone(),
        deadline,
    };
    Ok(change(offer, vec![event]))
}

/// An offer answered or run out, with what became of its wish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    pub offer: Offer,
    /// Waiting again, or paused after too many offers in a row went unanswered.
    pub wish_status: WishStatus,
    /// Offers in a row that went unanswered, this one included.
    pub unanswered: u8,
    pub events: Vec<DomainEvent>,
}

impl Offer {
    /// open → accepted, the wish fulfilled; only before the deadline.
    ///
    /// # Errors
    /// When the offer is no longer open or its deadline has passed.
    pub fn accept(&self, now: DateTime<Utc>) -> Result<Change<Offer>, TransitionError> {
        if self.status != OfferStatus::Open {
            return Err(TransitionError::OfferNotOpen(self.status));
        }
        if now >= self.deadline {
            return Err(TransitionError::Overdue);
        }
        let mut o = self.clone();
        o.status = OfferStatus::Accepted;
        let event = DomainEvent::OfferAccepted {
            offer: o.id.clone(),
            slot: o.slot.clone(),
            also: o.also_ids(),
            wish: o.wish.clone(),
        };
        Ok(change(o, vec![event]))
    }

    /// accepted → returned, before the appointment begins: the citizen gives it back and the
    /// slot goes to the queue as a released slot.
    ///
    /// # Errors
    /// When the offer was never accepted, was given back already, or its time has come.
    pub fn give_back(&self, now: DateTime<Utc>) -> Result<Change<Offer>, TransitionError> {
        if self.status != OfferStatus::Accepted || now >= self.start {
            return Err(TransitionError::NotBooked(self.status));
        }
        let mut o = self.clone();
        o.status = OfferStatus::Returned;
        let event = DomainEvent::AppointmentReturned {
            offer: o.id.clone(),
            wish: o.wish.clone(),
            slot: o.slot.clone(),
            also: o.also_ids(),
            office: o.office.clone(),
            service: o.service.clone(),
            start: o.start,
            minutes: o.minutes,
        };
        Ok(change(o, vec![event]))
    }

    /// open → declined (any time) or expired (once the deadline passed): the wish waits again
    /// with its place and never gets this slot again; the slot goes on.
    ///
    /// # Errors
    /// When the offer is no longer open, or an expiry comes before the deadline.
    pub fn release(
        &self,
        wish: &Wish,
        to: Release,
        now: DateTime<Utc>,
    ) -> Result<Released, TransitionError> {
        if self.status != OfferStatus::Open {
            return Err(TransitionError::OfferNotOpen(self.status));
        }
        let mut o = self.clone();
        let (ids, wish_id) = ((o.id.clone(), o.slot.clone()), o.wish.clone());
        let (wish_status, unanswered, event) = match to {
            Release::Declined => {
                o.status = OfferStatus::Declined;
                let e = DomainEvent::OfferDeclined {
                    offer: ids.0,
                    slot: ids.1,
                    also: self.also_ids(),
                    wish: wish_id,
                };
                (WishStatus::Waiting, 0, e)
            }
            Release::Expired => {
                if now < self.deadline {
                    return Err(TransitionError::NotOverdue);
                }
                o.status = OfferStatus::Expired;
                let n = wish.unanswered.saturating_add(1);
                // Pausing keeps an address nobody reads from holding slots; a wish taken by
                // phone has a clerk who calls and sees every unanswered offer on the call list
                // (and cancels it when the person cannot be reached any more): it never pauses,
                // so nothing a clerk cannot undo (a paused wish resumes from a mailed link).
                let pauses = wish.contact.email().is_some() && n >= PAUSE_AFTER_UNANSWERED;
                let status = if pauses {
                    WishStatus::Paused
                } else {
                    WishStatus::Waiting
                };
                let e = DomainEvent::OfferExpired {
                    offer: ids.0,
                    slot: ids.1,
                    also: self.also_ids(),
                    wish: wish_id,
                };
                (status, n, e)
            }
        };
        let mut events = vec![event];
        if wish_status == WishStatus::Paused {
            events.push(DomainEvent::WishPaused {
                wish: wish.id.clone(),
            });
        }
        Ok(Released {
            offer: o,
            wish_status,
            unanswered,
            events,
        })
    }

    /// open → withdrawn: the office took the slot `taken` back (one of the offer's); the wish
    /// waits on with its place, the offer's other slots go on.
    ///
    /// # Errors
    /// When the offer is no longer open.
    pub fn withdraw(&self, taken: &SlotId) -> Result<Change<Offer>, TransitionError> {
        if self.status != OfferStatus::Open {
            return Err(TransitionError::OfferNotOpen(self.status));
        }
        let mut o = self.clone();
        o.status = OfferStatus::Withdrawn;
        let events = vec![
            DomainEvent::OfferWithdrawn {
                offer: o.id.clone(),
                slot: o.slot.clone(),
                also: o.also_ids(),
            },
            DomainEvent::SlotWithdrawn {
                slot: taken.clone(),
            },
        ];
        Ok(change(o, events))
    }
}

/// How an open offer ends without a booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    Declined,
    Expired,
}

impl Release {
    #[must_use]
    pub fn status(self) -> OfferStatus {
        match self {
            Release::Declined => OfferStatus::Declined,
            Release::Expired => OfferStatus::Expired,
        }
    }
}

#[cfg(test)]
mod tests;
