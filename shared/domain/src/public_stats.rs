//! The public statistics (`/statistik`, `GET /api/statistics`): per office and service, how the
//! queue fared in the last [`WINDOW_DAYS`] days. Computed from small pre-aggregated tallies (one
//! per office, service and UTC day) and the queue-length counters — never from the wishes
//! themselves, so its cost does not grow with the queue.
//!
//! The figures of one office and service:
//! - `waiting`: the wishes standing in its line for the service (a wish for several offices
//!   counts at each of them), from the queue-length counters.
//! - `released_28d`: slots that entered the queue in the window — a new free slot or a booking
//!   given back or released; a slot coming back from a declined or expired offer is not counted
//!   again (the same count as the wish page's expected wait).
//! - `median_days_to_offer`: over the wishes whose **first** offer was made in the window (at this
//!   office), the median of the whole days from confirmation to that offer; `None` for fewer than
//!   [`MIN_FIRST_OFFERS`] such wishes, so no figure points at one person.
//! - `taken_share`: slots the queue booked (an offer accepted) in the window divided by the slots
//!   that entered the queue in the window, at most 1, to two decimals; `None` when none entered.
//!   Both are counted on the day they happen, so a slot that entered before the window and was
//!   booked in it counts only above the line: the figure is a ratio of the two flows, hence the
//!   cap.

use super::ids::{OfferId, OfficeId, ServiceId};
use super::wait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// How many days the statistics look back on (today included): the release counters' window.
pub const WINDOW_DAYS: u32 = wait::RELEASE_WINDOW_DAYS;

/// Below this many wishes first offered in the window there is no median.
pub const MIN_FIRST_OFFERS: u64 = 5;

/// Waits are counted in whole days up to this many; longer ones count as this many (the median
/// is only off when more than half the wishes waited a year or longer).
pub const MAX_WAIT_DAYS: u32 = 365;

/// Whole days from a wish's confirmation to its first offer (0 on the same day, never negative).
#[must_use]
pub fn days_to_first_offer(confirmed_at: DateTime<Utc>, offered_at: DateTime<Utc>) -> u32 {
    let days = (offered_at - confirmed_at).num_days().max(0);
    u32::try_from(days)
        .unwrap_or(MAX_WAIT_DAYS)
        .min(MAX_WAIT_DAYS)
}

/// The UTC day a tally counts an event on.
#[must_use]
pub fn tally_day(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
}

/// What the delivery of an `OfferSent` reads to count a first offer: of the offer, where and when
/// it was made; of its wish, when it was confirmed and which offer was its first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferFacts {
    pub offer: OfferId,
    pub office: OfficeId,
    pub service: ServiceId,
    pub offered_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The wish's first offer, as its first offer's transaction set it.
    pub first_offer: Option<OfferId>,
}

/// The whole days a wish waited for this offer, when it is the wish's first; `None` for a later
/// offer (or a wish that was never confirmed, which has no place in line to count from).
#[must_use]
pub fn first_offer_wait(facts: &OfferFacts) -> Option<u32> {
    if facts.first_offer.as_ref() != Some(&facts.offer) {
        return None;
    }
    Some(days_to_first_offer(facts.confirmed_at?, facts.offered_at))
}

/// What was counted for one office and service on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTally {
    pub day: NaiveDate,
    pub office: OfficeId,
    pub service: ServiceId,
    /// Slots that entered the queue.
    pub released: u64,
    /// Slots booked through an accepted offer.
    pub taken: u64,
    /// Wishes first offered that day: whole days waited → how many wishes.
    pub first_offers: BTreeMap<u32, u64>,
}

/// The median of a histogram (value → how often), `None` for fewer than [`MIN_FIRST_OFFERS`]
/// values. With an even count it is the mean of the two middle values (so it may end in `.5`).
#[must_use]
pub fn median_days(histogram: &BTreeMap<u32, u64>) -> Option<f64> {
    let total: u64 = histogram.values().sum();
    if total < MIN_FIRST_OFFERS {
        return None;
    }
    // The values at 0-based ranks (total − 1) / 2 and total / 2 of the sorted list.
    let value_at = |rank: u64| {
        let mut seen = 0u64;
        histogram.iter().find_map(|(value, n)| {
            seen += n;
            (seen > rank).then_some(*value)
        })
    };
    let low = value_at((total - 1) / 2)?;
    let high = value_at(total / 2)?;
    Some(f64::midpoint(f64::from(low), f64::from(high)))
}

/// Slots booked through the queue per slot that entered it, at most 1, to two decimals; `None`
/// when no slot entered.
#[must_use]
pub fn taken_share(taken: u64, released: u64) -> Option<f64> {
    if released == 0 {
        return None;
    }
    let hundredths = (taken.min(released) * 200 + released) / (2 * released);
    #[allow(clippy::cast_precision_loss)] // at most 100
    Some(hundredths as f64 / 100.0)
}

/// The figures of one office and service, in the contract's shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupFigures {
    pub office: OfficeId,
    pub service: ServiceId,
    pub waiting: u64,
    pub released_28d: u64,
    pub median_days_to_offer: Option<f64>,
    pub taken_share: Option<f64>,
    /// Wishes first offered in the window (what the median is taken over); not published.
    #[serde(skip)]
    pub first_offers_28d: u64,
}

/// The whole statistics, as `GET /api/statistics` answers them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicStats {
    #[serde(with = "super::time::stored")]
    pub updated_at: DateTime<Utc>,
    pub groups: Vec<GroupFigures>,
}

/// Released, taken, and the histogram of first offers of one office and service.
type Sums = (u64, u64, BTreeMap<u32, u64>);

/// The statistics at `now` for `groups` (each office with each service it offers, in the order
/// to show them): `waiting` from the queue counters (a negative count — a lost increment — is
/// 0), the rest summed over the tallies whose day is in the window. Tallies and counters of
/// other offices or services, and tallies outside the window, are ignored.
#[must_use]
pub fn summarize(
    groups: &[(OfficeId, ServiceId)],
    waiting: &[(OfficeId, ServiceId, i64)],
    tallies: &[DayTally],
    now: DateTime<Utc>,
) -> PublicStats {
    let window = wait::window_days(now);
    let mut sums: HashMap<(&OfficeId, &ServiceId), Sums> = HashMap::new();
    for t in tallies.iter().filter(|t| window.contains(&t.day)) {
        let (released, taken, histogram) = sums.entry((&t.office, &t.service)).or_default();
        *released += t.released;
        *taken += t.taken;
        for (days, n) in &t.first_offers {
            *histogram.entry(*days).or_default() += n;
        }
    }
    let groups = groups
        .iter()
        .map(|(office, service)| {
            let waiting = waiting
                .iter()
                .filter(|(o, s, _)| o == office && s == service)
                .map(|(_, _, n)| u64::try_from(*n).unwrap_or(0))
                .sum();
            let (released, taken, histogram) = sums.remove(&(office, service)).unwrap_or_default();
            GroupFigures {
                office: office.clone(),
                service: service.clone(),
                waiting,
                released_28d: released,
                median_days_to_offer: median_days(&histogram),
                taken_share: taken_share(taken, released),
                first_offers_28d: histogram.values().sum(),
            }
        })
        .collect();
    PublicStats {
        updated_at: now,
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hist(pairs: &[(u32, u64)]) -> BTreeMap<u32, u64> {
        pairs.iter().copied().collect()
    }

    /// The median as a textbook computes it: sort every value, take the middle (or the mean of
    /// the two middle ones).
    #[allow(clippy::manual_midpoint)] // the textbook form, on purpose: not the code under test
    fn naive_median(values: &[u32]) -> f64 {
        let mut v = values.to_vec();
        v.sort_unstable();
        let n = v.len();
        if n % 2 == 1 {
            f64::from(v[n / 2])
        } else {
            (f64::from(v[n / 2 - 1]) + f64::from(v[n / 2])) / 2.0
        }
    }

    #[test]
    fn whole_days_are_counted_from_the_confirmation() {
        let confirmed = t("2024-01-10T22:00:00Z");
        assert_eq!(days_to_first_offer(confirmed, t("2024-01-10T23:59:00Z")), 0);
        assert_eq!(days_to_first_offer(confirmed, t("2024-01-11T21:59:00Z")), 0);
        assert_eq!(days_to_first_offer(confirmed, t("2024-01-11T22:00:00Z")), 1);
        assert_eq!(
            days_to_first_offer(confirmed, t("2024-01-24T07:30:00Z")),
            13
        );
        // A clock that ran backwards says 0, a wish older than a year says a year.
        assert_eq!(days_to_first_offer(confirmed, t("2024-01-09T00:00:00Z")), 0);
        assert_eq!(
            days_to_first_offer(confirmed, t("2026-01-10T00:00:00Z")),
            MAX_WAIT_DAYS
        );
    }

    #[test]
    fn only_a_wishs_first_offer_is_counted() {
        let first = OfferId::parse("o-1").unwrap();
        let facts = OfferFacts {
            offer: first.clone(),
            office: office("bilk"),
            service: service("id-card"),
            offered_at: t("2024-01-24T07:30:00Z"),
            confirmed_at: Some(t("2024-01-20T09:00:00Z")),
            first_offer: Some(first.clone()),
        };
        assert_eq!(first_offer_wait(&facts), Some(3));
        let later = OfferFacts {
            offer: OfferId::parse("o-2").unwrap(),
            ..facts.clone()
        };
        assert_eq!(first_offer_wait(&later), None);
        let unmarked = OfferFacts {
            first_offer: None,
            ..facts.clone()
        };
        assert_eq!(first_offer_wait(&unmarked), None);
        let unconfirmed = OfferFacts {
            confirmed_at: None,
            ..facts
        };
        assert_eq!(first_offer_wait(&unconfirmed), None);
    }

    #[test]
    fn fewer_than_five_first_offers_have_no_median() {
        assert_eq!(median_days(&hist(&[])), None);
        assert_eq!(median_days(&hist(&[(3, 4)])), None);
        assert_eq!(median_days(&hist(&[(1, 1), (2, 1), (9, 2)])), None);
        assert_eq!(median_days(&hist(&[(3, 5)])), Some(3.0));
    }

    #[test]
    fn the_median_is_the_middle_wait() {
        // 0, 1, 1, 4, 20: the middle is 1.
        assert_eq!(
            median_days(&hist(&[(0, 1), (1, 2), (4, 1), (20, 1)])),
            Some(1.0)
        );
        // 2, 3, 5, 8, 13, 21: between 5 and 8.
        let even = hist(&[(2, 1), (3, 1), (5, 1), (8, 1), (13, 1), (21, 1)]);
        assert_eq!(median_days(&even), Some(6.5));
    }

    #[test]
    fn the_share_is_the_booked_part_of_the_released_slots() {
        assert_eq!(taken_share(0, 0), None);
        assert_eq!(taken_share(3, 0), None);
        assert_eq!(taken_share(0, 4), Some(0.0));
        assert_eq!(taken_share(2, 3), Some(0.67));
        assert_eq!(taken_share(1, 3), Some(0.33));
        assert_eq!(taken_share(1, 8), Some(0.13)); // 0.125 rounds up
        assert_eq!(taken_share(4, 4), Some(1.0));
        // Booked in the window, entered before it: never more than all of them.
        assert_eq!(taken_share(5, 4), Some(1.0));
    }

    fn office(s: &str) -> OfficeId {
        OfficeId::parse(s).unwrap()
    }

    fn service(s: &str) -> ServiceId {
        ServiceId::parse(s).unwrap()
    }

    fn tally(day: &str, o: &str, released: u64, taken: u64, waits: &[(u32, u64)]) -> DayTally {
        DayTally {
            day: NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap(),
            office: office(o),
            service: service("id-card"),
            released,
            taken,
            first_offers: hist(waits),
        }
    }

    #[test]
    fn the_figures_sum_the_days_in_the_window_per_office_and_service() {
        let now = t("2024-03-01T12:00:00Z");
        let groups = [
            (office("bilk"), service("id-card")),
            (office("mitte"), service("id-card")),
            (office("bilk"), service("passport")),
        ];
        let waiting = [
            (office("bilk"), service("id-card"), 7),
            (office("mitte"), service("id-card"), -1),
            (office("gone"), service("id-card"), 3),
        ];
        let tallies = [
            tally("2024-03-01", "bilk", 2, 1, &[(0, 1), (3, 2)]),
            tally("2024-02-03", "bilk", 1, 1, &[(10, 2)]), // the 28th day back: in
            tally("2024-02-02", "bilk", 50, 0, &[(99, 9)]), // the 29th: out
            tally("2024-03-02", "bilk", 50, 0, &[(99, 9)]), // tomorrow: out
            tally("2024-02-20", "mitte", 0, 0, &[(1, 4)]),
            tally("2024-02-20", "gone", 9, 9, &[(1, 9)]),
        ];
        let stats = summarize(&groups, &waiting, &tallies, now);
        assert_eq!(stats.updated_at, now);
        let [bilk, mitte, passport] = stats.groups.as_slice() else {
            panic!("{stats:?}");
        };
        assert_eq!(
            (bilk.office.as_ref(), bilk.service.as_ref()),
            ("bilk", "id-card")
        );
        assert_eq!((bilk.waiting, bilk.released_28d), (7, 3));
        // 0, 3, 3, 10, 10: the middle is 3.
        assert_eq!(
            (bilk.first_offers_28d, bilk.median_days_to_offer),
            (5, Some(3.0))
        );
        assert_eq!(bilk.taken_share, Some(0.67));
        assert_eq!(
            (
                mitte.waiting,
                mitte.released_28d,
                mitte.median_days_to_offer,
                mitte.taken_share
            ),
            (0, 0, None, None)
        );
        assert_eq!(mitte.first_offers_28d, 4);
        assert_eq!((passport.waiting, passport.released_28d), (0, 0));
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["updated_at"], "2024-03-01T12:00:00.000Z");
        assert_eq!(
            json["groups"][0],
            serde_json::json!({"office": "bilk", "service": "id-card", "waiting": 7,
                "released_28d": 3, "median_days_to_offer": 3.0, "taken_share": 0.67})
        );
        assert_eq!(
            json["groups"][1]["median_days_to_offer"],
            serde_json::Value::Null
        );
    }

    proptest! {
        #[test]
        fn the_median_of_the_histogram_is_the_median_of_the_waits(
            waits in proptest::collection::vec(0u32..400, 0..60)
        ) {
            let mut histogram = BTreeMap::new();
            for w in &waits {
                *histogram.entry(*w).or_insert(0u64) += 1;
            }
            let median = median_days(&histogram);
            if waits.len() < 5 {
                prop_assert_eq!(median, None);
            } else {
                let m = median.unwrap();
                prop_assert!((m - naive_median(&waits)).abs() < 1e-9);
                let (lo, hi) = (waits.iter().min().unwrap(), waits.iter().max().unwrap());
                prop_assert!(m >= f64::from(*lo) && m <= f64::from(*hi));
            }
        }

        #[test]
        fn the_share_is_a_rounded_fraction_between_0_and_1(taken in 0u64..10_000, released in 0u64..10_000) {
            match taken_share(taken, released) {
                None => prop_assert_eq!(released, 0),
                Some(share) => {
                    prop_assert!((0.0..=1.0).contains(&share));
                    #[allow(clippy::cast_precision_loss)]
                    let exact = (taken.min(released) as f64) / (released as f64);
                    prop_assert!((share - exact).abs() <= 0.005 + 1e-9, "{share} vs {exact}");
                    prop_assert!(((share * 100.0).round() - share * 100.0).abs() < 1e-9);
                }
            }
        }

        #[test]
        fn waits_are_never_negative_nor_beyond_a_year(a in 0i64..200_000_000, b in 0i64..200_000_000) {
            let (x, y) = (
                DateTime::from_timestamp(a, 0).unwrap(),
                DateTime::from_timestamp(b, 0).unwrap(),
            );
            let d = days_to_first_offer(x, y);
            prop_assert!(d <= MAX_WAIT_DAYS);
            if y >= x + chrono::Duration::days(1) && y < x + chrono::Duration::days(365) {
                prop_assert_eq!(i64::from(d), (y - x).num_days());
            }
        }
    }
}
