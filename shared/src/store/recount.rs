//! A line's counts recounted from its entries (`POST /admin/lines/recount`): for lines whose
//! entries were put before lines were counted, or counts a crash or a bug left wrong.
//!
//! Each counts item is set to what the entries say, conditioned on every count it changes or
//! removes still being what was read and every count it adds still being absent. A put or delete
//! of an entry changes its counts in its own transaction, so one that comes between the reads
//! and the write fails the condition of the item it touched (the line is then read again), and
//! one that touches no item the recount writes is kept as it is: no concurrent change is lost.

use super::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// How often one line is read and written again when entries came or went meanwhile.
const ATTEMPTS: u32 = 5;

/// What a recount found in one line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recounted {
    /// The entries the line holds.
    pub entries: usize,
    /// Counts items that did not agree with them and were set right.
    pub corrected: usize,
}

/// Counts by attribute name (`d20261205`, `h07`, `p2`).
type Counts = BTreeMap<String, i64>;

/// The counts items a line's entries call for (by sort key in its counts partition): the
/// entries per UTC day of confirmation, and per day per UTC hour. `sks` are the entries' sort
/// keys (`<confirmed_at>#<wish id>`).
fn wanted_counts<'a>(
    sks: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, Counts>, StoreError> {
    let mut wanted: BTreeMap<String, Counts> = BTreeMap::new();
    for sk in sks {
        let at = sk
            .split_once('#')
            .and_then(|(t, _)| DateTime::parse_from_rfc3339(t).ok())
            .ok_or_else(|| StoreError::Corrupt(format!("queue entry {sk:?}")))?
            .with_timezone(&Utc);
        for (item, attribute) in [
            (keys::LINE_DAYS_SK.to_owned(), keys::day_count(at)),
            (keys::line_hours_sk(at), keys::hour_count(at)),
        ] {
            *wanted
                .entry(item)
                .or_default()
                .entry(attribute)
                .or_default() += 1;
        }
    }
    Ok(wanted)
}

/// The number attributes of an item (its counts).
fn counts_of(item: &Item) -> Counts {
    item.iter()
        .filter(|(name, _)| name.as_str() != keys::PK && name.as_str() != keys::SK)
        .filter_map(|(name, v)| Some((name.clone(), v.as_n().ok()?.parse().ok()?)))
        .collect()
}

impl Store {
    /// Sets the counts of the line `pk` (a [`keys::party_line_pk`]) to what its entries say —
    /// and, for a family's line, its size's count in the one-person line's
    /// [`keys::PARTIES_SK`]. Costs a read of the line's entries (their keys only): it grows
    /// with the line, which is why it is an operator's step, not part of any request.
    ///
    /// # Errors
    /// `Conflict` when entries kept coming or going through every attempt.
    pub async fn recount_line(&self, pk: &str) -> Result<Recounted, StoreError> {
        let counts_pk = keys::line_counts_pk(pk);
        for _attempt in 0..ATTEMPTS {
            let stored: BTreeMap<String, Counts> = self
                .partition(&counts_pk, "recount_line")
                .await?
                .iter()
                .filter_map(|item| {
                    let sk = item.get(keys::SK)?.as_s().ok()?.clone();
                    Some((sk, counts_of(item)))
                })
                .collect();
            let sks: Vec<String> = self
                .partition(pk, "recount_line")
                .await?
                .iter()
                .filter_map(|item| item.get(keys::SK)?.as_s().ok().cloned())
                .filter(|sk| sk != keys::PARTIES_SK)
                .collect();
            let wanted = wanted_counts(sks.iter().map(String::as_str))?;
            let mut items: BTreeSet<&String> = stored.keys().collect();
            items.extend(wanted.keys());
            let mut corrected = 0;
            let mut held = true;
            for sk in items {
                let (have, want) = (
                    stored.get(sk).cloned().unwrap_or_default(),
                    wanted.get(sk).cloned().unwrap_or_default(),
                );
                if have != want {
                    held &= self
                        .set_counts(key(counts_pk.clone(), sk), &have, &want)
                        .await?;
                    corrected += 1;
                }
            }
            if let Some((one_person_line, persons)) = keys::family_of_line(pk) {
                let at = key(one_person_line.to_owned(), keys::PARTIES_SK);
                let parties = self.batch_get(vec![at.clone()], true).await?;
                let name = keys::party_count(persons);
                let have: Counts = parties
                    .first()
                    .map(counts_of)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(n, _)| *n == name)
                    .collect();
                let want: Counts = [(name, i64::try_from(sks.len()).unwrap_or(i64::MAX))]
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .collect();
                if have != want {
                    held &= self.set_counts(at, &have, &want).await?;
                    corrected += 1;
                }
            }
            if held {
                return Ok(Recounted {
                    entries: sks.len(),
                    corrected,
                });
            }
        }
        Err(StoreError::Conflict)
    }

    /// Every item of one partition of the wishes table (strongly consistent, all pages).
    async fn partition(&self, pk: &str, op: &'static str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let lookup = Lookup {
                consistent: true,
                start,
                ..Lookup::new("pk = :pk", Values::default().with(":pk", s(pk)))
            };
            let out = self.query(Table::Wishes, lookup, op).await?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// The counts at `at` changed from `have` (as read) to `want`: every count that differs is
    /// set or removed, conditioned on it being as read (absent for a new one). `false` when
    /// the condition failed (an entry came or went meanwhile).
    async fn set_counts(&self, at: Item, have: &Counts, want: &Counts) -> Result<bool, StoreError> {
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut condition = Vec::new();
        let mut values = Values::new();
        let names: BTreeSet<&String> = have.keys().chain(want.keys()).collect();
        for (i, name) in names.into_iter().enumerate() {
            let (old, new) = (have.get(name), want.get(name));
            if old == new {
                continue;
            }
            let placeholder = format!("#c{i}");
            values = values.name(&placeholder, name);
            match old {
                Some(count) => {
                    condition.push(format!("{placeholder} = :old{i}"));
                    values = values.with(&format!(":old{i}"), n(*count));
                }
                None => condition.push(format!("attribute_not_exists({placeholder})")),
            }
            match new {
                Some(count) => {
                    set.push(format!("{placeholder} = :new{i}"));
                    values = values.with(&format!(":new{i}"), n(*count));
                }
                None => remove.push(placeholder),
            }
        }
        let mut expression = String::new();
        if !set.is_empty() {
            expression.push_str("SET ");
            expression.push_str(&set.join(", "));
        }
        if !remove.is_empty() {
            expression.push_str(" REMOVE ");
            expression.push_str(&remove.join(", "));
        }
        let condition = condition.join(" AND ");
        let update = writes::expression_update(
            &self.wishes,
            at,
            expression.trim(),
            Some(&condition),
            &values,
        )?;
        Ok(self.send_update(&update, "recount_line").await?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wanted_counts_are_the_entries_per_day_and_per_hour() {
        let wanted = wanted_counts([
            "2026-12-05T07:10:00.000Z#a",
            "2026-12-05T07:50:00.000Z#b",
            "2026-12-05T09:00:00.000Z#c",
            "2026-12-06T00:00:00.000Z#d",
        ])
        .unwrap();
        let counts = |pairs: &[(&str, i64)]| -> Counts {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
        };
        assert_eq!(
            wanted["DAYS"],
            counts(&[("d20261205", 3), ("d20261206", 1)])
        );
        assert_eq!(wanted["H20261205"], counts(&[("h07", 2), ("h09", 1)]));
        assert_eq!(wanted["H20261206"], counts(&[("h00", 1)]));
        assert!(wanted_counts(["not a key"]).is_err());
    }
}
