//! The domain events: every state change the booking system and monitoring hear about, as the
//! bus and the events feed carry them (`docs/events/` holds each one's schema).

use super::ids::{OfferId, OfficeId, ServiceId, SlotId, WishId};
use chrono::{DateTime, Utc};

/// A state change the booking system and monitoring hear about (published on the bus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    WishConfirmed {
        wish: WishId,
        service: ServiceId,
        offices: Vec<OfficeId>,
    },
    WishResumed {
        wish: WishId,
    },
    WishPaused {
        wish: WishId,
    },
    WishCancelled {
        wish: WishId,
    },
    WishExpired {
        wish: WishId,
    },
    // The offer events name the offer's first slot (`slot`) and the slots of a family's run
    // after it (`also`, empty for one slot); their detail lists them all as `slots`.
    OfferSent {
        offer: OfferId,
        slot: SlotId,
        also: Vec<SlotId>,
        wish: WishId,
        deadline: DateTime<Utc>,
    },
    OfferAccepted {
        offer: OfferId,
        slot: SlotId,
        also: Vec<SlotId>,
        wish: WishId,
    },
    OfferDeclined {
        offer: OfferId,
        slot: SlotId,
        also: Vec<SlotId>,
        wish: WishId,
    },
    OfferExpired {
        offer: OfferId,
        slot: SlotId,
        also: Vec<SlotId>,
        wish: WishId,
    },
    OfferWithdrawn {
        offer: OfferId,
        slot: SlotId,
        also: Vec<SlotId>,
    },
    SlotWithdrawn {
        slot: SlotId,
    },
    /// A mail could not be delivered within its bound (for the alarm): which mail, about which
    /// wish — never the address.
    MailFailed {
        mail: String,
        wish: Option<WishId>,
    },
    /// A citizen gave a booked appointment back: the slot is free again and goes to the queue.
    AppointmentReturned {
        offer: OfferId,
        wish: WishId,
        slot: SlotId,
        also: Vec<SlotId>,
        office: OfficeId,
        service: ServiceId,
        start: DateTime<Utc>,
        minutes: u16,
    },
    /// A free slot no waiting wish can take: the booking system may offer it to anyone.
    SlotUnclaimed {
        slot: SlotId,
        office: OfficeId,
        service: ServiceId,
        start: DateTime<Utc>,
        minutes: u16,
    },
}

impl DomainEvent {
    /// The event's name on the bus (`detail-type`).
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            DomainEvent::WishConfirmed { .. } => "WishConfirmed",
            DomainEvent::WishResumed { .. } => "WishResumed",
            DomainEvent::WishPaused { .. } => "WishPaused",
            DomainEvent::WishCancelled { .. } => "WishCancelled",
            DomainEvent::WishExpired { .. } => "WishExpired",
            DomainEvent::OfferSent { .. } => "OfferSent",
            DomainEvent::OfferAccepted { .. } => "OfferAccepted",
            DomainEvent::OfferDeclined { .. } => "OfferDeclined",
            DomainEvent::OfferExpired { .. } => "OfferExpired",
            DomainEvent::OfferWithdrawn { .. } => "OfferWithdrawn",
            DomainEvent::SlotWithdrawn { .. } => "SlotWithdrawn",
            DomainEvent::SlotUnclaimed { .. } => "SlotUnclaimed",
            DomainEvent::MailFailed { .. } => "MailFailed",
            DomainEvent::AppointmentReturned { .. } => "AppointmentReturned",
        }
    }

    /// The `detail` of a domain event on the bus: ids and the slot's state, never an address.
    #[must_use]
    pub fn detail(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            DomainEvent::WishConfirmed {
                wish,
                service,
                offices,
            } => json!({"wish": wish, "service": service, "offices": offices}),
            DomainEvent::WishResumed { wish }
            | DomainEvent::WishPaused { wish }
            | DomainEvent::WishCancelled { wish }
            | DomainEvent::WishExpired { wish } => json!({"wish": wish}),
            DomainEvent::OfferSent {
                offer,
                slot,
                also,
                wish,
                deadline,
            } => {
                json!({"offer": offer, "slot": slot, "slots": all(slot, also), "wish": wish,
                    "deadline": super::time::rfc3339(*deadline)})
            }
            DomainEvent::OfferAccepted {
                offer,
                slot,
                also,
                wish,
            }
            | DomainEvent::OfferDeclined {
                offer,
                slot,
                also,
                wish,
            }
            | DomainEvent::OfferExpired {
                offer,
                slot,
                also,
                wish,
            } => {
                json!({"offer": offer, "slot": slot, "slots": all(slot, also), "wish": wish})
            }
            DomainEvent::OfferWithdrawn { offer, slot, also } => {
                json!({"offer": offer, "slot": slot, "slots": all(slot, also)})
            }
            DomainEvent::SlotWithdrawn { slot } => json!({"slot": slot}),
            DomainEvent::MailFailed { mail, wish } => json!({"mail": mail, "wish": wish}),
            DomainEvent::SlotUnclaimed {
                slot,
                office,
                service,
                start,
                minutes,
            } => json!({"slot": {"id": slot, "office": office, "service": service,
                "start": super::time::rfc3339(*start), "minutes": minutes, "status": "free"}}),
            DomainEvent::AppointmentReturned {
                offer,
                wish,
                slot,
                also,
                office,
                service,
                start,
                minutes,
            } => json!({"offer": offer, "wish": wish, "slot": {"id": slot, "office": office,
                "service": service, "start": super::time::rfc3339(*start), "minutes": minutes,
                "status": "free"}, "slots": all(slot, also)}),
        }
    }
}

/// The first slot and the slots after it, as one list.
fn all(first: &SlotId, also: &[SlotId]) -> Vec<SlotId> {
    std::iter::once(first.clone())
        .chain(also.iter().cloned())
        .collect()
}
