//! The matching rule: which wish gets a free slot, and until when it may answer.

use super::quiet::QuietHours;
use super::slot::{Slot, SlotStatus};
use super::time::local_window;
use super::wish::{Wish, WishStatus};
use chrono::{DateTime, Duration, NaiveTime, Utc};

/// How long offers hold their slot. Defaults are those of the design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferTiming {
    /// An offer holds its slot this long at most.
    pub hold: Duration,
    /// The deadline is never later than this before the slot starts.
    pub before_start: Duration,
    /// A slot whose deadline would be nearer than this is not offered at all.
    pub min_response: Duration,
    /// The nightly stretch in which the response clock does not run (and the hold and the
    /// minimum response time count only waking time); `None` lets it run day and night.
    pub quiet: Option<QuietHours>,
}

impl Default for OfferTiming {
    fn default() -> Self {
        Self {
            hold: Duration::hours(24),
            before_start: Duration::hours(2),
            min_response: Duration::hours(1),
            quiet: QuietHours::new(hour(22), hour(7)).ok(),
        }
    }
}

fn hour(h: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN)
}

/// The answer deadline of an offer made `now` for a slot starting at `start`, or `None` when the
/// slot starts too soon for anyone to answer in time.
///
/// With quiet hours the hold is waking time (an offer made at 23:25 runs from 07:00), the cap
/// before the start stays real time, and the minimum time to answer is waking time too.
#[must_use]
pub fn offer_deadline(
    now: DateTime<Utc>,
    start: DateTime<Utc>,
    timing: OfferTiming,
) -> Option<DateTime<Utc>> {
    let cap = start - timing.before_start;
    let Some(quiet) = timing.quiet else {
        let deadline = (now + timing.hold).min(cap);
        return (deadline - now >= timing.min_response).then_some(deadline);
    };
    let deadline = quiet.after_waking(now, timing.hold).min(cap);
    (quiet.waking_between(now, deadline) >= timing.min_response).then_some(deadline)
}

/// Whether `wish` may be offered `slot`: it waits, asks for that service and office, has a window
/// containing the slot's local start hour, has not declined this slot before, and — when it
/// holds a booked appointment and looks for an earlier one — the slot starts before that.
#[must_use]
pub fn is_candidate(wish: &Wish, slot: &Slot) -> bool {
    wish.status == WishStatus::Waiting
        && wish.open_offer.is_none()
        && wish.service == slot.service
        && wish.offices.contains(&slot.office)
        && wish.windows.contains(&local_window(slot.start))
        && !wish.declined.contains(&slot.id)
        && wish
            .earlier
            .as_ref()
            .is_none_or(|held| held.wants(slot.start))
}

/// Whether `wish` may be offered `run` (one slot, or a family's back-to-back slots, the first
/// first), the run for a party of `persons`: it is a candidate for the first slot
/// ([`is_candidate`]), is for that many persons, and declined none of the run's slots.
#[must_use]
pub fn fits(wish: &Wish, run: &[Slot], persons: u8) -> bool {
    run.first().is_some_and(|first| is_candidate(wish, first))
        && wish.persons == persons
        && run.iter().all(|s| !wish.declined.contains(&s.id))
}

/// The first wish in line (given in queue order) that may be offered the slot, if the slot is free.
#[must_use]
pub fn pick<'a>(
    slot: &Slot,
    wishes_in_line: impl IntoIterator<Item = &'a Wish>,
) -> Option<&'a Wish> {
    if slot.status != SlotStatus::Free {
        return None;
    }
    wishes_in_line.into_iter().find(|w| is_candidate(w, slot))
}

#[cfg(test)]
mod fifo;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::Email;
    use crate::ids::{OfferId, OfficeId, ServiceId, SlotId, WishId};
    use crate::language::Language;
    use crate::time::{Weekday, Window};
    use chrono::{Datelike, Timelike};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The design's timing without quiet hours: the clock runs day and night.
    fn round_the_clock() -> OfferTiming {
        OfferTiming {
            quiet: None,
            ..OfferTiming::default()
        }
    }

    #[test]
    fn a_family_fits_a_run_for_its_size_only_and_never_one_it_declined_a_slot_of() {
        let slot = |id: &str, minute: i64| Slot {
            id: SlotId::parse(id).unwrap(),
            office: OfficeId::parse("bilk").unwrap(),
            service: ServiceId::parse("id-card").unwrap(),
            start: t("2024-01-22T07:00:00Z") + Duration::minutes(minute),
            minutes: 15,
            status: SlotStatus::Free,
            offer: None,
            wish: None,
            persons: 1,
        };
        let run = [slot("a", 0), slot("b", 15)];
        let mut wish = Wish {
            id: WishId::parse("w").unwrap(),
            contact: Email::parse("a@b.de").unwrap().into(),
            service: ServiceId::parse("id-card").unwrap(),
            offices: vec![OfficeId::parse("bilk").unwrap()],
            windows: [Window::new(Weekday::Mon, 8).unwrap()].into(),
            language: Language::De,
            status: WishStatus::Waiting,
            created_at: t("2024-01-01T00:00:00Z"),
            confirmed_at: Some(t("2024-01-01T00:00:00Z")),
            open_offer: None,
            declined: BTreeSet::new(),
            kept_at: None,
            reminded_at: None,
            unanswered: 0,
            earlier: None,
            persons: 2,
        };
        assert!(fits(&wish, &run, 2));
        assert!(!fits(&wish, &run, 3), "a run for another party size");
        assert!(!fits(&wish, &run[..1], 1), "the slot alone is for one");
        wish.declined.insert(SlotId::parse("b").unwrap());
        assert!(!fits(&wish, &run, 2), "it declined the run's second slot");
    }

    #[test]
    fn deadline_is_24_hours_when_the_slot_is_far_away() {
        let now = t("2024-01-19T22:25:00Z");
        let d = offer_deadline(now, t("2024-01-24T07:30:00Z"), round_the_clock()).unwrap();
        assert_eq!(d, t("2024-01-20T22:25:00Z"));
    }

    #[test]
    fn deadline_is_two_hours_before_a_near_slot() {
        let now = t("2024-01-24T00:00:00Z");
        let d = offer_deadline(now, t("2024-01-24T07:30:00Z"), round_the_clock()).unwrap();
        assert_eq!(d, t("2024-01-24T05:30:00Z"));
    }

    #[test]
    fn a_slot_too_soon_to_answer_is_not_offered() {
        let now = t("2024-01-24T05:00:00Z");
        assert_eq!(
            offer_deadline(now, t("2024-01-24T07:30:00Z"), round_the_clock()),
            None
        );
        // Exactly one hour to answer is still enough.
        let now = t("2024-01-24T04:30:00Z");
        assert!(offer_deadline(now, t("2024-01-24T07:30:00Z"), round_the_clock()).is_some());
    }

    #[test]
    fn an_offer_made_at_night_runs_from_the_morning() {
        // The reporter's offer: Friday 23:25 local. 24 waking hours from Saturday 07:00 end on
        // Sunday at 16:00 local (15 hours on Saturday, 9 on Sunday).
        let now = t("2024-01-19T22:25:00Z");
        let d = offer_deadline(now, t("2024-01-24T07:30:00Z"), OfferTiming::default()).unwrap();
        assert_eq!(d, t("2024-01-21T15:00:00Z"));
        // Made at 15:00 local: 7 waking hours that day, 15 on Saturday, 2 on Sunday morning.
        let now = t("2024-01-19T14:00:00Z");
        let d = offer_deadline(now, t("2024-01-24T07:30:00Z"), OfferTiming::default()).unwrap();
        assert_eq!(d, t("2024-01-21T08:00:00Z"));
    }

    #[test]
    fn the_cap_before_the_start_still_holds_at_night() {
        // Made at 23:25 local for a slot at 10:00 local the next morning: the deadline is
        // 08:00, two hours before it, and the waking hour 07:00–08:00 is enough to answer.
        let now = t("2024-01-19T22:25:00Z");
        let d = offer_deadline(now, t("2024-01-20T09:00:00Z"), OfferTiming::default()).unwrap();
        assert_eq!(d, t("2024-01-20T07:00:00Z"));
        // For a slot at 09:30 the deadline 07:30 leaves half an hour of waking time: none.
        assert_eq!(
            offer_deadline(now, t("2024-01-20T08:30:00Z"), OfferTiming::default()),
            None
        );
    }

    // ---- property tests -------------------------------------------------------------------

    const OFFICES: [&str; 3] = ["bilk", "altstadt", "benrath"];
    const SERVICES: [&str; 2] = ["id-card", "passport"];

    fn arb_window() -> impl Strategy<Value = Window> {
        (0usize..7, 6u8..20).prop_map(|(d, h)| Window::new(Weekday::ALL[d], h).unwrap())
    }

    /// Windows next to `w` — the hour itself, the hours before and after, the same hour on the
    /// other days — so that many wishes in a line nearly or exactly fit the slot.
    fn near(w: Window) -> Vec<Window> {
        let mut near: Vec<Window> = [
            w.hour().checked_sub(1),
            Some(w.hour()),
            w.hour().checked_add(1),
        ]
        .into_iter()
        .flatten()
        .filter_map(|h| Window::new(w.day(), h).ok())
        .collect();
        near.extend(
            Weekday::ALL
                .iter()
                .filter(|d| **d != w.day())
                .map(|d| Window::new(*d, w.hour()).unwrap()),
        );
        near
    }

    prop_compose! {
        /// A wish `n`-th in line: any status, with or without an open offer, declined slots, and
        /// windows around `around` (the slot's local hour) besides random ones.
        fn arb_wish(n: usize, around: Window)(
            status in prop_oneof![4 => Just(WishStatus::Waiting), 3 => proptest::sample::select(WishStatus::ALL.to_vec())],
            has_offer in proptest::bool::weighted(0.25),
            service in 0usize..2,
            offices in proptest::sample::subsequence(OFFICES.to_vec(), 1..=3),
            random_windows in proptest::collection::btree_set(arb_window(), 0..6),
            exact in proptest::bool::weighted(0.6),
            near_windows in proptest::sample::subsequence(near(around), 0..=3),
            declined in proptest::collection::btree_set(0usize..4, 0..3),
            confirmed_min in 0i64..100_000,
        ) -> Wish {
            let mut windows = random_windows;
            windows.extend(near_windows);
            if exact {
                windows.insert(around);
            }
            if windows.is_empty() {
                windows.insert(Window::new(Weekday::Sun, 23).unwrap());
            }
            let created_at = t("2024-01-01T00:00:00Z");
            Wish {
                id: WishId::parse(&format!("w{n}")).unwrap(),
                contact: Email::parse("a@b.de").unwrap().into(),
                service: ServiceId::parse(SERVICES[service]).unwrap(),
                offices: offices.into_iter().map(|o| OfficeId::parse(o).unwrap()).collect(),
                windows,
                language: Language::De,
                status,
                created_at,
                // Only a pending wish has no place in line yet; the index breaks ties.
                confirmed_at: (status != WishStatus::Pending).then(|| {
                    created_at + Duration::minutes(confirmed_min) + Duration::milliseconds(i64::try_from(n).unwrap())
                }),
                open_offer: has_offer.then(|| OfferId::parse(&format!("o{n}")).unwrap()),
                declined: declined.into_iter().map(|i| SlotId::parse(&format!("s{i}")).unwrap()).collect(),
                kept_at: None,
                reminded_at: None,
                unanswered: 0,
                earlier: None,
                persons: 1,
            }
        }
    }

    /// A line for `around`, in queue order (by confirmation; pending wishes have no place and
    /// stand first, where they must be skipped).
    fn arb_line(around: Window) -> impl Strategy<Value = Vec<Wish>> {
        (1usize..30)
            .prop_flat_map(move |n| (0..n).map(|i| arb_wish(i, around)).collect::<Vec<_>>())
            .prop_map(|mut line| {
                line.sort_by_key(|w| w.confirmed_at);
                line
            })
    }

    prop_compose! {
        /// A slot start anywhere in 2024–2026, minute precision: covers both daylight-saving changes.
        fn arb_slot()(id in 0usize..4, office in 0usize..3, service in 0usize..2,
                      minutes in 0i64..(3 * 366 * 24 * 60)) -> Slot {
            Slot {
                id: SlotId::parse(&format!("s{id}")).unwrap(),
                office: OfficeId::parse(OFFICES[office]).unwrap(),
                service: ServiceId::parse(SERVICES[service]).unwrap(),
                start: t("2024-01-01T00:00:00Z") + Duration::minutes(minutes),
                minutes: 15,
                status: SlotStatus::Free,
                offer: None,
                wish: None,
                persons: 1,
            }
        }
    }

    /// A slot (free mostly) and a line of wishes around its local hour.
    fn arb_case() -> impl Strategy<Value = (Slot, Vec<Wish>)> {
        (arb_slot(), prop_oneof![4 => Just(SlotStatus::Free), 1 => Just(SlotStatus::Offered), 1 => Just(SlotStatus::Booked)])
            .prop_flat_map(|(mut slot, status)| {
                slot.status = status;
                let around = berlin_window_by_eu_rule(slot.start);
                (Just(slot), arb_line(around))
            })
    }

    /// Independent oracle for local time: the EU rule instead of the tz database.
    fn berlin_window_by_eu_rule(start: DateTime<Utc>) -> Window {
        let wall = super::fifo::berlin_wall_clock(start);
        Window::new(
            Weekday::from_chrono(wall.weekday()),
            u8::try_from(wall.hour()).unwrap(),
        )
        .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn local_window_follows_the_eu_daylight_saving_rule(slot in arb_slot()) {
            prop_assert_eq!(local_window(slot.start), berlin_window_by_eu_rule(slot.start));
        }

        #[test]
        fn a_slot_that_is_not_free_is_never_picked((mut slot, line) in arb_case()) {
            slot.status = SlotStatus::Offered;
            prop_assert!(pick(&slot, &line).is_none());
        }

        #[test]
        fn declining_moves_the_slot_on_and_never_back((mut slot, line) in arb_case()) {
            // Each wish that gets the slot declines it; the slot walks down the line and no wish
            // sees it twice.
            slot.status = SlotStatus::Free;
            let mut line = line;
            let mut seen = BTreeSet::new();
            while let Some(w) = pick(&slot, &line).map(|w| w.id.clone()) {
                prop_assert!(seen.insert(w.clone()), "offered twice to {}", w);
                let wish = line.iter_mut().find(|x| x.id == w).unwrap();
                wish.declined.insert(slot.id.clone());
            }
        }

        #[test]
        fn a_wish_holding_an_appointment_is_offered_only_an_earlier_slot(
            (mut slot, line) in arb_case(),
            befores in prop::collection::vec(-3i64..3, 0..40),
        ) {
            // Some wishes hold an appointment a few hours before, at, or after the slot.
            slot.status = SlotStatus::Free;
            let mut line = line;
            for (w, hours) in line.iter_mut().zip(&befores) {
                w.earlier = Some(crate::wish::Holding {
                    offer: OfferId::parse("held").unwrap(),
                    before: slot.start + Duration::hours(*hours),
                    behind: false,
                });
            }
            let picked = pick(&slot, &line);
            if let Some(held) = picked.and_then(|w| w.earlier.as_ref()) {
                prop_assert!(slot.start < held.before);
            }
            // The first wish that may take it otherwise is skipped only for that reason.
            let plain: Vec<Wish> = line.iter().cloned().map(|mut w| { w.earlier = None; w }).collect();
            let first_wanting = line.iter().find(|w| {
                is_candidate(&Wish { earlier: None, ..(*w).clone() }, &slot)
                    && w.earlier.as_ref().is_none_or(|h| h.wants(slot.start))
            });
            prop_assert_eq!(picked.map(|w| &w.id), first_wanting.map(|w| &w.id));
            prop_assert!(pick(&slot, &plain).is_some() || picked.is_none());
        }

        #[test]
        fn the_deadline_is_within_bounds(now_min in 0i64..100_000, lead in 0i64..10_000) {
            let now = t("2024-01-01T00:00:00Z") + Duration::minutes(now_min);
            let start = now + Duration::minutes(lead);
            let timing = round_the_clock();
            if let Some(d) = offer_deadline(now, start, timing) {
                prop_assert!(d <= now + timing.hold);
                prop_assert!(d <= start - timing.before_start);
                prop_assert!(d - now >= timing.min_response);
            } else {
                prop_assert!(start - timing.before_start - now < timing.min_response);
            }
        }

        #[test]
        fn with_quiet_hours_the_clock_counts_waking_time_only(
            // Offers made at any minute of the four weeks around each daylight-saving change
            // of 2024 (31 March forward, 27 October back), for slots up to a week ahead.
            now_min in 0i64..(4 * 7 * 24 * 60),
            autumn in any::<bool>(),
            lead in 0i64..(7 * 24 * 60),
        ) {
            let base = if autumn { t("2024-10-13T00:00:00Z") } else { t("2024-03-17T00:00:00Z") };
            let now = base + Duration::minutes(now_min);
            let start = now + Duration::minutes(lead);
            let timing = OfferTiming::default();
            let quiet = timing.quiet.unwrap();
            let cap = start - timing.before_start;
            match offer_deadline(now, start, timing) {
                Some(d) => {
                    // Never later than the cap, never more waking time than the hold …
                    prop_assert!(d <= cap);
                    let waking = quiet.waking_between(now, d);
                    prop_assert!(waking <= timing.hold);
                    // … exactly the hold unless capped, and at least the minimum.
                    prop_assert!(d == cap || waking == timing.hold);
                    prop_assert!(waking >= timing.min_response);
                    // Never earlier than without quiet hours.
                    let plain = offer_deadline(now, start, round_the_clock());
                    prop_assert!(plain.is_none_or(|p| d >= p));
                }
                None => prop_assert!(quiet.waking_between(now, cap) < timing.min_response),
            }
        }
    }
}
