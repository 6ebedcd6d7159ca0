//! Families: a wish for several persons, and the run of back-to-back slots that serves it
//! (DESIGN.md, "Matching rule", several persons).
//!
//! A wish for `n` persons fits one slot that serves at least `n` persons, or a run of free slots
//! back to back at the same office for the same service (each starts where the one before ends)
//! whose persons add up to `n`: the shortest such run from its first slot, so that every slot of
//! it is needed. A slot is matched as the first slot of a run; the wish's window must hold the
//! first slot's start.

use super::ids::SlotId;
use super::persons::MAX_PERSONS;
use super::slot::{Slot, SlotStatus};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A slot an offer holds beyond its first (a family's run): what its pages and events name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSlot {
    pub id: SlotId,
    #[serde(with = "super::time::stored")]
    pub start: DateTime<Utc>,
    pub minutes: u16,
}

impl From<&Slot> for RunSlot {
    fn from(slot: &Slot) -> Self {
        Self {
            id: slot.id.clone(),
            start: slot.start,
            minutes: slot.minutes,
        }
    }
}

/// When a slot ends.
#[must_use]
pub fn slot_end(slot: &Slot) -> DateTime<Utc> {
    slot.start + Duration::minutes(i64::from(slot.minutes))
}

/// The run for a party of `persons` that starts with `first`: `first` alone when it serves
/// them all, else `first` and the free slots that follow it back to back (taken from
/// `following`, any order, any slots — those of other offices or services, not free, or not
/// back to back are passed over) until their persons add up to the party. `None` when there is
/// no such run, or `first` is not free.
#[must_use]
pub fn run_for(first: &Slot, following: &[Slot], persons: u8) -> Option<Vec<Slot>> {
    if first.status != SlotStatus::Free {
        return None;
    }
    let mut run = vec![first.clone()];
    let mut served = first.persons;
    while served < persons {
        let last = run.last()?;
        let end = slot_end(last);
        let next = following.iter().find(|s| {
            s.status == SlotStatus::Free
                && s.office == first.office
                && s.service == first.service
                && s.start == end
                && s.minutes > 0
                && !run.iter().any(|r| r.id == s.id)
        })?;
        served = served.saturating_add(next.persons);
        run.push(next.clone());
    }
    Some(run)
}

/// Until when the slots of a run from `first` are looked for: the most slots a run has after its
/// first (one person each), each up to twice as long as the first — the stretch of free slots
/// one read takes.
#[must_use]
pub fn run_reach(first: &Slot) -> DateTime<Utc> {
    let most = i64::from(MAX_PERSONS - 1) * 2 * i64::from(first.minutes.max(1));
    slot_end(first) + Duration::minutes(most)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OfficeId, ServiceId};
    use crate::persons::PARTY_SIZES;
    use proptest::prelude::*;

    fn slot(id: &str, minute: i64, minutes: u16, persons: u8) -> Slot {
        Slot {
            id: SlotId::parse(id).unwrap(),
            office: OfficeId::parse("bilk").unwrap(),
            service: ServiceId::parse("id-card").unwrap(),
            start: DateTime::parse_from_rfc3339("2024-01-24T07:30:00Z")
                .unwrap()
                .with_timezone(&Utc)
                + Duration::minutes(minute),
            minutes,
            status: SlotStatus::Free,
            offer: None,
            wish: None,
            persons,
        }
    }

    fn ids(run: &[Slot]) -> Vec<&str> {
        run.iter().map(|s| s.id.as_ref()).collect()
    }

    #[test]
    fn a_slot_for_enough_persons_is_a_run_of_its_own() {
        let first = slot("a", 0, 15, 3);
        assert_eq!(ids(&run_for(&first, &[], 3).unwrap()), ["a"]);
        assert_eq!(ids(&run_for(&first, &[], 1).unwrap()), ["a"]);
        assert!(run_for(&first, &[], 4).is_none());
    }

    #[test]
    fn a_family_of_three_takes_three_back_to_back_slots() {
        let first = slot("a", 0, 15, 1);
        let following = [
            slot("c", 30, 15, 1),
            slot("b", 15, 15, 1),
            slot("d", 45, 15, 1),
        ];
        assert_eq!(
            ids(&run_for(&first, &following, 3).unwrap()),
            ["a", "b", "c"]
        );
        let sizes: Vec<u8> = PARTY_SIZES
            .filter(|n| run_for(&first, &following, *n).is_some())
            .collect();
        assert_eq!(sizes, [1, 2, 3, 4], "four slots serve four at the most");
    }

    #[test]
    fn a_gap_a_taken_slot_or_another_service_breaks_the_run() {
        let first = slot("a", 0, 15, 1);
        // A gap of five minutes.
        assert!(run_for(&first, &[slot("b", 20, 15, 1)], 2).is_none());
        // Offered to someone else.
        let mut taken = slot("b", 15, 15, 1);
        taken.status = SlotStatus::Offered;
        assert!(run_for(&first, &[taken], 2).is_none());
        // Another service.
        let mut other = slot("b", 15, 15, 1);
        other.service = ServiceId::parse("passport").unwrap();
        assert!(run_for(&first, &[other], 2).is_none());
        // The first slot itself must be free.
        let mut offered = slot("a", 0, 15, 3);
        offered.status = SlotStatus::Offered;
        assert!(run_for(&offered, &[], 1).is_none());
    }

    #[test]
    fn the_run_stops_as_soon_as_the_party_is_served() {
        // Two persons, then two: a family of three takes both (four places), not a third slot.
        let first = slot("a", 0, 15, 2);
        let following = [slot("b", 15, 15, 2), slot("c", 30, 15, 2)];
        assert_eq!(ids(&run_for(&first, &following, 3).unwrap()), ["a", "b"]);
    }

    proptest! {
        /// Any run found is free, back to back, of the first slot's office and service, serves
        /// the party, and needs every slot (without its last it would not).
        #[test]
        fn runs_are_back_to_back_and_minimal(
            first_persons in 1u8..4,
            rest in proptest::collection::vec((0i64..4, 5u16..40, 1u8..4, proptest::bool::weighted(0.8)), 0..8),
            persons in 1u8..=MAX_PERSONS,
        ) {
            let first = slot("s0", 0, 15, first_persons);
            let mut following = Vec::new();
            let mut at = 15;
            for (i, (gap, minutes, persons, free)) in rest.into_iter().enumerate() {
                let mut s = slot(&format!("s{}", i + 1), at + gap, minutes, persons);
                if !free {
                    s.status = SlotStatus::Booked;
                }
                at += gap + i64::from(minutes);
                following.push(s);
            }
            if let Some(run) = run_for(&first, &following, persons) {
                prop_assert_eq!(&run[0].id, &first.id);
                for pair in run.windows(2) {
                    prop_assert_eq!(slot_end(&pair[0]), pair[1].start);
                    prop_assert_eq!(pair[1].status, SlotStatus::Free);
                }
                let served: u32 = run.iter().map(|s| u32::from(s.persons)).sum();
                prop_assert!(served >= u32::from(persons));
                let without_last: u32 = served - u32::from(run.last().unwrap().persons);
                prop_assert!(run.len() == 1 || without_last < u32::from(persons));
            } else {
                // No run: the free back-to-back slots after the first serve fewer together.
                let mut served = u32::from(first.persons);
                let mut end = slot_end(&first);
                while let Some(next) = following.iter().find(|s| s.start == end && s.status == SlotStatus::Free) {
                    served += u32::from(next.persons);
                    end = slot_end(next);
                }
                prop_assert!(served < u32::from(persons));
            }
        }
    }
}
