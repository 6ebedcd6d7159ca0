//! Verifying a stretch of a line's chain: each record's hash, place and link to the one
//! before, the gaps, the chain's head, and each record replayed against the matching rule.

use super::{AllocationRecord, ChainHash, ChainLink, RuleBreach};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use std::fmt;

/// A record as read from the table: where it was found (its key's line, number and day), the
/// hash stored with it, and its content — or why that could not be read.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub line: String,
    pub seq: u64,
    pub day: NaiveDate,
    pub hash: Option<ChainHash>,
    pub record: Result<AllocationRecord, String>,
}

/// One line's records in a period, in key order, with what verification needs around them.
#[derive(Debug, Clone)]
pub struct ChainStretch {
    pub line: String,
    /// The record before the first one of the period, when the first one's `prev_at` says where
    /// it is and it is still kept (`None`: not found, or the period starts the chain).
    pub before: Option<StoredRecord>,
    pub records: Vec<StoredRecord>,
    /// The line's chain head, when the period reaches the present (its last record must be
    /// the head's).
    pub head: Option<ChainLink>,
}

/// What is wrong at one position of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The record's content does not hash to its stored hash, or its successor (or the chain's
    /// head) holds another hash for it: it was changed after it was written.
    Edited,
    /// No record at this position (through `through`), though its successor says it should
    /// still be kept.
    Missing { through: u64 },
    /// The record is not where its content says (line, number, day), or its time is before its
    /// predecessor's, or the head of the chain is behind it.
    OutOfOrder(&'static str),
    /// The record could not be read.
    Unreadable(String),
    /// The matching rule would not have made this allocation.
    Rule(RuleBreach),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Edited => f.write_str("edited: its hash does not match"),
            Problem::Missing { through } => write!(f, "missing (through number {through})"),
            Problem::OutOfOrder(why) => write!(f, "out of order: {why}"),
            Problem::Unreadable(why) => write!(f, "unreadable: {why}"),
            Problem::Rule(breach) => write!(f, "not the matching rule's allocation: {breach}"),
        }
    }
}

impl Problem {
    /// A short name for programs (`edited`, `missing`, `out_of_order`, `unreadable`, `rule`).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Edited => "edited",
            Problem::Missing { .. } => "missing",
            Problem::OutOfOrder(_) => "out_of_order",
            Problem::Unreadable(_) => "unreadable",
            Problem::Rule(_) => "rule",
        }
    }
}

/// A problem at a position: the chain (line) and the record's number in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub line: String,
    pub seq: u64,
    pub problem: Problem,
}

/// The verdict on one stretch of chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StretchVerdict {
    pub findings: Vec<Finding>,
    /// The stretch starts after records that expired (the number of its first record): their
    /// absence is the retention rule at work, not a gap.
    pub expired_start: Option<u64>,
}

/// Walks one line's stretch of chain: each record's hash, its place, its link to the one before,
/// the gaps, the head — and replays each against the matching rule. Records whose predecessor
/// is absent are accepted as the chain's start only when that predecessor's expiry (which the
/// record carries, hashed) has passed by `now`: expiry never decreases along a chain, so every
/// record before has expired too.
#[must_use]
pub fn verify_stretch(stretch: &ChainStretch, now: DateTime<Utc>) -> StretchVerdict {
    let mut verdict = StretchVerdict::default();
    let line = stretch.line.clone();
    let mut find = |seq: u64, problem: Problem| {
        verdict.findings.push(Finding {
            line: line.clone(),
            seq,
            problem,
        });
    };
    // The predecessor as the next record must see it: number, stored hash, time and expiry
    // (the latter two unknown for an unreadable one).
    let mut prev: Option<(u64, Option<ChainHash>, Option<&AllocationRecord>)> = stretch
        .before
        .as_ref()
        .map(|b| (b.seq, b.hash.clone(), b.record.as_ref().ok()));
    let mut expired_start = None;
    for stored in &stretch.records {
        let rec = match &stored.record {
            Ok(rec) => rec,
            Err(why) => {
                find(stored.seq, Problem::Unreadable(why.clone()));
                prev = Some((stored.seq, stored.hash.clone(), None));
                continue;
            }
        };
        if rec.seq != stored.seq || rec.line.to_string() != stored.line || rec.day() != stored.day {
            find(
                stored.seq,
                Problem::OutOfOrder("its content names another place in the chain"),
            );
        }
        if stored.hash.as_ref() != Some(&rec.hash()) {
            find(stored.seq, Problem::Edited);
        }
        if let Err(breach) = rec.replay() {
            find(stored.seq, Problem::Rule(breach));
        }
        match prev {
            Some((p_seq, ref p_hash, p_rec)) if p_seq + 1 == stored.seq => {
                if p_hash.as_ref() != Some(&rec.prev) {
                    // The predecessor's hash is not the one this record was chained to: it was
                    // changed (and its hash recomputed) after this record was written.
                    find(p_seq, Problem::Edited);
                }
                if let Some(p) = p_rec {
                    if rec.at < p.at || rec.prev_at != Some(p.at) {
                        find(
                            stored.seq,
                            Problem::OutOfOrder("its time is not after its predecessor's"),
                        );
                    }
                    if rec.prev_expires_at != p.expires_at || rec.expires_at < p.expires_at {
                        find(p_seq, Problem::Edited);
                    }
                }
            }
            Some((p_seq, _, _)) if p_seq < stored.seq => find(
                p_seq + 1,
                Problem::Missing {
                    through: stored.seq - 1,
                },
            ),
            Some(_) => find(
                stored.seq,
                Problem::OutOfOrder("its number does not follow its predecessor's"),
            ),
            None if rec.seq == 1 => {
                if rec.prev != ChainHash::genesis() || rec.prev_at.is_some() {
                    find(stored.seq, Problem::Edited);
                }
            }
            None if rec.prev_expires_at <= now.timestamp() => expired_start = Some(rec.seq),
            None => find(
                rec.seq - 1,
                Problem::Missing {
                    through: rec.seq - 1,
                },
            ),
        }
        prev = Some((stored.seq, stored.hash.clone(), Some(rec)));
    }
    if let (Some(head), Some((last, hash, _))) = (&stretch.head, &prev) {
        if head.seq > *last {
            find(last + 1, Problem::Missing { through: head.seq });
        } else if head.seq < *last {
            find(
                *last,
                Problem::OutOfOrder("it is beyond the head of its chain"),
            );
        } else if hash.as_ref() != Some(&head.hash) {
            find(*last, Problem::Edited);
        }
    }
    verdict.expired_start = expired_start;
    verdict
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationReport {
    pub period: Period,
    /// Records read in the period.
    pub records: usize,
    /// Chains (lines) with records in the period.
    pub lines: usize,
    /// Every problem, by chain and position.
    pub findings: Vec<Finding>,
    /// Chains whose records before the period's first one have expired (line, number of the
    /// first kept record): retention at work, not a gap.
    pub expired_starts: Vec<(String, u64)>,
}

impl AllocationReport {
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// The days a verification looks at (UTC, both included): at most [`Period::MAX_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    pub const MAX_DAYS: i64 = 31;

    /// `from` and `to` as given (`YYYY-MM-DD`, blank for the default): by default the seven
    /// days up to `today`.
    ///
    /// # Errors
    /// Every field that is not a date, a `to` before `from`, and a period over
    /// [`Period::MAX_DAYS`] days, by field name.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, std::collections::BTreeMap<String, String>> {
        let mut errors = std::collections::BTreeMap::new();
        let mut date = |name: &str, text: Option<&str>| match text.map(str::trim) {
            None | Some("") => None,
            Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| {
                    errors.insert(name.to_owned(), "must be a date YYYY-MM-DD".to_owned());
                })
                .ok(),
        };
        let (given_from, given_to) = (date("from", from), date("to", to));
        if !errors.is_empty() {
            return Err(errors);
        }
        let to = given_to.unwrap_or(today);
        let from = given_from.unwrap_or(to - Duration::days(6));
        if to < from {
            errors.insert("to".into(), "must not be before from".into());
        } else if (to - from).num_days() >= Self::MAX_DAYS {
            errors.insert(
                "to".into(),
                format!("a period is at most {} days", Self::MAX_DAYS),
            );
        }
        if errors.is_empty() {
            Ok(Self { from, to })
        } else {
            Err(errors)
        }
    }

    /// Its days, in order.
    pub fn days(self) -> impl Iterator<Item = NaiveDate> {
        self.from.iter_days().take_while(move |d| *d <= self.to)
    }
}
