//! What a committed change owes the outside world, as plain data: the rendered mail and the
//! fresh link tokens it carries. The store writes them in the change's transaction.

use super::token::TokenHash;
use chrono::{DateTime, Utc};

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
