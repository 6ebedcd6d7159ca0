//! The FIFO rule as DESIGN.md states it ("Matching rule (FIFO)", with the earlier appointment
//! and several persons), written out here on its own — none of `matching.rs`, `local_window`,
//! `Window::contains` or `Holding::wants` — and [`pick`] and [`fits`] held against it.
//!
//! The rule, for one free slot serving one person: it goes to the wish that ranks first among
//! those that
//! - are `waiting` and hold no open offer ("skipped, not dropped"),
//! - ask for the slot's service and office,
//! - have a window holding the slot's start weekday and hour in Berlin's wall-clock time,
//! - have not declined that slot before,
//! - are for one person ("a wish for n persons fits one slot with `persons` ≥ n"),
//! - if they hold a booked appointment and look for an earlier one, only when the slot starts
//!   before that appointment;
//!
//! ranked by confirmation time ("earliest confirmed"), except that a wish holding an
//! appointment ranks behind every wish without one where the city says so (`behind`); equal
//! times go by wish id, as the queue key (`<time>#<id>`) sorts them.

use super::{fits, pick};
use crate::email::Email;
use crate::ids::{OfferId, OfficeId, ServiceId, SlotId, WishId};
use crate::language::Language;
use crate::slot::{Slot, SlotStatus};
use crate::time::{Weekday, Window};
use crate::wish::{Holding, Wish, WishStatus};
use chrono::{DateTime, Datelike, Duration, NaiveDateTime, TimeZone, Timelike, Utc};
use proptest::prelude::*;

/// The wish the design gives `slot` to, of `wishes` in any order.
fn design_pick<'a>(slot: &Slot, wishes: &'a [Wish]) -> Option<&'a Wish> {
    if slot.status.as_str() != "free" {
        return None;
    }
    let wall = berlin_wall_clock(slot.start);
    let (day, hour) = (wall.format("%a").to_string().to_lowercase(), wall.hour());
    let may_take = |w: &&Wish| {
        w.status.as_str() == "waiting"
            && w.open_offer.is_none()
            && w.service == slot.service
            && w.offices.contains(&slot.office)
            && w.windows
                .iter()
                .any(|x| x.day().key() == day && u32::from(x.hour()) == hour)
            && !w.declined.contains(&slot.id)
            && w.persons <= slot.persons
            && w.earlier
                .as_ref()
                .is_none_or(|held| slot.start < held.before)
    };
    wishes.iter().filter(may_take).min_by_key(|w| {
        let behind = w.earlier.as_ref().is_some_and(|held| held.behind);
        (behind, w.confirmed_at, w.id.clone())
    })
}

/// Berlin's wall-clock time at `t` by the EU rule (summer time from the last Sunday of March,
/// 01:00 UTC, to the last Sunday of October, 01:00 UTC), not by the tz database.
pub(super) fn berlin_wall_clock(t: DateTime<Utc>) -> NaiveDateTime {
    let last_sunday = |month: u32| {
        let mut d = Utc.with_ymd_and_hms(t.year(), month, 31, 1, 0, 0).unwrap();
        while d.weekday() != chrono::Weekday::Sun {
            d -= Duration::days(1);
        }
        d
    };
    let summer = t >= last_sunday(3) && t < last_sunday(10);
    (t + Duration::hours(if summer { 2 } else { 1 })).naive_utc()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const OFFICES: [&str; 3] = ["bilk", "altstadt", "benrath"];
const SERVICES: [&str; 2] = ["id-card", "passport"];

prop_compose! {
    /// A slot serving one person, starting at any minute of 2024–2026 (both daylight-saving
    /// changes of each year), free mostly.
    fn arb_slot()(
        id in 0usize..4,
        office in 0usize..3,
        service in 0usize..2,
        minutes in 0i64..(3 * 366 * 24 * 60),
        status in prop_oneof![4 => Just(SlotStatus::Free), 1 => Just(SlotStatus::Offered), 1 => Just(SlotStatus::Booked)],
    ) -> Slot {
        Slot {
            id: SlotId::parse(&format!("s{id}")).unwrap(),
            office: OfficeId::parse(OFFICES[office]).unwrap(),
            service: ServiceId::parse(SERVICES[service]).unwrap(),
            start: t("2024-01-01T00:00:00Z") + Duration::minutes(minutes),
            minutes: 15,
            status,
            offer: None,
            wish: None,
            persons: 1,
        }
    }
}

/// The window `minutes` away from the slot's start, by the wall clock, as `Window` says it:
/// the slot's own hour (0), the hours around it, the same hour on other days.
fn window_near(slot: &Slot, minutes: i64) -> Window {
    let wall = berlin_wall_clock(slot.start + Duration::minutes(minutes));
    Window::new(
        Weekday::from_chrono(wall.weekday()),
        u8::try_from(wall.hour()).unwrap(),
    )
    .unwrap()
}

prop_compose! {
    /// The `n`-th wish generated (not in queue order): any status, with or without an open
    /// offer, declined slots, an appointment held before, at or after the slot, one person or
    /// a family, windows at, around and away from the slot's hour, and confirmation times close
    /// enough to tie.
    fn arb_wish(n: usize, slot: Slot)(
        status in prop_oneof![4 => Just(WishStatus::Waiting), 3 => proptest::sample::select(WishStatus::ALL.to_vec())],
        has_offer in proptest::bool::weighted(0.2),
        service in 0usize..2,
        offices in proptest::sample::subsequence(OFFICES.to_vec(), 1..=3),
        exact in proptest::bool::weighted(0.6),
        around in proptest::collection::vec(prop_oneof![
            Just(-60i64), Just(60), Just(-24 * 60), Just(24 * 60), Just(3 * 24 * 60)
        ], 0..3),
        random in proptest::collection::btree_set(
            (0usize..7, 0u8..24).prop_map(|(d, h)| Window::new(Weekday::ALL[d], h).unwrap()),
            0..4,
        ),
        declined in proptest::collection::btree_set(0usize..4, 0..3),
        confirmed_min in 0i64..40,
        persons in prop_oneof![4 => Just(1u8), 1 => 2u8..=5],
        held in proptest::option::weighted(0.3, (-3i64..=3, any::<bool>())),
    ) -> Wish {
        let mut windows = random;
        windows.extend(around.iter().map(|m| window_near(&slot, *m)));
        if exact {
            windows.insert(window_near(&slot, 0));
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
            // Only a pending wish has no place in line yet.
            confirmed_at: (status != WishStatus::Pending)
                .then(|| created_at + Duration::minutes(confirmed_min)),
            open_offer: has_offer.then(|| OfferId::parse(&format!("o{n}")).unwrap()),
            declined: declined.into_iter().map(|i| SlotId::parse(&format!("s{i}")).unwrap()).collect(),
            kept_at: None,
            reminded_at: None,
            unanswered: 0,
            earlier: held.map(|(hours, behind)| Holding {
                offer: OfferId::parse(&format!("held{n}")).unwrap(),
                before: slot.start + Duration::hours(hours),
                behind,
            }),
            persons,
        }
    }
}

/// A slot and the wishes of its lines, as generated (not in queue order).
fn arb_case() -> impl Strategy<Value = (Slot, Vec<Wish>)> {
    arb_slot().prop_flat_map(|slot| {
        let wishes = (1usize..30).prop_flat_map({
            let slot = slot.clone();
            move |n| {
                (0..n)
                    .map(|i| arb_wish(i, slot.clone()))
                    .collect::<Vec<_>>()
            }
        });
        (Just(slot), wishes)
    })
}

/// `wishes` in queue order, as the store keeps a line: by place (`ranked_at`), then id.
fn in_queue_order(wishes: &[Wish]) -> Vec<&Wish> {
    let mut line: Vec<&Wish> = wishes.iter().collect();
    line.sort_by_key(|w| (w.ranked_at(), w.id.clone()));
    line
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn pick_gives_the_slot_to_the_wish_the_design_names((slot, wishes) in arb_case()) {
        // `pick` reads the one-person line (each party size has its own).
        let line: Vec<&Wish> = in_queue_order(&wishes)
            .into_iter()
            .filter(|w| w.persons == 1)
            .collect();
        prop_assert_eq!(
            pick(&slot, line).map(|w| &w.id),
            design_pick(&slot, &wishes).map(|w| &w.id)
        );
    }

    #[test]
    fn the_first_wish_in_line_that_fits_the_slot_is_the_one_the_design_names(
        (slot, wishes) in arb_case()
    ) {
        // Matching over the lines of every size: the slot alone is a run for one person.
        // `fits` leaves the slot's status to its caller, which matches free slots only.
        let first = if slot.status == SlotStatus::Free {
            in_queue_order(&wishes)
                .into_iter()
                .find(|w| fits(w, std::slice::from_ref(&slot), 1))
        } else {
            None
        };
        prop_assert_eq!(
            first.map(|w| &w.id),
            design_pick(&slot, &wishes).map(|w| &w.id)
        );
    }
}
