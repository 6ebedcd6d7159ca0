//! Quiet hours: the nightly stretch, in the office's local time, during which an offer's response
//! clock does not run (DESIGN.md, "Timing"). Waking time is every moment outside them.
//!
//! Daylight saving is taken as the wall clock shows it: a night of 22:00–07:00 lasts 8 hours
//! when the clocks go forward and 10 when they go back, and the waking hours around it are
//! counted in real (UTC) time.

use super::time::OFFICE_TZ;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use std::fmt;

/// The nightly quiet hours, from `begin` to `end` in local time; `end` before `begin` means the
/// stretch runs over midnight (22:00–07:00), `end` after it a stretch within one day
/// (00:00–06:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    begin: NaiveTime,
    end: NaiveTime,
}

/// Quiet hours that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a stretch of time like 22:00-07:00")]
pub struct QuietHoursError(pub String);

impl QuietHours {
    /// # Errors
    /// When `begin` and `end` are the same time (no stretch at all; switch them off instead).
    pub fn new(begin: NaiveTime, end: NaiveTime) -> Result<Self, QuietHoursError> {
        if begin == end {
            return Err(QuietHoursError(format!("{begin}-{end}")));
        }
        Ok(Self { begin, end })
    }

    /// Reads `HH:MM-HH:MM` (also with `–`); an empty text or `off` is no quiet hours at all.
    ///
    /// # Errors
    /// When the text is neither empty nor two times of day apart.
    pub fn parse(text: &str) -> Result<Option<Self>, QuietHoursError> {
        let text = text.trim();
        if text.is_empty() || text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let bad = || QuietHoursError(text.to_owned());
        let (begin, end) = text
            .split_once('-')
            .or_else(|| text.split_once('–'))
            .ok_or_else(bad)?;
        let time = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| bad());
        Self::new(time(begin)?, time(end)?)
            .map(Some)
            .map_err(|_| bad())
    }

    /// Local begin, as the pages and mails name it.
    #[must_use]
    pub fn begin(self) -> NaiveTime {
        self.begin
    }

    /// Local end, as the pages and mails name it.
    #[must_use]
    pub fn end(self) -> NaiveTime {
        self.end
    }

    /// The quiet stretch that begins on local date `day`, in UTC.
    fn night(self, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let end_day = if self.end < self.begin {
            day.succ_opt().unwrap_or(day)
        } else {
            day
        };
        (at(day, self.begin), at(end_day, self.end))
    }

    /// The first quiet stretch that has not ended at `t`: the one `t` lies in, or the next.
    fn night_at_or_after(self, t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let today = t.with_timezone(&OFFICE_TZ).date_naive();
        // Yesterday's night may still run at `t`; one of these three has not ended yet.
        let mut day = today.pred_opt().unwrap_or(today);
        loop {
            let (begin, end) = self.night(day);
            if end > t || day > today {
                return (begin, end);
            }
            day = day.succ_opt().unwrap_or(day);
        }
    }

    /// Whether `t` lies in quiet hours.
    #[must_use]
    pub fn contains(self, t: DateTime<Utc>) -> bool {
        let (begin, end) = self.night_at_or_after(t);
        begin <= t && t < end
    }

    /// The moment at which `waking` of waking time have passed since `from` (counting from
    /// the end of the night when `from` lies in one).
    #[must_use]
    pub fn after_waking(self, from: DateTime<Utc>, waking: Duration) -> DateTime<Utc> {
        let mut t = from;
        let mut left = waking;
        // Each turn passes one night; a response clock is days, not years, long.
        for _ in 0..10_000 {
            let (begin, end) = self.night_at_or_after(t);
            if t >= begin {
                t = end;
                continue;
            }
            if t + left <= begin {
                return t + left;
            }
            left -= begin - t;
            t = end;
        }
        t + left
    }

    /// The waking time between `from` and `to` (zero when `to` is not after `from`).
    #[must_use]
    pub fn waking_between(self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        let mut t = from;
        let mut waking = Duration::zero();
        for _ in 0..10_000 {
            if t >= to {
                break;
            }
            let (begin, end) = self.night_at_or_after(t);
            if t < begin {
                waking += begin.min(to) - t;
            }
            t = end;
        }
        waking
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.begin.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

/// `time` on local date `day` in UTC: a time the clocks skip (the spring gap) is the first
/// moment after the gap; a time they show twice (the autumn hour) is its first showing.
fn at(day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = day.and_time(time);
    match OFFICE_TZ.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        chrono::LocalResult::None => {
            // Walk to the end of the gap (an hour in Europe/Berlin), a minute at a time.
            (1..=180)
                .map(|m| local + Duration::minutes(m))
                .find_map(|later| OFFICE_TZ.from_local_datetime(&later).earliest())
                .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn night() -> QuietHours {
        QuietHours::parse("22:00-07:00").unwrap().unwrap()
    }

    #[test]
    fn parsing_accepts_a_stretch_and_empty_switches_them_off() {
        assert_eq!(QuietHours::parse("").unwrap(), None);
        assert_eq!(QuietHours::parse("  ").unwrap(), None);
        assert_eq!(QuietHours::parse("off").unwrap(), None);
        assert_eq!(night().to_string(), "22:00-07:00");
        assert_eq!(
            QuietHours::parse("00:00–06:30")
                .unwrap()
                .unwrap()
                .to_string(),
            "00:00-06:30"
        );
        for bad in ["22-7", "22:00", "25:00-07:00", "07:00-07:00", "night"] {
            assert!(QuietHours::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_night_is_quiet_and_the_day_is_not() {
        // Winter: 22:00 local is 21:00 UTC.
        assert!(!night().contains(t("2024-01-19T20:59:00Z")));
        assert!(night().contains(t("2024-01-19T21:00:00Z")));
        assert!(night().contains(t("2024-01-20T05:59:00Z")));
        assert!(!night().contains(t("2024-01-20T06:00:00Z")));
    }

    #[test]
    fn an_offer_at_23_25_runs_from_7() {
        // Friday 19 January 2024, 23:25 local: the clock starts on Saturday at 07:00.
        let from = t("2024-01-19T22:25:00Z");
        assert_eq!(
            night().after_waking(from, Duration::hours(1)),
            t("2024-01-20T07:00:00Z")
        );
        // 24 waking hours: 15 on Saturday (7–22), 9 on Sunday (7–16).
        assert_eq!(
            night().after_waking(from, Duration::hours(24)),
            t("2024-01-21T15:00:00Z")
        );
    }

    #[test]
    fn a_stretch_within_one_day_is_quiet_too() {
        let early = QuietHours::parse("00:00-06:00").unwrap().unwrap();
        assert!(early.contains(t("2024-01-19T23:30:00Z"))); // 00:30 local
        assert!(!early.contains(t("2024-01-20T05:00:00Z"))); // 06:00 local
        assert_eq!(
            early.after_waking(t("2024-01-19T22:30:00Z"), Duration::hours(1)),
            t("2024-01-20T05:30:00Z")
        );
    }

    #[test]
    fn nights_over_daylight_saving_changes_last_as_the_wall_clock_shows() {
        // 30/31 March 2024: 22:00 CET to 07:00 CEST is 8 real hours.
        let (b, e) = night().night_at_or_after(t("2024-03-30T22:00:00Z"));
        assert_eq!(
            (b, e),
            (t("2024-03-30T21:00:00Z"), t("2024-03-31T05:00:00Z"))
        );
        // 26/27 October 2024: 22:00 CEST to 07:00 CET is 10 real hours.
        let (b, e) = night().night_at_or_after(t("2024-10-26T22:00:00Z"));
        assert_eq!(
            (b, e),
            (t("2024-10-26T20:00:00Z"), t("2024-10-27T06:00:00Z"))
        );
    }

    #[test]
    fn a_time_the_clocks_skip_is_the_first_moment_after_the_gap() {
        let day = NaiveDate::from_ymd_opt(2024, 3, 31).unwrap();
        let time = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        // 02:30 does not exist; 03:00 CEST (01:00 UTC) is the first moment after it.
        assert_eq!(at(day, time), t("2024-03-31T01:00:00Z"));
    }

    proptest! {
        #[test]
        fn waking_time_added_is_waking_time_counted(
            // Any minute of the weeks around both daylight-saving changes of 2024.
            from_min in 0i64..(8 * 7 * 24 * 60),
            autumn in any::<bool>(),
            waking_min in 0i64..(3 * 24 * 60),
            quiet in prop::sample::select(vec!["22:00-07:00", "00:00-06:00", "20:30-08:15", "01:30-03:30"]),
        ) {
            let quiet = QuietHours::parse(quiet).unwrap().unwrap();
            let base = if autumn { t("2024-10-06T00:00:00Z") } else { t("2024-03-10T00:00:00Z") };
            let from = base + Duration::minutes(from_min);
            let waking = Duration::minutes(waking_min);
            let to = quiet.after_waking(from, waking);
            prop_assert_eq!(quiet.waking_between(from, to), waking);
            // The last moment before it is waking time: it never ends inside a night.
            if waking > Duration::zero() {
                prop_assert!(!quiet.contains(to - Duration::seconds(1)));
            }
            // Waking time never runs faster than real time.
            prop_assert!(to - from >= waking);
        }
    }
}
