//! The rules of Terminagent as plain types and functions: no AWS, no I/O, time passed in.

pub mod allocation;
pub mod appointment;
pub mod catalog;
pub mod challenge;
pub mod contact;
pub mod email;
pub mod event;
pub mod ids;
pub mod jws;
pub mod language;
pub mod lifecycle;
pub mod matching;
pub mod offer;
pub mod outbox;
pub mod party;
pub mod persons;
pub mod phone;
pub mod public_stats;
pub mod quiet;
pub mod request;
pub mod slot;
pub mod slot_file;
pub mod staff;
pub mod stats;
pub mod time;
pub mod token;
pub mod wait;
pub mod wish;

pub use catalog::{Catalog, Office, Service};
pub use challenge::{ChallengeMode, Proof, ProofRefusal};
pub use contact::{Contact, PhoneContact, PhoneNumber, Reference};
pub use email::Email;
pub use ids::{OfferId, OfficeId, ServiceId, SlotId, WishId};
pub use language::Language;
pub use lifecycle::{Change, DomainEvent, Release, Released, TransitionError};
pub use matching::{OfferTiming, is_candidate, offer_deadline};
pub use offer::{Offer, OfferStatus};
pub use outbox::{Effects, LinkKind, LinkToken, Notice, OutgoingMail, OwedEvent};
pub use quiet::QuietHours;
pub use slot::{Slot, SlotStatus};
pub use time::{Weekday, Window, local_window};
pub use token::{Token, TokenHash};
pub use wait::{ExpectedWait, expected_wait};
pub use wish::{
    AgeStep, DayHours, FieldErrors, NewWish, Wish, WishAge, WishDraft, WishStatus, age_step,
};
