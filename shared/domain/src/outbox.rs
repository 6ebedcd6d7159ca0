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
    /// A member of staff made the change (the console): its audit entry, kept until the time
    /// given (the end of the data it is about), in the same transaction.
    pub audit: Option<(super::staff::AuditEntry, DateTime<Utc>)>,
}

impl Effects {
    /// A change that tells the citizen (`notice`: its mail, none for a wish taken by phone) and
    /// the booking system (`events`).
    #[must_use]
    pub fn mail(notice: impl Into<Notice>, events: Vec<DomainEvent>) -> Self {
        let notice = notice.into();
        Self {
            key: notice.key,
            mail: notice.mail,
            events,
            audit: None,
        }
    }

    /// The change, made by a member of staff: `entry` goes into its transaction, kept until
    /// `until`.
    #[must_use]
    pub fn audited(mut self, entry: Option<(super::staff::AuditEntry, DateTime<Utc>)>) -> Self {
        self.audit = entry;
        self
    }

    /// A change that only the booking system hears about.
    #[must_use]
    pub fn events(key: impl Into<String>, events: Vec<DomainEvent>) -> Self {
        Self {
            key: key.into(),
            mail: None,
            events,
            audit: None,
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
    /// Delivery attempts so far (each claim counts one).
    pub attempts: u32,
}

/// The first lease of an outbox item: whoever delivers it first has this long before the
/// rescan may take it over.
pub const FIRST_LEASE: chrono::Duration = chrono::Duration::minutes(2);
/// The longest wait between two attempts.
pub const LONGEST_RETRY: chrono::Duration = chrono::Duration::hours(4);

/// How long an attempt that follows `attempts` earlier ones holds its lease: the first lease,
/// doubled with every attempt (2, 4, 8 … minutes), at most [`LONGEST_RETRY`]. A mail or event
/// that keeps failing is tried less and less often, not every rescan.
#[must_use]
pub fn retry_lease(attempts: u32) -> chrono::Duration {
    let factor = 1_i32.checked_shl(attempts.min(16)).unwrap_or(i32::MAX);
    FIRST_LEASE
        .checked_mul(factor)
        .map_or(LONGEST_RETRY, |d| d.min(LONGEST_RETRY))
}

/// A rendered mail, ready for the outbox.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    /// Idempotency key: one mail per event, e.g. `offer-<id>-sent`.
    pub key: String,
    /// The wish it is about (paused when the mail cannot be delivered).
    pub wish: super::ids::WishId,
    pub to: String,
    pub raw: String,
    /// Fresh link tokens that appear in this mail; stored (as hashes) with it.
    pub tokens: Vec<LinkToken>,
}

/// What a change tells the person behind a wish: its idempotency key, and the mail — none when
/// the wish was taken by phone or at the counter (its person has no address: a clerk tells them,
/// from the console's call list).
#[derive(Debug, Clone)]
pub struct Notice {
    pub key: String,
    pub mail: Option<OutgoingMail>,
}

impl Notice {
    /// A further link token that the mail carries (nothing for a notice without mail: no link
    /// goes out, so none is stored).
    #[must_use]
    pub fn with_token(mut self, token: LinkToken) -> Self {
        if let Some(mail) = &mut self.mail {
            mail.tokens.push(token);
        }
        self
    }
}

impl From<OutgoingMail> for Notice {
    fn from(mail: OutgoingMail) -> Self {
        Self {
            key: mail.key.clone(),
            mail: Some(mail),
        }
    }
}

/// What a link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Wish,
    Offer,
    /// A booked appointment's page (`/a/{token}`): its target is the accepted offer.
    Appointment,
}

/// A new link: the hash of a fresh token, what it opens, and until when.
#[derive(Debug, Clone)]
pub struct LinkToken {
    pub hash: TokenHash,
    pub kind: LinkKind,
    pub target: String,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_the_longest_wait() {
        let minutes: Vec<i64> = (0..10).map(|n| retry_lease(n).num_minutes()).collect();
        assert_eq!(minutes, [2, 4, 8, 16, 32, 64, 128, 240, 240, 240]);
        assert_eq!(retry_lease(u32::MAX), LONGEST_RETRY);
        // Within a day a mail is tried about a dozen times, not 288 times (every rescan).
        let mut at = chrono::Duration::zero();
        let mut tries = 0;
        while at < chrono::Duration::hours(24) {
            at += retry_lease(tries);
            tries += 1;
        }
        assert!((10..=14).contains(&tries), "{tries}");
    }
}
