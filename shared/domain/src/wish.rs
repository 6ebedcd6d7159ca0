//! Wishes: the stored wish, its states, its age rule and the lines it stands in. What a
//! citizen asks for and how it is checked is in [`super::request`].

use super::catalog::Catalog;
use super::contact::Contact;
use super::ids::{OfferId, OfficeId, ServiceId, SlotId, WishId};
use super::language::Language;
use super::time::{Weekday, Window};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use super::request::{
    CLOSED_NAMED, DayHours, FieldError, FieldErrors, MAX_OFFICES, MAX_WINDOWS, NewWish, WishDraft,
};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WishStatus {
    /// Submitted, waiting for the double opt-in click; dropped after 24 h.
    Pending,
    /// In line for a slot.
    Waiting,
    /// Holds one open offer.
    Offered,
    /// Several offers in a row went unanswered: skipped until the citizen confirms again.
    Paused,
    Fulfilled,
    Cancelled,
    Expired,
}

impl WishStatus {
    /// Every state, in lifecycle order.
    pub const ALL: [WishStatus; 7] = [
        WishStatus::Pending,
        WishStatus::Waiting,
        WishStatus::Offered,
        WishStatus::Paused,
        WishStatus::Fulfilled,
        WishStatus::Cancelled,
        WishStatus::Expired,
    ];

    #[must_use]
    pub fn is_active(self) -> bool {
        matches!(
            self,
            WishStatus::Pending | WishStatus::Waiting | WishStatus::Offered | WishStatus::Paused
        )
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            WishStatus::Pending => "pending",
            WishStatus::Waiting => "waiting",
            WishStatus::Offered => "offered",
            WishStatus::Paused => "paused",
            WishStatus::Fulfilled => "fulfilled",
            WishStatus::Cancelled => "cancelled",
            WishStatus::Expired => "expired",
        }
    }
}

/// The booked appointment a wish holds while it looks for an earlier one: only slots that start
/// before it are offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    pub offer: OfferId,
    #[serde(with = "super::time::stored")]
    pub before: DateTime<Utc>,
    /// The city ranks such wishes behind every wish without an appointment (`EARLIER_RANK=behind`)
    /// instead of at their own confirmation time; fixed when the search starts, so a change of
    /// the setting never moves a wish already in line.
    #[serde(default)]
    pub behind: bool,
}

impl Holding {
    /// Whether a slot starting at `start` is earlier than the appointment held.
    #[must_use]
    pub fn wants(&self, start: DateTime<Utc>) -> bool {
        start < self.before
    }
}

/// A wish as stored; its serde form is the wishes table's.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wish {
    pub id: WishId,
    /// Email (the citizen's own wish) or phone (taken by a clerk): see [`Contact`].
    #[serde(flatten)]
    pub contact: Contact,
    pub service: ServiceId,
    pub offices: Vec<OfficeId>,
    /// Stored as weekday → hours.
    #[serde(with = "stored_windows")]
    pub windows: BTreeSet<Window>,
    pub language: Language,
    pub status: WishStatus,
    #[serde(with = "super::time::stored")]
    pub created_at: DateTime<Utc>,
    /// The wish's place in line: the time of the double opt-in.
    #[serde(default, with = "super::time::stored_opt")]
    pub confirmed_at: Option<DateTime<Utc>>,
    pub open_offer: Option<OfferId>,
    /// Slots this wish declined or let expire: never offered to it again.
    #[serde(default)]
    pub declined: BTreeSet<SlotId>,
    /// When the citizen last said "keep my wish" after a reminder; the age counts from here.
    #[serde(default, with = "super::time::stored_opt")]
    pub kept_at: Option<DateTime<Utc>>,
    /// When the "still interested?" reminder went out for the current age period.
    #[serde(default, with = "super::time::stored_opt")]
    pub reminded_at: Option<DateTime<Utc>>,
    /// Offers in a row that expired unanswered.
    #[serde(default)]
    pub unanswered: u8,
    /// While a fulfilled wish looks for an earlier appointment: the one it holds.
    #[serde(default)]
    pub earlier: Option<Holding>,
    /// How many persons come (1 to [`super::persons::MAX_PERSONS`]).
    #[serde(default = "super::persons::one")]
    pub persons: u8,
}

/// A wish's windows as the table keeps them: weekday → hours.
mod stored_windows {
    use super::{BTreeMap, BTreeSet, Weekday, Window, windows_map};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(windows: &BTreeSet<Window>, s: S) -> Result<S::Ok, S::Error> {
        windows_map(windows).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<Window>, D::Error> {
        let map = BTreeMap::<Weekday, Vec<u8>>::deserialize(d)?;
        let mut windows = BTreeSet::new();
        for (day, hours) in map {
            for hour in hours {
                let window = Window::new(day, hour)
                    .map_err(|_| serde::de::Error::custom(format!("bad window {day} {hour}")))?;
                windows.insert(window);
            }
        }
        Ok(windows)
    }
}

/// After this many offers in a row expire unanswered, the wish is paused.
pub const PAUSE_AFTER_UNANSWERED: u8 = 3;

/// How long a wish lives without the citizen saying it is still wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WishAge {
    pub max_age: chrono::Duration,
    /// The reminder goes out this long before the end, and the citizen always gets at least
    /// this long after it.
    pub remind_before: chrono::Duration,
}

impl Default for WishAge {
    fn default() -> Self {
        Self {
            max_age: chrono::Duration::days(90),
            remind_before: chrono::Duration::days(7),
        }
    }
}

/// What the rescan does about a wish's age now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeStep {
    /// Nothing yet; look again at this time.
    WaitUntil(DateTime<Utc>),
    /// Send the reminder; the wish then ends at this time unless kept.
    Remind { ends_at: DateTime<Utc> },
    /// The wish has reached its maximum age.
    Expire,
}

impl Wish {
    /// Where the wish's age counts from: its last "keep", else its confirmation.
    #[must_use]
    pub fn age_base(&self) -> Option<DateTime<Utc>> {
        self.kept_at.or(self.confirmed_at)
    }
}

/// The age rule: remind `remind_before` ahead of the maximum age, end at the maximum age but
/// never sooner than `remind_before` after the reminder (so a late reminder still leaves time).
///
/// A wish that looks for an appointment earlier than the one it holds ends its search at the
/// latest when that appointment begins ([`AgeStep::Expire`]: it stops looking, the appointment
/// stays).
#[must_use]
pub fn age_step(wish: &Wish, now: DateTime<Utc>, age: WishAge) -> AgeStep {
    let step = age_step_of_search(wish, now, age);
    match (&wish.earlier, step) {
        (Some(held), _) if now >= held.before => AgeStep::Expire,
        (Some(held), AgeStep::WaitUntil(at)) => AgeStep::WaitUntil(at.min(held.before)),
        (_, step) => step,
    }
}

fn age_step_of_search(wish: &Wish, now: DateTime<Utc>, age: WishAge) -> AgeStep {
    let Some(base) = wish.age_base() else {
        return AgeStep::WaitUntil(now + age.max_age);
    };
    let due = base + age.max_age;
    match wish.reminded_at {
        None if now >= due - age.remind_before => AgeStep::Remind {
            ends_at: due.max(now + age.remind_before),
        },
        None => AgeStep::WaitUntil(due - age.remind_before),
        Some(reminded) => {
            let ends = due.max(reminded + age.remind_before);
            if now >= ends {
                AgeStep::Expire
            } else {
                AgeStep::WaitUntil(ends)
            }
        }
    }
}

/// Windows as the JSON contract shows them: `{"mon": [8, 9], "fri": [12]}`.
#[must_use]
pub fn windows_map(windows: &BTreeSet<Window>) -> BTreeMap<Weekday, Vec<u8>> {
    let mut map: BTreeMap<Weekday, Vec<u8>> = BTreeMap::new();
    for w in windows {
        map.entry(w.day()).or_default().push(w.hour());
    }
    map
}

/// Queue lines a wish stands in: one per (office, window) where that office is open.
#[must_use]
pub fn queue_lines(wish: &NewWishView<'_>, catalog: &Catalog) -> Vec<(OfficeId, Window)> {
    let mut lines = Vec::new();
    for office in wish.offices {
        let Some(o) = catalog.office(office) else {
            continue;
        };
        for w in wish.windows {
            if o.is_open(w.day(), w.hour()) {
                lines.push((office.clone(), *w));
            }
        }
    }
    lines
}

impl Wish {
    /// The lines this wish stands in (office × window, where that office is open).
    #[must_use]
    pub fn lines(&self, catalog: &Catalog) -> Vec<(OfficeId, Window)> {
        queue_lines(
            &NewWishView {
                offices: &self.offices,
                windows: &self.windows,
            },
            catalog,
        )
    }
}

/// Which abuse limit a submission would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitExceeded {
    /// The address already has this many confirmed wishes in line.
    ActiveWishes(usize),
}

/// What the abuse limits allow one submission for an address and a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The pending wish the submission is: the caller passes one only when the submission is
    /// the very same wish again (same address, service, offices, windows, language, persons),
    /// which keeps its id and links. A different submission is a wish of its own, so no link
    /// already mailed ever confirms what someone else wrote (`docs/contract-notes.md`).
    pub replaces: Option<WishId>,
    /// Whether a confirmation mail goes out: at most the day's allowance per address and service.
    pub mail: bool,
    /// The confirmation mails of this address and service in the last 24 hours, the new one
    /// included when it goes out.
    pub opt_ins: Vec<DateTime<Utc>>,
}

/// Admits a submission, or says which limit it would pass. Pending wishes never count against
/// the limit of wishes in line, and the very same wish submitted again is the pending one (see
/// [`Admission::replaces`]): whoever knows an address cannot send it more than `mails_per_day`
/// confirmation mails a day per service.
///
/// # Errors
/// [`LimitExceeded::ActiveWishes`] when the address has `max_active` confirmed wishes in line.
pub fn admit_submission(
    confirmed: usize,
    pending: Option<WishId>,
    opt_ins: &[DateTime<Utc>],
    (max_active, mails_per_day): (usize, usize),
    now: DateTime<Utc>,
) -> Result<Admission, LimitExceeded> {
    if confirmed >= max_active {
        return Err(LimitExceeded::ActiveWishes(confirmed));
    }
    let mut recent: Vec<DateTime<Utc>> = opt_ins
        .iter()
        .copied()
        .filter(|t| *t > now - chrono::Duration::hours(24))
        .collect();
    let mail = recent.len() < mails_per_day;
    if mail {
        recent.push(now);
    }
    Ok(Admission {
        replaces: pending,
        mail,
        opt_ins: recent,
    })
}

/// The parts of a wish that decide where it stands in line.
pub struct NewWishView<'a> {
    pub offices: &'a [OfficeId],
    pub windows: &'a BTreeSet<Window>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_wishes_lock_nobody_out_and_mails_stay_within_the_day() {
        let t = |h: i64| {
            DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z")
                .unwrap()
                .with_timezone(&Utc)
                + chrono::Duration::hours(h)
        };
        let pending = Some(WishId::parse("p").unwrap());
        // Two mails today: the third submission is admitted, replaces the pending wish, and
        // sends nothing.
        let a = admit_submission(0, pending.clone(), &[t(0), t(1)], (3, 2), t(2)).unwrap();
        assert_eq!((a.replaces, a.mail, a.opt_ins.len()), (pending, false, 2));
        // A day after the first mail there is room for one again.
        let a = admit_submission(0, None, &[t(0), t(1)], (3, 2), t(24)).unwrap();
        assert_eq!((a.mail, a.opt_ins), (true, vec![t(1), t(24)]));
        // Only confirmed wishes count against the limit.
        assert_eq!(
            admit_submission(3, None, &[], (3, 2), t(0)),
            Err(LimitExceeded::ActiveWishes(3))
        );
        assert!(admit_submission(2, None, &[], (3, 2), t(0)).is_ok());
    }

    fn aged(confirmed: &str, kept: Option<&str>, reminded: Option<&str>) -> Wish {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        Wish {
            id: WishId::parse("w").unwrap(),
            contact: super::super::Email::parse("a@b.de").unwrap().into(),
            service: ServiceId::parse("id-card").unwrap(),
            offices: vec![],
            windows: BTreeSet::new(),
            language: Language::De,
            status: WishStatus::Waiting,
            created_at: t(confirmed),
            confirmed_at: Some(t(confirmed)),
            open_offer: None,
            declined: BTreeSet::new(),
            kept_at: kept.map(t),
            reminded_at: reminded.map(t),
            unanswered: 0,
            earlier: None,
            persons: 1,
        }
    }

    #[test]
    fn a_wish_is_reminded_a_week_before_90_days_and_ends_at_90_days() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let age = WishAge::default();
        let w = aged("2024-01-01T00:00:00Z", None, None);
        assert_eq!(
            age_step(&w, t("2024-03-01T00:00:00Z"), age),
            AgeStep::WaitUntil(t("2024-03-24T00:00:00Z"))
        );
        assert_eq!(
            age_step(&w, t("2024-03-24T00:00:00Z"), age),
            AgeStep::Remind {
                ends_at: t("2024-03-31T00:00:00Z")
            }
        );
        let reminded = aged("2024-01-01T00:00:00Z", None, Some("2024-03-24T00:00:00Z"));
        assert_eq!(
            age_step(&reminded, t("2024-03-30T00:00:00Z"), age),
            AgeStep::WaitUntil(t("2024-03-31T00:00:00Z"))
        );
        assert_eq!(
            age_step(&reminded, t("2024-03-31T00:00:00Z"), age),
            AgeStep::Expire
        );
    }

    #[test]
    fn a_late_reminder_still_leaves_a_week_and_keeping_restarts_the_age() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let age = WishAge::default();
        let w = aged("2024-01-01T00:00:00Z", None, None);
        assert_eq!(
            age_step(&w, t("2024-04-10T00:00:00Z"), age),
            AgeStep::Remind {
                ends_at: t("2024-04-17T00:00:00Z")
            }
        );
        let kept = aged("2024-01-01T00:00:00Z", Some("2024-03-25T00:00:00Z"), None);
        assert_eq!(
            age_step(&kept, t("2024-04-10T00:00:00Z"), age),
            AgeStep::WaitUntil(t("2024-06-16T00:00:00Z"))
        );
    }
}
