//! What a committed change owes the outside world, as plain data: the rendered mail with the
//! fresh link tokens it carries, and the domain events. The store writes them in the change's
//! transaction; delivery reads them from there.

use super::lifecycle::DomainEvent;
use super::token::TokenHash;
use chrono::{DateTime, Utc};

/// Everything a change owes, written in its transaction.
#[derive(Debug, Clone)]
pub struct Effects {
    /// The change's idempotency key (its mail's, when it has one); its events are keyed after it.
    pub key: String,
    pub mail: Option<OutgoingMail>,
    pub events: Vec<DomainEvent>,
}

impl Effects {
    /// A change that tells the citizen (`mail`) and the booking system (`events`).
    #[must_use]
    pub fn mail(mail: OutgoingMail, events: Vec<DomainEvent>) -> Self {
        Self {
            key: mail.key.clone(),
            mail: Some(mail),
            events,
        }
    }

    /// A change that only the booking system hears about.
    #[must_use]
    pub fn events(key: impl Into<String>, events: Vec<DomainEvent>) -> Self {
        Self {
            key: key.into(),
            mail: None,
            events,
        }
    }

    /// The outbox keys of the events, in order: `<change key>#<n>-<event name>`.
    pub fn event_keys(&self) -> impl Iterator<Item = (String, &DomainEvent)> {
        self.events
            .iter()
            .enumerate()
            .map(|(i, e)| (format!("{}#{i}-{}", self.key, e.name()), e))
    }
}

/// A domain event owed to the bus, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedEvent {
    pub key: String,
    /// The event's name (`detail-type`).
    pub name: String,
    /// The JSON detail.
    pub detail: String,
    /// The lease the reader saw (the rescan takes over an event only from that lease).
    pub lease: String,
}

/// A rendered mail, ready for the outbox.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    /// Idempotency key: one mail per event, e.g. `offer-<id>-sent`.
    pub key: String,
    pub to: String,
    pub raw: String,
    /// Fresh link tokens that appear in this mail; stored (as hashes) with it.
    pub tokens: Vec<LinkToken>,
}

/// What a link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Wish,
    Offer,
}

/// A new link: the hash of a fresh token, what it opens, and until when.
#[derive(Debug, Clone)]
pub struct LinkToken {
    pub hash: TokenHash,
    pub kind: LinkKind,
    pub target: String,
    pub expires_at: DateTime<Utc>,
}
