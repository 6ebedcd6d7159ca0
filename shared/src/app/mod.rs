//! The use cases: what happens when a citizen, a clerk, the stream or the schedule acts. Each one
//! reads what it needs (`store`), decides with pure domain code (`domain::lifecycle`, the
//! matching rule), writes the mail of the change (`mails`), commits state and mail in one
//! conditional transaction (`store`), and then hands the mail and events on for delivery
//! ([`deliver`]). HTTP and event handlers are thin wrappers around these functions.

mod allocations;
mod appointments;
mod catalog;
mod challenge;
mod deliver;
mod feedback;
pub use deliver::Delivery;
pub use feedback::{FeedbackKind, MailFeedback, mail_feedback};
mod feed;
mod lines;
mod matching;
mod offers;
mod phone;
mod rescan;
mod slots;
mod staff;
mod statistics;
mod wishes;

pub use crate::domain::allocation::AllocationReport;
pub use crate::domain::wait::Place;
pub use allocations::verify_allocations;
pub use appointments::{
    DirectEarlier, appointment_by_token, earlier_for_direct_booking, look_for_earlier,
    return_appointment,
};
pub use catalog::update_catalog;
pub use challenge::new_challenge;
pub use feed::{FEED_LIMIT_DEFAULT, FEED_LIMIT_MAX, FeedPage, events_feed};
pub use lines::{LineFilter, RecountPage, recount_lines};
pub use matching::{match_slot, match_slot_in_storm};
pub use offers::{accept_offer, cancel_from_offer, decline_offer, offer_by_token, wish_language};
pub use phone::{Call, Recorded, call_list, enter_phone_wish, record_answer, support_lookup_phone};
pub use rescan::{RescanReport, rescan};
pub use slots::{SlotsPut, Withdrawal, get_slot, put_slots, release_slot, stats, withdraw_slot};
pub use staff::{
    Upload, audit_log, free_slots_of, sign_in_blocked, sign_in_failed, staff_overview,
    support_cancel, support_lookup, upload_slots,
};
pub use statistics::{STATISTICS_MAX_AGE, public_statistics};
pub use wishes::{
    AddressRefusal, Submitted, cancel_by_link, cancel_wish, confirm_wish, keep_wish,
    places_in_line, submit_wish, wish_by_token,
};

use crate::config::Config;
use crate::domain::{Catalog, FieldErrors, LinkKind, Token};
use crate::events::Events;
use crate::mailer::Mailer;
use crate::mails::Mails;
use crate::render::RenderError;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::RwLock;

/// The time every rule is evaluated at. In Lambda it is the system clock; the local runner and
/// the tests can move it forward to try deadlines.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// How far this clock runs ahead of the system clock, in microseconds: fine enough for any
    /// wait a test skips (a feed settle time of a second), wide enough (±292 000 years) for any
    /// offset that leaves a time chrono can hold.
    offset_micros: Arc<AtomicI64>,
}

impl Clock {
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        let offset = self.offset_micros.load(Ordering::Relaxed);
        // Only a clock moved past chrono's range overflows: it stops at the end of time.
        Utc::now()
            .checked_add_signed(Duration::microseconds(offset))
            .unwrap_or(if offset < 0 {
                DateTime::<Utc>::MIN_UTC
            } else {
                DateTime::<Utc>::MAX_UTC
            })
    }

    /// Moves this clock (and every handler sharing it) forward by `by`, to the microsecond.
    pub fn advance_by(&self, by: Duration) {
        let micros = by.num_microseconds().unwrap_or(if by < Duration::zero() {
            i64::MIN
        } else {
            i64::MAX
        });
        // `fetch_update` with a closure that always answers `Some` cannot fail.
        let _ = self
            .offset_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |offset| {
                Some(offset.saturating_add(micros))
            });
    }

    /// Moves this clock forward by whole minutes (the local runner's `/_dev/clock` takes
    /// `advance_minutes`).
    pub fn advance(&self, minutes: i64) {
        self.advance_by(Duration::try_minutes(minutes).unwrap_or(if minutes < 0 {
            Duration::MIN
        } else {
            Duration::MAX
        }));
    }
}

/// How long a loaded catalogue is used before it is read again.
const CATALOG_TTL: std::time::Duration = std::time::Duration::from_mins(1);

/// Everything a handler needs, built once per process.
#[derive(Clone)]
pub struct Deps {
    pub store: Store,
    /// SES and the bus, for the functions that deliver what the outbox owes (deliver-outbox and
    /// match-offers' rescan); `None` in those that only commit it, so they build and link
    /// neither client.
    pub senders: Option<Senders>,
    pub config: Config,
    pub clock: Clock,
    catalog: Arc<RwLock<Option<CachedCatalog>>>,
    /// The public statistics as last computed ([`public_statistics`]).
    statistics: Arc<RwLock<Option<Arc<crate::domain::public_stats::PublicStats>>>>,
}

type CachedCatalog = (std::time::Instant, Arc<Catalog>);

/// What delivers the outbox: the mailer (SES) and the publisher (`EventBridge`).
#[derive(Clone)]
pub struct Senders {
    pub mailer: Mailer,
    pub events: Events,
}

impl Senders {
    #[must_use]
    pub fn new(
        config: &Config,
        sesv2: aws_sdk_sesv2::Client,
        eventbridge: aws_sdk_eventbridge::Client,
    ) -> Self {
        Self {
            mailer: Mailer::new(sesv2, config.ses_configuration_set.clone()),
            events: Events::new(eventbridge, &config.event_bus),
        }
    }
}

/// Why a use case did not do what was asked, in terms the edges map to statuses.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Unknown or expired link (404).
    #[error("not found")]
    NotFound,
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// The address takes no wish for now (422 or 429, the `email` field saying why and how to
    /// go on).
    #[error("address refused: {}", .0.code())]
    Address(AddressRefusal),
    /// Too many requests from one client or for one address (429).
    #[error("rate limited")]
    RateLimited,
    /// The submission's proof of work is missing or does not hold, and it is enforced (403).
    #[error("proof of work refused: {}", .0.code())]
    Challenge(crate::domain::ProofRefusal),
    /// The catalogue has not been loaded yet (503).
    #[error("service not configured: {0}")]
    NotConfigured(&'static str),
    /// The item kept changing under us through every retry (409).
    #[error("kept changing concurrently: {0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] RenderError),
}

impl Deps {
    /// The dependencies of a function that commits changes and their outbox but delivers
    /// nothing (the HTTP functions): `DynamoDB` only.
    #[must_use]
    pub fn new(config: Config, sdk: &aws_config::SdkConfig, clock: Clock) -> Self {
        Self::with(config, aws_sdk_dynamodb::Client::new(sdk), None, clock)
    }

    /// The dependencies of a function that delivers the outbox too (deliver-outbox,
    /// match-offers): `DynamoDB`, SES and the bus.
    #[must_use]
    pub fn delivering(config: Config, sdk: &aws_config::SdkConfig, clock: Clock) -> Self {
        let senders = Senders::new(
            &config,
            aws_sdk_sesv2::Client::new(sdk),
            aws_sdk_eventbridge::Client::new(sdk),
        );
        Self::with(
            config,
            aws_sdk_dynamodb::Client::new(sdk),
            Some(senders),
            clock,
        )
    }

    /// Builds from explicit clients, delivering (tests point each at its emulator).
    #[must_use]
    pub fn from_clients(
        config: Config,
        dynamodb: aws_sdk_dynamodb::Client,
        sesv2: aws_sdk_sesv2::Client,
        eventbridge: aws_sdk_eventbridge::Client,
        clock: Clock,
    ) -> Self {
        let senders = Senders::new(&config, sesv2, eventbridge);
        Self::with(config, dynamodb, Some(senders), clock)
    }

    fn with(
        config: Config,
        dynamodb: aws_sdk_dynamodb::Client,
        senders: Option<Senders>,
        clock: Clock,
    ) -> Self {
        let store = Store::new(
            dynamodb,
            &config.wishes_table,
            &config.slots_table,
            crate::store::LimitKey::new(config.limits_key.as_ref()),
        );
        Self {
            store,
            senders,
            config,
            clock,
            catalog: Arc::default(),
            statistics: Arc::default(),
        }
    }

    /// The offer a wish holds, if it is still open.
    pub(crate) async fn open_offer(
        &self,
        wish: &crate::domain::Wish,
    ) -> Result<Option<crate::domain::Offer>, AppError> {
        let Some(id) = &wish.open_offer else {
            return Ok(None);
        };
        Ok(self
            .store
            .get_offer(id)
            .await?
            .filter(|o| o.status == crate::domain::OfferStatus::Open))
    }

    /// The offices and services, cached for a minute.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, AppError> {
        if let Some((at, c)) = self.catalog.read().await.as_ref()
            && at.elapsed() < CATALOG_TTL
        {
            return Ok(c.clone());
        }
        let loaded = self
            .store
            .load_catalog()
            .await?
            .ok_or(AppError::NotConfigured(
                "no offices loaded: PUT /admin/catalog",
            ))?;
        let loaded = Arc::new(loaded);
        *self.catalog.write().await = Some((std::time::Instant::now(), loaded.clone()));
        Ok(loaded)
    }

    /// Stores a new catalogue and uses it at once.
    pub async fn replace_catalog(&self, catalog: Catalog) -> Result<(), AppError> {
        self.store.put_catalog(&catalog).await?;
        *self.catalog.write().await = Some((std::time::Instant::now(), Arc::new(catalog)));
        Ok(())
    }

    /// The id a link opens, with its token: `NotFound` for anything else (malformed, unknown,
    /// expired, or a link of another kind).
    async fn resolve_link(&self, token: &str, kind: LinkKind) -> Result<(String, Token), AppError> {
        let token = Token::parse(token).ok_or(AppError::NotFound)?;
        let target = self
            .store
            .resolve_token(&token.hash(), kind, self.clock.now())
            .await?
            .ok_or(AppError::NotFound)?;
        Ok((target, token))
    }

    /// The mail writer for a change made at `now`.
    fn mails<'a>(&'a self, catalog: &'a Catalog, now: DateTime<Utc>) -> Mails<'a> {
        Mails::new(&self.config, catalog, self.store.retention.token, now)
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;
    use chrono::{DateTime, Duration, Utc};

    /// How far `clock` runs ahead of the system clock (read first, so never more than it is).
    fn ahead(clock: &Clock) -> Duration {
        clock.now() - Utc::now()
    }

    #[test]
    fn the_clock_moves_by_any_duration_and_by_whole_minutes_for_every_clone() {
        let clock = Clock::default();
        let shared = clock.clone();
        clock.advance_by(Duration::milliseconds(1500));
        let a = ahead(&shared);
        assert!(
            a > Duration::milliseconds(1400) && a <= Duration::milliseconds(1500),
            "{a}"
        );
        shared.advance(2);
        let a = ahead(&clock);
        assert!(
            a > Duration::milliseconds(121_400) && a <= Duration::milliseconds(121_500),
            "{a}"
        );
    }

    #[test]
    fn a_clock_moved_past_the_end_of_time_stops_there() {
        let clock = Clock::default();
        clock.advance(i64::MAX);
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
        clock.advance_by(Duration::MAX);
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
    }
}
