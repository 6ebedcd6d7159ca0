//! A rough expected wait for a place in line, from how many slots entered that line recently.
//!
//! Releases are counted per line (office, service, weekday, hour of the slot's local start) in
//! one bucket per UTC day. The estimate assumes the line keeps moving at the rate of the last
//! [`RELEASE_WINDOW_DAYS`] days and that each slot entering it moves it by one wish: with `ahead`
//! wishes in front, the wait is about `(ahead + 1) / rate`. It is a rough figure by nature
//! (wishes ahead may cancel or be served by another of their lines; a re-delivered stream record
//! may count twice), and the page says so.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// How many days of releases the estimate looks back on (today included).
pub const RELEASE_WINDOW_DAYS: u32 = 28;

/// Below this many releases in the window there is no estimate: one release says nothing about a
/// rate.
pub const MIN_RELEASES: u64 = 2;

/// Waits shorter than this many days are said in days, longer ones in weeks.
const DAYS_UP_TO: u64 = 14;

const BUCKET_PREFIX: char = 'd';

/// The name of the day bucket a release at `at` is counted in: `d20240124` (its UTC date).
#[must_use]
pub fn release_bucket(at: DateTime<Utc>) -> String {
    format!("{BUCKET_PREFIX}{}", at.format("%Y%m%d"))
}

/// The day of a bucket name; `None` for anything that is not one.
fn bucket_day(name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix(BUCKET_PREFIX)?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

/// The first day still in the window at `now`.
fn window_start(now: DateTime<Utc>) -> NaiveDate {
    (now - Duration::days(i64::from(RELEASE_WINDOW_DAYS) - 1)).date_naive()
}

/// The days in the window at `now`: the last [`RELEASE_WINDOW_DAYS`] UTC days, today included.
#[must_use]
pub fn window_days(now: DateTime<Utc>) -> std::ops::RangeInclusive<NaiveDate> {
    window_start(now)..=now.date_naive()
}

/// Whether `name` is a bucket at all (a line's item holds other attributes too).
#[must_use]
pub fn is_bucket(name: &str) -> bool {
    bucket_day(name).is_some()
}

/// Releases counted in the buckets that are inside the window at `now`. Buckets from before the
/// window, from the future (a clock moved back) and other attributes are ignored.
#[must_use]
pub fn releases_in_window<'a>(
    buckets: impl IntoIterator<Item = (&'a str, u64)>,
    now: DateTime<Utc>,
) -> u64 {
    let (from, to) = (window_start(now), now.date_naive());
    buckets
        .into_iter()
        .filter(|(name, _)| bucket_day(name).is_some_and(|d| d >= from && d <= to))
        .map(|(_, n)| n)
        .sum()
}

/// Bucket names that have left the window at `now`, to be removed so a line's item stays small.
#[must_use]
pub fn stale_buckets<'a>(
    names: impl IntoIterator<Item = &'a str>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let from = window_start(now);
    names
        .into_iter()
        .filter(|name| bucket_day(name).is_some_and(|d| d < from))
        .map(str::to_owned)
        .collect()
}

/// A rough wait, as people say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedWait {
    /// About this many days (1 to 13).
    Days(u64),
    /// About this many weeks (2 or more).
    Weeks(u64),
}

/// The expected wait of a wish with `ahead` wishes in front of it in a line that saw `releases`
/// slots enter it in the last [`RELEASE_WINDOW_DAYS`] days; `None` when there are too few
/// releases to say.
#[must_use]
pub fn expected_wait(ahead: usize, releases: u64) -> Option<ExpectedWait> {
    if releases < MIN_RELEASES {
        return None;
    }
    let places = u64::try_from(ahead).unwrap_or(u64::MAX).saturating_add(1);
    // wait = places / (releases / window) days, kept in whole numbers.
    let numerator = places.saturating_mul(u64::from(RELEASE_WINDOW_DAYS));
    let days = numerator.div_ceil(releases).max(1);
    if days < DAYS_UP_TO {
        return Some(ExpectedWait::Days(days));
    }
    // Rounded to the nearest week: numerator / (7 × releases) + ½.
    let weeks = (numerator.saturating_mul(2) + 7 * releases) / (14 * releases);
    Some(ExpectedWait::Weeks(weeks.max(2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_release_is_counted_on_its_utc_day() {
        assert_eq!(release_bucket(t("2024-01-24T07:30:00Z")), "d20240124");
        // 00:30 in Berlin on the 25th is still the 24th in UTC.
        assert_eq!(release_bucket(t("2024-01-25T00:30:00+01:00")), "d20240124");
    }

    #[test]
    fn only_the_last_28_days_count() {
        let now = t("2024-03-01T12:00:00Z");
        let buckets = [
            ("d20240301", 1), // today
            ("d20240203", 2), // the 28th day back, still in
            ("d20240202", 4), // the 29th, out
            ("d20240302", 8), // tomorrow (a clock moved back), ignored
            ("expires_at", 16),
            ("office", 32),
        ];
        assert_eq!(releases_in_window(buckets, now), 3);
    }

    #[test]
    fn buckets_that_left_the_window_are_named_for_removal() {
        let now = t("2024-03-01T12:00:00Z");
        let names = [
            "d20240301",
            "d20240203",
            "d20240202",
            "d20231224",
            "expires_at",
            "dx",
        ];
        assert_eq!(stale_buckets(names, now), ["d20240202", "d20231224"]);
        assert!(is_bucket("d20240202"));
        assert!(!is_bucket("d2024020"));
        assert!(!is_bucket("d20241302"));
        assert!(!is_bucket("office"));
    }

    #[test]
    fn too_few_releases_give_no_estimate() {
        assert_eq!(expected_wait(0, 0), None);
        assert_eq!(expected_wait(5, 1), None);
    }

    #[test]
    fn short_waits_are_said_in_days() {
        // 28 releases in 28 days: one a day. First in line: about a day.
        assert_eq!(expected_wait(0, 28), Some(ExpectedWait::Days(1)));
        // Many releases: never less than a day.
        assert_eq!(expected_wait(0, 500), Some(ExpectedWait::Days(1)));
        // Two ahead, 12 releases: 3 × 28 / 12 = 7 days.
        assert_eq!(expected_wait(2, 12), Some(ExpectedWait::Days(7)));
        // 28 / 3 ≈ 9.3 days, rounded up.
        assert_eq!(expected_wait(0, 3), Some(ExpectedWait::Days(10)));
        // 7 × 28 / 15 ≈ 13.1 days, rounded up to 14: that is said in weeks.
        assert_eq!(expected_wait(6, 15), Some(ExpectedWait::Weeks(2)));
    }

    #[test]
    fn long_waits_are_said_in_weeks() {
        // Two releases in 28 days, first in line: 14 days = 2 weeks.
        assert_eq!(expected_wait(0, 2), Some(ExpectedWait::Weeks(2)));
        // Three ahead, 4 releases (one a week): 4 weeks.
        assert_eq!(expected_wait(3, 4), Some(ExpectedWait::Weeks(4)));
        // 10 ahead, 3 releases: 11 × 28 / 3 ≈ 102.7 days ≈ 14.7 weeks → 15.
        assert_eq!(expected_wait(10, 3), Some(ExpectedWait::Weeks(15)));
        // 10 ahead, 7 releases: 44 days ≈ 6.3 weeks → 6.
        assert_eq!(expected_wait(10, 7), Some(ExpectedWait::Weeks(6)));
    }

    #[test]
    fn a_longer_line_never_waits_less() {
        for releases in MIN_RELEASES..60 {
            let mut last = 0;
            for ahead in 0..200 {
                let days = match expected_wait(ahead, releases).unwrap() {
                    ExpectedWait::Days(d) => d,
                    ExpectedWait::Weeks(w) => w * 7,
                };
                assert!(days >= last, "{ahead} ahead, {releases} releases");
                last = days;
            }
        }
    }
}

/// One line a wish stands in, as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub office: super::OfficeId,
    pub window: super::Window,
    /// Wishes ahead of this one in the line.
    pub ahead: usize,
    /// A rough wait from the slots that entered this line lately; `None` when too few did.
    pub wait: Option<ExpectedWait>,
}
