//! Weekdays, one-hour windows and the office's local time (Europe/Berlin, with daylight saving).

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Europe::Berlin;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The time zone every office lives in.
pub const OFFICE_TZ: chrono_tz::Tz = Berlin;

/// A time as the contracts and the tables write it: UTC, millisecond precision
/// (`2024-01-24T07:30:00.000Z`), so that text order is time order.
#[must_use]
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Serde for a time in the form of [`rfc3339`] (`#[serde(with = "crate::time::stored")]`).
pub mod stored {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// # Errors
    /// Never for a time; as the serializer does.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*t))
    }

    /// # Errors
    /// When the text is not an RFC 3339 time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| serde::de::Error::custom(format!("bad time {text:?}")))
    }
}

/// As [`stored`], for a time that may be absent.
pub mod stored_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// # Errors
    /// As the serializer does.
    #[allow(clippy::ref_option)]
    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::stored::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    /// # Errors
    /// When the text is not an RFC 3339 time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Stored(#[serde(with = "super::stored")] DateTime<Utc>);
        Ok(Option::<Stored>::deserialize(d)?.map(|Stored(t)| t))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// The three-letter key used in the JSON contracts (`mon` … `sun`).
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Weekday::Mon => "mon",
            Weekday::Tue => "tue",
            Weekday::Wed => "wed",
            Weekday::Thu => "thu",
            Weekday::Fri => "fri",
            Weekday::Sat => "sat",
            Weekday::Sun => "sun",
        }
    }

    #[must_use]
    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.key() == key)
    }

    #[must_use]
    pub fn from_chrono(day: chrono::Weekday) -> Self {
        match day {
            chrono::Weekday::Mon => Weekday::Mon,
            chrono::Weekday::Tue => Weekday::Tue,
            chrono::Weekday::Wed => Weekday::Wed,
            chrono::Weekday::Thu => Weekday::Thu,
            chrono::Weekday::Fri => Weekday::Fri,
            chrono::Weekday::Sat => Weekday::Sat,
            chrono::Weekday::Sun => Weekday::Sun,
        }
    }
}

impl fmt::Display for Weekday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// One hour on one weekday, in the office's local time: `Window::new(Weekday::Mon, 8)` is 08:00–08:59.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    day: Weekday,
    hour: u8,
}

/// An hour outside 0–23.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("hour {0} is not between 0 and 23")]
pub struct HourOutOfRange(pub i64);

impl Window {
    /// # Errors
    /// When `hour` is above 23.
    pub fn new(day: Weekday, hour: u8) -> Result<Self, HourOutOfRange> {
        if hour > 23 {
            return Err(HourOutOfRange(i64::from(hour)));
        }
        Ok(Self { day, hour })
    }

    #[must_use]
    pub fn day(self) -> Weekday {
        self.day
    }

    #[must_use]
    pub fn hour(self) -> u8 {
        self.hour
    }
}

/// The window a slot starting at `start` falls into, in the office's local time.
#[must_use]
pub fn local_window(start: DateTime<Utc>) -> Window {
    let local = start.with_timezone(&OFFICE_TZ);
    // `hour()` is always 0..=23, so the conversion cannot fail.
    let hour = u8::try_from(local.hour()).unwrap_or(0);
    Window {
        day: Weekday::from_chrono(local.weekday()),
        hour,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn winter_slot_is_one_hour_ahead_of_utc() {
        // Wednesday 24 January 2024, 08:30 in Düsseldorf is 07:30 UTC.
        let w = local_window(utc("2024-01-24T07:30:00Z"));
        assert_eq!(w, Window::new(Weekday::Wed, 8).unwrap());
    }

    #[test]
    fn summer_slot_is_two_hours_ahead_of_utc() {
        let w = local_window(utc("2024-07-03T06:30:00Z"));
        assert_eq!(w, Window::new(Weekday::Wed, 8).unwrap());
    }

    #[test]
    fn day_of_daylight_saving_change_uses_the_new_offset() {
        // Sunday 31 March 2024: clocks jump from 02:00 to 03:00. 01:30 UTC is 03:30 local.
        let w = local_window(utc("2024-03-31T01:30:00Z"));
        assert_eq!(w, Window::new(Weekday::Sun, 3).unwrap());
        // Monday after: 08:00 local is 06:00 UTC.
        assert_eq!(
            local_window(utc("2024-04-01T06:00:00Z")),
            Window::new(Weekday::Mon, 8).unwrap()
        );
    }

    #[test]
    fn local_midnight_belongs_to_the_local_day() {
        // 23:30 UTC on a Monday in winter is 00:30 on Tuesday in Berlin.
        assert_eq!(
            local_window(utc("2024-01-22T23:30:00Z")),
            Window::new(Weekday::Tue, 0).unwrap()
        );
    }

    #[test]
    fn hours_above_23_are_refused() {
        assert_eq!(Window::new(Weekday::Mon, 24), Err(HourOutOfRange(24)));
    }
}
