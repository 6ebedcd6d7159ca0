//! How many persons: the party a wish may be for and what one slot may serve. Plain numbers
//! that the request, the slot and the run of slots (`party`) all check against.

/// Most persons one wish may be for.
pub const MAX_PERSONS: u8 = 5;
/// Most persons the booking system may say one slot serves.
pub const MAX_SLOT_PERSONS: u8 = 20;

/// The party sizes a wish may have, smallest first.
pub const PARTY_SIZES: std::ops::RangeInclusive<u8> = 1..=MAX_PERSONS;

/// Serde default of every `persons`: one.
#[must_use]
pub fn one() -> u8 {
    1
}
