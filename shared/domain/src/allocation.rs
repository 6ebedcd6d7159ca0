//! The verifiable allocation record: every offer appends one record to the chain of its line,
//! saying which entries at the head of the line were passed over and why, and whom the slot went
//! to. Records are hash-chained (SHA-256 over [`AllocationRecord::canonical`]), so an edited,
//! missing or reordered record shows, and each record can be replayed against the matching rule
//! ([`AllocationRecord::replay`]): would the rule have made this allocation?
//!
//! Wishes appear only as [`Pseudonym`]s (a keyed hash of the wish id, computed by the store):
//! the record links to nobody's address or wish item, yet the same wish has the same name in
//! every record, and a supervisor who holds a wish id can ask the system for its pseudonym.
//!
//! One chain per line (office × service × weekday × hour): the line is where FIFO is decided, so
//! offers in one line already contend for the same head of line, and a chain per line adds no
//! serialization the line does not have (`docs/reliability.md`, "The allocation record").

use super::ids::{OfficeId, ServiceId, SlotId};
use super::slot::Slot;
use super::time::{Weekday, Window, local_window, rfc3339};
use super::wish::{Wish, WishStatus};
use chrono::{DateTime, Duration, NaiveDate, SubsecRound as _, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// The `prev` of a chain's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The canonical encoding's version tag: part of every hash, so a later encoding can never
/// produce the hash of an earlier one.
const ENCODING: &str = "terminagent/allocation/v1";

/// A text that is not what a record holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    #[error("not a pseudonym: {0:?}")]
    Pseudonym(String),
    #[error("not a line: {0:?}")]
    Line(String),
    #[error("not a hash: {0:?}")]
    Hash(String),
}

/// A text of exactly `$len` lowercase hex digits, checked when it is made or read.
macro_rules! hex_text {
    ($(#[$doc:meta])* $name:ident, $len:expr, $error:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// # Errors
            #[doc = concat!("Unless the text is ", stringify!($len), " lowercase hex digits.")]
            pub fn parse(text: &str) -> Result<Self, AllocationError> {
                if text.len() == $len
                    && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(AllocationError::$error(text.to_owned()))
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = AllocationError;
            fn try_from(value: String) -> Result<Self, AllocationError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

hex_text!(
    /// A wish as allocation records name it: 128 bits of a keyed hash of its id, hex.
    Pseudonym,
    32,
    Pseudonym
);
hex_text!(
    /// A SHA-256 as 64 lowercase hex digits.
    ChainHash,
    64,
    Hash
);

impl ChainHash {
    /// The `prev` of a chain's first record.
    #[must_use]
    pub fn genesis() -> Self {
        Self(GENESIS.to_owned())
    }

    fn of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(hex::encode(sha2::Sha256::digest(bytes)))
    }
}

/// One line of the queue, which is one chain: `<office>#<service>#<day>#<hour>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct QueueLine {
    pub office: OfficeId,
    pub service: ServiceId,
    pub window: Window,
}

impl QueueLine {
    /// The line a slot is offered from: its office, service and local weekday and hour.
    #[must_use]
    pub fn of(slot: &Slot) -> Self {
        Self {
            office: slot.office.clone(),
            service: slot.service.clone(),
            window: local_window(slot.start),
        }
    }

    /// # Errors
    /// Unless the text is a line as [`fmt::Display`] writes it.
    pub fn parse(text: &str) -> Result<Self, AllocationError> {
        let bad = || AllocationError::Line(text.to_owned());
        let mut parts = text.split('#');
        let (Some(office), Some(service), Some(day), Some(hour), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let window = Window::new(
            Weekday::parse(day).ok_or_else(bad)?,
            hour.parse().map_err(|_| bad())?,
        )
        .map_err(|_| bad())?;
        Ok(Self {
            office: OfficeId::parse(office).map_err(|_| bad())?,
            service: ServiceId::parse(service).map_err(|_| bad())?,
            window,
        })
    }
}

impl TryFrom<String> for QueueLine {
    type Error = AllocationError;
    fn try_from(value: String) -> Result<Self, AllocationError> {
        Self::parse(&value)
    }
}

impl From<QueueLine> for String {
    fn from(l: QueueLine) -> String {
        l.to_string()
    }
}

impl fmt::Display for QueueLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}#{}#{}#{}",
            self.office,
            self.service,
            self.window.day(),
            self.window.hour()
        )
    }
}

/// Why an entry at the head of the line did not get the slot: each is one of the matching
/// rule's conditions (`matching::is_candidate`). The list grows with the rule (a party too large
/// for the slot, …); a record written by a later version with a reason this one does not know
/// reads as [`Skip::Unknown`], which replay refuses rather than guesses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Skip {
    /// The wish holds another open offer.
    HoldsOffer,
    /// The wish declined (or let expire) this very slot before.
    DeclinedSlot,
    /// The wish is not waiting (paused, offered, ended …).
    NotWaiting(WishStatus),
    /// An entry left in a line the wish no longer asks for (its service changed).
    OtherService,
    /// … its offices changed.
    OtherOffice,
    /// … its windows changed.
    OutsideWindows,
    /// The wish holds a booked appointment that starts no later than this slot.
    NotEarlier { before: DateTime<Utc> },
    /// The entry's wish is gone (ended and deleted, or expired): only its entry was left.
    Gone,
    /// A family declined (or let expire) a later slot of the run before.
    DeclinedRun,
    /// The wish is for another number of persons than the run serves (an entry in the wrong
    /// family line).
    OtherPartySize,
    /// A reason this version does not know.
    Unknown(String),
}

impl Skip {
    /// The stored and hashed form: `holds_offer`, `not_waiting:paused`, `not_earlier:<time>` ….
    #[must_use]
    pub fn code(&self) -> String {
        match self {
            Skip::HoldsOffer => "holds_offer".into(),
            Skip::DeclinedSlot => "declined_slot".into(),
            Skip::NotWaiting(status) => format!("not_waiting:{}", status.as_str()),
            Skip::OtherService => "other_service".into(),
            Skip::OtherOffice => "other_office".into(),
            Skip::OutsideWindows => "outside_windows".into(),
            Skip::NotEarlier { before } => format!("not_earlier:{}", rfc3339(*before)),
            Skip::Gone => "gone".into(),
            Skip::DeclinedRun => "declined_run".into(),
            Skip::OtherPartySize => "other_party_size".into(),
            Skip::Unknown(code) => code.clone(),
        }
    }

    /// What matching records when `pick` passed over an entry for which [`why_not`] gives no
    /// reason — the two disagree, which the property tests rule out; recorded rather than
    /// hidden, so that verification reports the allocation.
    #[must_use]
    pub fn unexplained() -> Self {
        Skip::Unknown("unexplained".into())
    }

    /// The reason a [`Skip::code`] names; anything else is [`Skip::Unknown`].
    #[must_use]
    pub fn from_code(code: &str) -> Self {
        let (name, detail) = code.split_once(':').unwrap_or((code, ""));
        let known = match (name, detail) {
            ("holds_offer", "") => Some(Skip::HoldsOffer),
            ("declined_slot", "") => Some(Skip::DeclinedSlot),
            ("not_waiting", status) => WishStatus::ALL
                .into_iter()
                .find(|s| s.as_str() == status)
                .map(Skip::NotWaiting),
            ("other_service", "") => Some(Skip::OtherService),
            ("other_office", "") => Some(Skip::OtherOffice),
            ("outside_windows", "") => Some(Skip::OutsideWindows),
            ("not_earlier", at) => {
                DateTime::parse_from_rfc3339(at)
                    .ok()
                    .map(|t| Skip::NotEarlier {
                        before: t.with_timezone(&Utc),
                    })
            }
            ("gone", "") => Some(Skip::Gone),
            ("declined_run", "") => Some(Skip::DeclinedRun),
            ("other_party_size", "") => Some(Skip::OtherPartySize),
            _ => None,
        };
        // Only the exact form reads back as known, so that code → reason → code is the identity
        // and an edited text cannot hash like the original.
        known
            .filter(|k| k.code() == code)
            .unwrap_or_else(|| Skip::Unknown(code.to_owned()))
    }
}

impl Serialize for Skip {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.code())
    }
}

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Skip::from_code(&String::deserialize(d)?))
    }
}

/// Why `wish` may not be offered `slot` — the conditions of `matching::is_candidate`, one by
/// one — or `None` when it may (a property test holds the two together).
#[must_use]
pub fn why_not(wish: &Wish, slot: &Slot) -> Option<Skip> {
    // An offered wish is not waiting either; that it holds an offer says more.
    if wish.open_offer.is_some() {
        return Some(Skip::HoldsOffer);
    }
    if wish.status != WishStatus::Waiting {
        return Some(Skip::NotWaiting(wish.status));
    }
    if wish.service != slot.service {
        return Some(Skip::OtherService);
    }
    if !wish.offices.contains(&slot.office) {
        return Some(Skip::OtherOffice);
    }
    if !wish.windows.contains(&local_window(slot.start)) {
        return Some(Skip::OutsideWindows);
    }
    if wish.declined.contains(&slot.id) {
        return Some(Skip::DeclinedSlot);
    }
    match &wish.earlier {
        Some(held) if !held.wants(slot.start) => Some(Skip::NotEarlier {
            before: held.before,
        }),
        _ => None,
    }
}

/// Why `wish` may not be offered `run` (one slot, or a family's back-to-back slots, the first
/// first) for a party of `persons` — the conditions of `matching::fits` — or `None` when it may.
#[must_use]
pub fn why_not_run(wish: &Wish, run: &[Slot], persons: u8) -> Option<Skip> {
    let first = run.first()?;
    why_not(wish, first)
        .or_else(|| (wish.persons != persons).then_some(Skip::OtherPartySize))
        .or_else(|| {
            run.iter()
                .any(|s| wish.declined.contains(&s.id))
                .then_some(Skip::DeclinedRun)
        })
}

/// An entry of the line as a record names it: who, and its place (the time its queue key sorts
/// by; ties are broken by the wish id, which the record does not show).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub who: Pseudonym,
    #[serde(with = "super::time::stored")]
    pub ranked_at: DateTime<Utc>,
}

/// An entry passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub who: Pseudonym,
    #[serde(with = "super::time::stored")]
    pub ranked_at: DateTime<Utc>,
    pub reason: Skip,
}

/// The slot a record allocates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRef {
    pub id: SlotId,
    #[serde(with = "super::time::stored")]
    pub start: DateTime<Utc>,
    pub minutes: u16,
}

/// What a record's successor needs of it (and what the chain's head item holds): its number,
/// hash, time and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    pub seq: u64,
    pub hash: ChainHash,
    pub at: DateTime<Utc>,
    /// Epoch seconds.
    pub expires_at: i64,
}

/// One allocation: the slot, the entries of its line passed over in queue order with their
/// reasons, and the entry that got it; chained to the line's record before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationRecord {
    pub line: QueueLine,
    /// 1 for the line's first record, then one more each.
    pub seq: u64,
    /// The hash of record `seq - 1`, [`GENESIS`] for the first.
    pub prev: ChainHash,
    /// The time of record `seq - 1` (where to find it: records are kept per UTC day).
    #[serde(with = "super::time::stored_opt", default)]
    pub prev_at: Option<DateTime<Utc>>,
    /// The expiry of record `seq - 1` (epoch seconds, 0 for the first): once it has passed, that
    /// record — and with it every one before — may be gone without anything being wrong.
    pub prev_expires_at: i64,
    /// When the offer was made; never before the record before it.
    #[serde(with = "super::time::stored")]
    pub at: DateTime<Utc>,
    /// Epoch seconds: the slot's start plus the retention of ended data, and never before the
    /// expiry of the record before it, so that records expire from the start of the chain.
    pub expires_at: i64,
    pub slot: SlotRef,
    pub skipped: Vec<Skipped>,
    pub chosen: Entry,
}

impl AllocationRecord {
    /// The record that follows `after` (the line's last record, `None` for a new chain): the
    /// offer of `slot` to `chosen` made `now`, past `skipped`; kept `keep` after the slot starts.
    #[must_use]
    pub fn append(
        after: Option<&ChainLink>,
        slot: &Slot,
        skipped: Vec<Skipped>,
        chosen: Entry,
        now: DateTime<Utc>,
        keep: Duration,
    ) -> Self {
        let now = now.trunc_subsecs(3);
        let at = after.map_or(now, |a| a.at.max(now));
        let natural = (slot.start.max(at) + keep).timestamp();
        Self {
            line: QueueLine::of(slot),
            seq: after.map_or(1, |a| a.seq + 1),
            prev: after.map_or_else(ChainHash::genesis, |a| a.hash.clone()),
            prev_at: after.map(|a| a.at),
            prev_expires_at: after.map_or(0, |a| a.expires_at),
            at,
            expires_at: after.map_or(natural, |a| a.expires_at.max(natural)),
            slot: SlotRef {
                id: slot.id.clone(),
                start: slot.start.trunc_subsecs(3),
                minutes: slot.minutes,
            },
            skipped,
            chosen,
        }
    }

    /// The bytes the hash is taken over: a version tag, then every field in a fixed order, each
    /// as `name=<length>:<value>;` (lengths in bytes), so no two records encode alike whatever
    /// their texts hold. Times are RFC 3339 UTC with milliseconds, as stored.
    #[must_use]
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + 96 * self.skipped.len());
        let mut field = |name: &str, value: &str| {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(format!("={}:", value.len()).as_bytes());
            out.extend_from_slice(value.as_bytes());
            out.push(b';');
        };
        field("v", ENCODING);
        field("line", &self.line.to_string());
        field("seq", &self.seq.to_string());
        field("prev", &self.prev.0);
        field("prev_at", &self.prev_at.map(rfc3339).unwrap_or_default());
        field("prev_expires_at", &self.prev_expires_at.to_string());
        field("at", &rfc3339(self.at));
        field("expires_at", &self.expires_at.to_string());
        field("slot", self.slot.id.as_ref());
        field("start", &rfc3339(self.slot.start));
        field("minutes", &self.slot.minutes.to_string());
        field("skipped", &self.skipped.len().to_string());
        for s in &self.skipped {
            field("who", &s.who.0);
            field("ranked_at", &rfc3339(s.ranked_at));
            field("reason", &s.reason.code());
        }
        field("chosen", &self.chosen.who.0);
        field("ranked_at", &rfc3339(self.chosen.ranked_at));
        out
    }

    /// SHA-256 of [`AllocationRecord::canonical`].
    #[must_use]
    pub fn hash(&self) -> ChainHash {
        ChainHash::of(&self.canonical())
    }

    /// What the next record of the chain refers to.
    #[must_use]
    pub fn link(&self) -> ChainLink {
        ChainLink {
            seq: self.seq,
            hash: self.hash(),
            at: self.at,
            expires_at: self.expires_at,
        }
    }

    /// The UTC day the record is kept under.
    #[must_use]
    pub fn day(&self) -> NaiveDate {
        self.at.date_naive()
    }

    /// Replays the record against the matching rule: the slot belongs to the record's line, the
    /// entries passed over stand in queue order before the chosen one (so the chosen is the
    /// first entry not passed over), each appears once, and each reason is one the rule
    /// accepts — with the evidence it carries consistent with the slot.
    ///
    /// # Errors
    /// The first way in which the rule would not have made this allocation.
    pub fn replay(&self) -> Result<(), RuleBreach> {
        if local_window(self.slot.start) != self.line.window {
            return Err(RuleBreach::NotThisLine);
        }
        let mut seen = BTreeSet::new();
        let mut last: Option<DateTime<Utc>> = None;
        let entries = self
            .skipped
            .iter()
            .map(|s| (&s.who, s.ranked_at, Some(&s.reason)))
            .chain(std::iter::once((
                &self.chosen.who,
                self.chosen.ranked_at,
                None,
            )));
        for (index, (who, ranked_at, reason)) in entries.enumerate() {
            if !seen.insert(who) {
                return Err(RuleBreach::Twice { index });
            }
            if last.is_some_and(|l| ranked_at < l) {
                return Err(RuleBreach::OutOfQueueOrder { index });
            }
            last = Some(ranked_at);
            if let Some(reason) = reason {
                self.accepts(reason)
                    .map_err(|why| RuleBreach::Reason { index, why })?;
            }
        }
        Ok(())
    }

    /// Whether the rule passes over an entry for `reason` when it allocates this slot.
    fn accepts(&self, reason: &Skip) -> Result<(), &'static str> {
        match reason {
            Skip::NotWaiting(WishStatus::Waiting) => Err("a waiting wish is not passed over"),
            Skip::NotEarlier { before } if self.slot.start < *before => {
                Err("the slot is earlier than the appointment held")
            }
            Skip::Unknown(_) => Err("a reason the matching rule does not know"),
            Skip::HoldsOffer
            | Skip::DeclinedSlot
            | Skip::NotWaiting(_)
            | Skip::OtherService
            | Skip::OtherOffice
            | Skip::OutsideWindows
            | Skip::NotEarlier { .. }
            | Skip::Gone
            | Skip::DeclinedRun
            | Skip::OtherPartySize => Ok(()),
        }
    }
}

/// How a record's allocation departs from the matching rule (`index` counts the entries of the
/// record from the head: the skipped ones, then the chosen one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleBreach {
    #[error("the slot's weekday and hour are not those of the line")]
    NotThisLine,
    #[error("entry {index} appears twice")]
    Twice { index: usize },
    #[error("entry {index} stands before an entry ahead of it in the line")]
    OutOfQueueOrder { index: usize },
    #[error("entry {index} was passed over wrongly: {why}")]
    Reason { index: usize, why: &'static str },
}

/// The head of a line as matching read it, from the front: each entry's pseudonym, place and
/// the reason the rule gives for passing it over (`None`: it may take the slot). The entries up
/// to the first that may take it make the record; `None` when none may.
#[must_use]
pub fn split_head(
    head: Vec<(Pseudonym, DateTime<Utc>, Option<Skip>)>,
) -> Option<(Vec<Skipped>, Entry)> {
    let mut skipped = Vec::new();
    for (who, ranked_at, reason) in head {
        match reason {
            Some(reason) => skipped.push(Skipped {
                who,
                ranked_at,
                reason,
            }),
            None => return Some((skipped, Entry { who, ranked_at })),
        }
    }
    None
}

mod verify;
pub use verify::{
    AllocationReport, ChainStretch, Finding, Period, Problem, StoredRecord, StretchVerdict,
    verify_stretch,
};

#[cfg(test)]
mod tests;
