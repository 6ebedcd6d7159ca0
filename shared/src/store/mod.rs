//! The `DynamoDB` adapter: one file per aggregate (`wishes`, `queue`, `slots`, `offers`,
//! `allocations` — the offers' hash-chained record —, `outbox`, `limits`, `counters`, `tallies` — the public statistics' —, `catalog`; `line_counts` for the lines' entries and their counts), the key layout in [`keys`], the transaction and
//! batch helpers in `tx`, the item shapes in `records`, stream images in [`stream`]. Table
//! design and access patterns: `docs/data-model.md`.
//!
//! Every state change that a citizen must hear about is one `TransactWriteItems` with conditions on
//! the current state, and the mail about it is written into the outbox in the same transaction. So
//! a change happens once or not at all, and its mail exists exactly when the change does.

mod allocations;
mod audit;
mod catalog;
mod counters;
pub mod keys;
mod limits;
mod line_counts;
mod offers;
mod outbox;
mod phone;
mod queue;
mod records;
mod recount;
mod slots;
pub mod stream;
mod tallies;
mod tx;
mod wishes;
mod writes;

use aws_sdk_dynamodb::Client;
use prelude::Duration;

/// What the aggregate files share: domain types, SDK types, keys and the builders of `tx` and
/// `writes` (`use super::prelude::*` in each).
mod prelude {
    pub(super) use super::keys::{
        ADDRESS_SK, AGE_DUE, CATALOG, ENQUEUE_DUE, MAIL_DUE, MAIL_SK, OFFER_COUNTERS_SK,
        OPEN_OFFERS, RELEASED_PREFIX, STATS, TOKEN_SK, due_sk, epoch, free_pk, free_sk, line_pk,
        mail_pk, party_line_pk, queue_key, released_sk, token_pk, ts,
    };
    pub(super) use super::limits::AddressRecord;
    pub(super) use super::records::{
        EventRecord, MailRecord, OfferRecord, QueueEntryRecord, SlotRecord, TokenRecord, WishRecord,
    };
    pub(super) use super::stream::Owed;
    pub(super) use super::tx::{Item, Lookup, Op, item, key, n, offer_key, s, slot_key, wish_key};
    pub(super) use super::writes::{Table, Values, Write};
    pub(super) use super::{
        AddressBook, Effects, LinkKind, OutgoingMail, Overview, QueueStat, Stats, Store,
        StoreError, keys, records, writes,
    };
    pub(super) use crate::domain::slot::SlotUpsert;
    pub(super) use crate::domain::wait;
    pub(super) use crate::domain::{
        Catalog, Offer, OfferId, OfferStatus, OfficeId, Proof, ServiceId, Slot, SlotId, SlotStatus,
        TokenHash, Window, Wish, WishId, WishStatus,
    };
    pub(super) use aws_sdk_dynamodb::error::SdkError;
    pub(super) use aws_sdk_dynamodb::types::{
        AttributeValue, Delete, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update,
    };
    pub(super) use chrono::{DateTime, Duration, Utc};
    pub(super) use std::collections::HashMap;
}

pub use crate::domain::outbox::{Effects, LinkKind, LinkToken, OutgoingMail, OwedEvent};
pub use crate::domain::stats::{GroupFigures, Overview, QueueStat, Stats};
pub use limits::{AddressBook, LimitKey};
pub use offers::OfferCommit;
pub use outbox::{DueMail, FeedEvent};
pub use phone::CallAttempt;
pub use queue::{Head, ListCursor, QueueEntry};
pub use recount::Recounted;
pub use slots::UpsertOutcome;
pub use wishes::AgeMark;

/// What went wrong talking to the database, in terms the use cases can act on. No variant
/// carries the service's message text: it may quote an item, and these errors are logged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition on the current state did not hold: someone else changed it first.
    #[error("the item changed concurrently")]
    Conflict,
    /// The database did not answer or refused: `op` is our operation, `code` the service's
    /// error code or the kind of transport failure.
    #[error("database unavailable in {op}: {code}")]
    Unavailable { op: &'static str, code: String },
    /// An item does not have the shape we write (a bug or a manual edit).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<aws_sdk_dynamodb::error::BuildError> for StoreError {
    fn from(e: aws_sdk_dynamodb::error::BuildError) -> Self {
        StoreError::Corrupt(format!("request build: {e}"))
    }
}

impl From<serde_dynamo::Error> for StoreError {
    fn from(e: serde_dynamo::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// How long personal data and links live.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// An unconfirmed wish vanishes after this.
    pub pending: Duration,
    /// An ended wish's data is deleted this long after it ended.
    pub ended: Duration,
    /// Wish links outlive the wish itself by at most this.
    pub token: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            pending: Duration::hours(24),
            ended: Duration::days(30),
            token: Duration::days(120),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    wishes: String,
    slots: String,
    limit_key: LimitKey,
    pub retention: Retention,
}

impl Store {
    #[must_use]
    pub fn new(
        client: Client,
        wishes_table: impl Into<String>,
        slots_table: impl Into<String>,
        limit_key: LimitKey,
    ) -> Self {
        Self {
            client,
            wishes: wishes_table.into(),
            slots: slots_table.into(),
            limit_key,
            retention: Retention::default(),
        }
    }

    /// The same tables and keys through another client (the local runner: each function's
    /// client signs with that function's credentials).
    #[must_use]
    pub fn with_client(&self, client: Client) -> Self {
        Self {
            client,
            ..self.clone()
        }
    }

    /// The store a function uses: the tables its configuration names.
    #[must_use]
    pub fn from_sdk(sdk: &aws_config::SdkConfig, config: &crate::Config) -> Self {
        Self::new(
            Client::new(sdk),
            &config.wishes_table,
            &config.slots_table,
            LimitKey::new(config.limits_key.as_ref()),
        )
    }
}
