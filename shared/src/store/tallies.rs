//! The public statistics' counters (`/statistik`): one small item per office, service and UTC day
//! under `STATS` (`TALLY#<yyyymmdd>#<office>#<service>`), counting the slots that entered the
//! queue, the slots the queue booked, and the wishes first offered (by whole days waited). Like
//! the other counters they are updated outside every transaction and off the offer path — by
//! slot-release and by the delivery of `OfferSent` — one `UpdateItem` each; a failure is only
//! logged, a record delivered twice counts twice: the figures are estimates.

use super::prelude::*;
use crate::domain::public_stats::{DayTally, OfferFacts, WINDOW_DAYS};
use chrono::NaiveDate;

/// A tally is read while its day is in the window; kept two days longer, then TTL deletes it.
const TALLY_KEPT_DAYS: i64 = WINDOW_DAYS as i64 + 2;

/// What the delivery reads of an offer and of its wish: nothing personal (deliver-outbox's role
/// may read only these attributes).
pub const FACT_ATTRIBUTES: [&str; 7] = [
    keys::PK,
    keys::SK,
    "office",
    "service",
    "created_at",
    "confirmed_at",
    keys::FIRST_OFFER,
];

impl Store {
    /// One more `field` in the tally of `office`, `service` and `day`.
    async fn tally(&self, office: &OfficeId, service: &ServiceId, day: NaiveDate, field: &str) {
        let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
        let v = Values::new()
            .name("#field", field)
            .with(
                ":expires",
                n(epoch(start + Duration::days(TALLY_KEPT_DAYS))),
            )
            .with(":office", s(office.as_ref()))
            .with(":service", s(service.as_ref()));
        let key = key(STATS.into(), &keys::tally_sk(day, office, service));
        let update = writes::update(&self.wishes, key, Write::Tallied, &v);
        self.count(update, "statistics tally").await;
    }

    /// A slot entered the queue at `at` (slot-release).
    pub async fn tally_released(&self, office: &OfficeId, service: &ServiceId, at: DateTime<Utc>) {
        let day = at.date_naive();
        self.tally(office, service, day, keys::TALLY_RELEASED).await;
    }

    /// The queue booked a slot at `at`: an offer for it was accepted (slot-release).
    pub async fn tally_taken(&self, office: &OfficeId, service: &ServiceId, at: DateTime<Utc>) {
        let day = at.date_naive();
        self.tally(office, service, day, keys::TALLY_TAKEN).await;
    }

    /// A wish's first offer, made at `at` after `days` whole days in line (deliver-outbox).
    pub async fn tally_first_offer(
        &self,
        office: &OfficeId,
        service: &ServiceId,
        at: DateTime<Utc>,
        days: u32,
    ) {
        let field = keys::first_offer_field(days);
        self.tally(office, service, at.date_naive(), &field).await;
    }

    /// Of an offer and its wish, what tells whether it was the wish's first offer
    /// ([`crate::domain::public_stats::first_offer_wait`]): one consistent `BatchGetItem` of
    /// [`FACT_ATTRIBUTES`] only. `None` when the offer is gone (its data expired).
    pub async fn offer_facts(
        &self,
        offer: &OfferId,
        wish: &WishId,
    ) -> Result<Option<OfferFacts>, StoreError> {
        let items = self
            .batch_get_only(vec![offer_key(offer), wish_key(wish)], &FACT_ATTRIBUTES)
            .await?;
        let text = |item: &Item, name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let time = |item: &Item, name: &str| {
            text(item, name).and_then(|t| {
                DateTime::parse_from_rfc3339(&t)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            })
        };
        let is = |item: &Item, pk: &str| text(item, keys::PK).as_deref() == Some(pk);
        let Some(o) = items.iter().find(|i| is(i, &keys::offer_pk(offer))) else {
            return Ok(None);
        };
        let w = items.iter().find(|i| is(i, &keys::wish_pk(wish)));
        let parsed = (|| {
            Some(OfferFacts {
                offer: offer.clone(),
                office: OfficeId::parse(&text(o, "office")?).ok()?,
                service: ServiceId::parse(&text(o, "service")?).ok()?,
                offered_at: time(o, "created_at")?,
                confirmed_at: w.and_then(|w| time(w, "confirmed_at")),
                first_offer: w
                    .and_then(|w| text(w, keys::FIRST_OFFER))
                    .and_then(|id| OfferId::parse(&id).ok()),
            })
        })();
        parsed
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt(format!("offer {offer} without its place or time")))
    }

    /// What the public statistics are made of at `now`: every queue counter (office, service,
    /// wishes in line) and the tallies of the days in the window. Two queries of the `STATS`
    /// partition (each paged), whose size grows with offices × services × days, never with
    /// the wishes.
    pub async fn public_counters(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<(OfficeId, ServiceId, i64)>, Vec<DayTally>), StoreError> {
        let ids = |item: &Item| {
            let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok());
            Some((
                OfficeId::parse(text("office")?).ok()?,
                ServiceId::parse(text("service")?).ok()?,
            ))
        };
        let number = |v: &AttributeValue| v.as_n().ok().and_then(|n| n.parse::<i64>().ok());
        let queues = Values::default()
            .with(":pk", s(STATS))
            .with(":prefix", s(keys::QUEUE_COUNTER_PREFIX));
        let waiting = self
            .query_all("pk = :pk AND begins_with(sk, :prefix)", &queues)
            .await?
            .iter()
            .filter_map(|item| {
                let (office, service) = ids(item)?;
                Some((office, service, item.get("waiting").and_then(number)?))
            })
            .collect();
        let window = wait::window_days(now);
        let (from, to) = keys::tally_range(*window.start(), *window.end());
        let range = Values::default()
            .with(":pk", s(STATS))
            .with(":from", s(from))
            .with(":to", s(to));
        let tallies = self
            .query_all("pk = :pk AND sk BETWEEN :from AND :to", &range)
            .await?
            .iter()
            .filter_map(|item| {
                let (office, service) = ids(item)?;
                let day = keys::tally_day(item.get(keys::SK)?.as_s().ok()?)?;
                let count = |name: &str| {
                    item.get(name)
                        .and_then(number)
                        .and_then(|n| u64::try_from(n).ok())
                        .unwrap_or(0)
                };
                let first_offers = item
                    .iter()
                    .filter_map(|(name, v)| {
                        let days = keys::first_offer_days(name)?;
                        Some((days, u64::try_from(number(v)?).ok()?))
                    })
                    .collect();
                Some(DayTally {
                    day,
                    office,
                    service,
                    released: count(keys::TALLY_RELEASED),
                    taken: count(keys::TALLY_TAKEN),
                    first_offers,
                })
            })
            .collect();
        Ok((waiting, tallies))
    }

    /// Every item of the wishes table a key condition finds, page by page.
    async fn query_all(&self, condition: &str, values: &Values) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let lookup = Lookup {
                start,
                ..Lookup::new(condition, values.clone())
            };
            let out = self.query(Table::Wishes, lookup, "read tallies").await?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}
