//! The lines' entries and their counts: each line counts its entries per day and hour of
//! confirmation, in the transactions that put and delete them, so the wish page's place in line
//! costs the same at place 10 and at place 10 000 (`docs/data-model.md`, "Places in line").

use super::prelude::*;
use keys::LINE_DAYS_SK;
use rand::RngExt as _;

/// Most entries one transaction puts or deletes with their counts: up to three items each (the
/// entry, its line's day count, the day's hour count), within the 100 items a transaction takes.
const ENTRIES_PER_TX: usize = 25;

/// How often a batch of entries is tried again when the counts or entries changed under it
/// (another wish leaving the same line and day at once), with a jittered, growing wait between
/// tries so that the deletes that conflicted do not retry in step.
const COUNT_ATTEMPTS: u32 = 10;

/// A change of one count of a line.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// One more entry (or several).
    Add(i64),
    /// One entry less, the count having been `seen`: conditioned on it, removed when it
    /// reaches 0.
    Take { seen: i64 },
}

/// A number attribute of a counts item; 0 when absent or not a number.
fn number(item: &Item, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The number attributes of a counts item, by name (the keys and other text are left out).
fn numbers(item: &Item) -> impl Iterator<Item = (&str, i64)> {
    item.iter().filter_map(|(name, v)| {
        let n = v.as_n().ok()?.parse().ok()?;
        Some((name.as_str(), n))
    })
}

/// How many entries stand ahead of an entry confirmed at `at` in one line, from the line's
/// counts: those of earlier days (`days`, the attributes of its [`LINE_DAYS_SK`] item), those
/// of earlier hours of the same day (`hours`, its [`keys::line_hours_sk`] item's) and `in_hour`,
/// the entries of its own hour ahead of it. Attributes that are not counts are ignored, and a
/// count below zero counts as none.
fn ahead_from_counts<'a>(
    days: impl IntoIterator<Item = (&'a str, i64)>,
    hours: impl IntoIterator<Item = (&'a str, i64)>,
    at: DateTime<Utc>,
    in_hour: usize,
) -> usize {
    let (day, hour) = (keys::day_count(at), keys::hour_count(at));
    let before = |counts: Vec<(&str, i64)>, prefix: char, mine: &str| -> i64 {
        counts
            .into_iter()
            .filter(|(name, _)| {
                name.len() == mine.len()
                    && name.starts_with(prefix)
                    && name[1..].bytes().all(|b| b.is_ascii_digit())
                    && *name < mine
            })
            .map(|(_, n)| n.max(0))
            .sum()
    };
    let counted = before(days.into_iter().collect(), 'd', &day)
        + before(hours.into_iter().collect(), 'h', &hour);
    usize::try_from(counted).unwrap_or(0) + in_hour
}

impl Store {
    /// Puts the wish's entries `(line, place)`, each kept until `keep_until`. A new entry is
    /// counted in its line ([`keys::line_counts_pk`]) in the transaction that puts it, so a count
    /// changes exactly when an entry comes or goes, whatever is repeated or retried; an entry
    /// that is there already (a refresh, a repeat) only gets its new time to live.
    pub(super) async fn put_entries(
        &self,
        wish: &Wish,
        entries: &[(String, String)],
        keep_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(at) = wish.ranked_at() else {
            return Ok(());
        };
        for chunk in entries.chunks(ENTRIES_PER_TX) {
            // Per entry: new (put only if absent, and counted) or there (refreshed only if
            // present). A failed condition says which it is: flip it and try again.
            let mut new = vec![true; chunk.len()];
            let mut done = false;
            for _attempt in 0..COUNT_ATTEMPTS {
                let mut items = Vec::new();
                let mut entry_at = Vec::new();
                for (i, ((pk, sk), is_new)) in chunk.iter().zip(&new).enumerate() {
                    let record = QueueEntryRecord {
                        pk: pk.clone(),
                        sk: sk.clone(),
                        wish: wish.id.to_string(),
                        // A phone wish's entry has none: matching reads the wish.
                        email: wish.contact.email().map(|e| e.as_ref().to_owned()),
                        language: Some(wish.language),
                        expires_at: Some(epoch(keep_until)),
                    };
                    let condition = if *is_new {
                        "attribute_not_exists(pk)"
                    } else {
                        "attribute_exists(pk)"
                    };
                    entry_at.push(Some(i));
                    items.push(self.put_when(Table::Wishes, &record, condition, &Values::new())?);
                    if *is_new {
                        if let Some(change) = self.family_change(pk, 1)? {
                            entry_at.push(None);
                            items.push(change);
                        }
                        for count in [
                            (LINE_DAYS_SK.to_owned(), keys::day_count(at)),
                            (keys::line_hours_sk(at), keys::hour_count(at)),
                        ] {
                            entry_at.push(None);
                            items.push(self.count_change(pk, count, Change::Add(1))?);
                        }
                    }
                }
                match self.transact_or_failed(items, None).await? {
                    Ok(()) => {
                        done = true;
                        break;
                    }
                    Err(failed) => {
                        for i in failed
                            .iter()
                            .filter_map(|p| entry_at.get(*p).copied().flatten())
                        {
                            new[i] = !new[i];
                        }
                    }
                }
            }
            if !done {
                return Err(StoreError::Conflict);
            }
        }
        Ok(())
    }

    /// Deletes the wish's entries `(line, place)` and takes each out of its line's counts in the
    /// same transaction. The counts are read first (strongly consistent) and each change is
    /// conditioned on the count read, so concurrent changes to the same line and day cannot
    /// leave a wrong count; a count that reaches 0 is removed (a day's hours item with its last
    /// entry), so the items hold only days and hours with entries in line. An entry that is gone
    /// already is left out; an entry with no count (put before lines were counted) is deleted
    /// without touching the counts.
    pub(super) async fn delete_entries(
        &self,
        wish: &Wish,
        entries: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        let Some(at) = wish.ranked_at() else {
            return Ok(());
        };
        for chunk in entries.chunks(ENTRIES_PER_TX) {
            let mut left: Vec<&(String, String)> = chunk.iter().collect();
            let mut done = false;
            for attempt in 0..COUNT_ATTEMPTS {
                if left.is_empty() {
                    done = true;
                    break;
                }
                if attempt > 0 {
                    let most = 10u64 << attempt.min(6);
                    let wait = rand::rng().random_range(most / 2..=most);
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                }
                let pks: Vec<String> = left.iter().map(|(pk, _)| pk.clone()).collect();
                let counts = self.line_counts(&pks, at, true).await?;
                let mut items = Vec::new();
                let mut entry_at = Vec::new();
                for (i, ((pk, sk), (days, hours))) in left.iter().zip(&counts).enumerate() {
                    let delete = Delete::builder()
                        .table_name(self.wishes.as_str())
                        .set_key(Some(key(pk.clone(), sk)))
                        .condition_expression("attribute_exists(pk)")
                        .build()?;
                    entry_at.push(Some(i));
                    items.push(TransactWriteItem::builder().delete(delete).build());
                    if let Some(change) = self.family_change(pk, -1)? {
                        entry_at.push(None);
                        items.push(change);
                    }
                    let day = number(days, &keys::day_count(at));
                    let hour = number(hours, &keys::hour_count(at));
                    if day <= 0 {
                        continue;
                    }
                    entry_at.push(None);
                    items.push(self.count_change(
                        pk,
                        (LINE_DAYS_SK.to_owned(), keys::day_count(at)),
                        Change::Take { seen: day },
                    )?);
                    let hours_key = key(keys::line_counts_pk(pk), &keys::line_hours_sk(at));
                    if day == 1 {
                        // The day's last entry: its hours go with it.
                        let delete = Delete::builder()
                            .table_name(self.wishes.as_str())
                            .set_key(Some(hours_key))
                            .build()?;
                        entry_at.push(None);
                        items.push(TransactWriteItem::builder().delete(delete).build());
                    } else if hour > 0 {
                        entry_at.push(None);
                        items.push(self.count_change(
                            pk,
                            (keys::line_hours_sk(at), keys::hour_count(at)),
                            Change::Take { seen: hour },
                        )?);
                    }
                }
                match self.transact_or_failed(items, None).await? {
                    Ok(()) => {
                        done = true;
                        break;
                    }
                    // An entry gone already is left out; a count that changed since it was read
                    // is read again.
                    Err(failed) => {
                        let gone: Vec<usize> = failed
                            .iter()
                            .filter_map(|p| entry_at.get(*p).copied().flatten())
                            .collect();
                        left = left
                            .into_iter()
                            .enumerate()
                            .filter(|(i, _)| !gone.contains(i))
                            .map(|(_, e)| e)
                            .collect();
                    }
                }
            }
            if !done {
                return Err(StoreError::Conflict);
            }
        }
        Ok(())
    }

    /// For an entry of a family's line: its size's count in the one-person line of the same hour
    /// ([`keys::PARTIES_SK`]) changed by `delta`, as a part of the entry's transaction. `None`
    /// for an entry of a one-person line.
    fn family_change(
        &self,
        line: &str,
        delta: i64,
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        let Some((one_person_line, persons)) = keys::family_of_line(line) else {
            return Ok(None);
        };
        let values = Values::new()
            .name("#size", &keys::party_count(persons))
            .with(":delta", n(delta));
        let update = writes::expression_update(
            &self.wishes,
            key(one_person_line.to_owned(), keys::PARTIES_SK),
            "ADD #size :delta",
            None,
            &values,
        )?;
        Ok(Some(TransactWriteItem::builder().update(update).build()))
    }

    /// One change of one count of `line` (`(sort key, attribute)` of its counts partition), as
    /// a part of a transaction.
    fn count_change(
        &self,
        line: &str,
        (sk, attribute): (String, String),
        change: Change,
    ) -> Result<TransactWriteItem, StoreError> {
        let values = Values::new().name("#bucket", &attribute);
        let (expression, condition, values) = match change {
            Change::Add(delta) => ("ADD #bucket :delta", None, values.with(":delta", n(delta))),
            Change::Take { seen: 1 } => (
                "REMOVE #bucket",
                Some("#bucket = :seen"),
                values.with(":seen", n(1)),
            ),
            Change::Take { seen } => (
                "ADD #bucket :delta",
                Some("#bucket = :seen"),
                values.with(":delta", n(-1)).with(":seen", n(seen)),
            ),
        };
        let update = writes::expression_update(
            &self.wishes,
            key(keys::line_counts_pk(line), &sk),
            expression,
            condition,
            &values,
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// For each line (a [`line_pk`]), its day counts and the hour counts of the day of `at`
    /// (empty items where there are none). One `BatchGetItem` per 50 lines.
    async fn line_counts(
        &self,
        lines: &[String],
        at: DateTime<Utc>,
        consistent: bool,
    ) -> Result<Vec<(Item, Item)>, StoreError> {
        let hours_sk = keys::line_hours_sk(at);
        let mut wanted: Vec<String> = lines.iter().map(|l| keys::line_counts_pk(l)).collect();
        wanted.sort();
        wanted.dedup();
        let mut found: HashMap<(String, String), Item> = HashMap::new();
        for chunk in wanted.chunks(50) {
            let keys = chunk
                .iter()
                .flat_map(|pk| [key(pk.clone(), LINE_DAYS_SK), key(pk.clone(), &hours_sk)])
                .collect();
            for item in self.batch_get(keys, consistent).await? {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                if let (Some(pk), Some(sk)) = (text(keys::PK), text(keys::SK)) {
                    found.insert((pk, sk), item);
                }
            }
        }
        Ok(lines
            .iter()
            .map(|line| {
                let pk = keys::line_counts_pk(line);
                let take = |sk: &str| {
                    found
                        .get(&(pk.clone(), sk.to_owned()))
                        .cloned()
                        .unwrap_or_default()
                };
                (take(LINE_DAYS_SK), take(&hours_sk))
            })
            .collect())
    }

    /// For each of `lines` (of the wish's service), how many entries stand ahead of the wish's
    /// place: the counts of the days and hours before its own ([`ahead_from_counts`]) and the
    /// entries of its own hour ahead of it. One `BatchGetItem` for the counts of up to 50 lines,
    /// then one query per line that reads only the entries of the wish's hour: the cost does not
    /// grow with the place. Zero for a wish never confirmed.
    ///
    /// Exact as far as the entries are (an entry a crash left behind counts until it is deleted,
    /// as it did for a count of the entries).
    pub async fn places_ahead(
        &self,
        wish: &Wish,
        lines: &[(OfficeId, Window)],
    ) -> Result<Vec<usize>, StoreError> {
        let Some(at) = wish.ranked_at() else {
            return Ok(vec![0; lines.len()]);
        };
        let place = queue_key(at, &wish.id);
        let pks: Vec<String> = lines
            .iter()
            .map(|(office, window)| party_line_pk(office, &wish.service, *window, wish.persons))
            .collect();
        let counts = self.line_counts(&pks, at, false).await?;
        let mut places = Vec::with_capacity(pks.len());
        for (pk, (days, hours)) in pks.iter().zip(&counts) {
            let in_hour = self.ahead_in_hour(pk, at, &place).await?;
            places.push(ahead_from_counts(
                numbers(days),
                numbers(hours),
                at,
                in_hour,
            ));
        }
        Ok(places)
    }

    /// The entries of line `pk` confirmed in the hour of `at` that stand ahead of `place` (read
    /// by their sort keys only).
    async fn ahead_in_hour(
        &self,
        pk: &str,
        at: DateTime<Utc>,
        place: &str,
    ) -> Result<usize, StoreError> {
        // `BETWEEN` includes `place` itself, which is not ahead of itself.
        let values = Values::default()
            .with(":pk", s(pk))
            .with(":from", s(keys::hour_start_key(at)))
            .with(":place", s(place));
        let mut ahead = 0;
        let mut start = None;
        loop {
            let lookup = Lookup {
                start,
                projection: Some("sk"),
                ..Lookup::new("pk = :pk AND sk BETWEEN :from AND :place", values.clone())
            };
            let out = self.query(Table::Wishes, lookup, "ahead_in_hour").await?;
            ahead += out
                .items()
                .iter()
                .filter(|i| {
                    i.get(keys::SK)
                        .and_then(|v| v.as_s().ok())
                        .map(String::as_str)
                        != Some(place)
                })
                .count();
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(ahead);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn at(day: i64, second: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_764_979_200, 0).unwrap()
            + Duration::days(day)
            + Duration::seconds(second)
    }

    /// The counts the transactions keep for `entries` (confirmation times), and each entry's key.
    fn counted(
        entries: &[(DateTime<Utc>, WishId)],
    ) -> (BTreeMap<String, i64>, BTreeMap<(String, String), i64>) {
        let mut days = BTreeMap::new();
        let mut hours = BTreeMap::new();
        for (t, _) in entries {
            *days.entry(keys::day_count(*t)).or_default() += 1;
            *hours
                .entry((keys::line_hours_sk(*t), keys::hour_count(*t)))
                .or_default() += 1;
        }
        (days, hours)
    }

    /// What the store computes for the entry `mine`: the counts, and its hour's entries read
    /// with the key condition `BETWEEN hour start AND its key`.
    fn from_counts(entries: &[(DateTime<Utc>, WishId)], mine: usize) -> usize {
        let (days, hours) = counted(entries);
        let (t, id) = &entries[mine];
        let place = queue_key(*t, id);
        let from = keys::hour_start_key(*t);
        let in_hour = entries
            .iter()
            .map(|(t, id)| queue_key(*t, id))
            .filter(|k| k.as_str() >= from.as_str() && k <= &place && k != &place)
            .count();
        let my_hours = hours
            .iter()
            .filter(|((sk, _), _)| *sk == keys::line_hours_sk(*t))
            .map(|((_, h), n)| (h.as_str(), *n));
        ahead_from_counts(
            days.iter().map(|(d, n)| (d.as_str(), *n)),
            my_hours,
            *t,
            in_hour,
        )
    }

    #[test]
    fn a_place_counts_earlier_days_earlier_hours_and_its_own_hour_ahead_of_it() {
        let entries: Vec<_> = [
            (0, 10),         // the day before
            (0, 86_399),     // the day before, its last second
            (1, 3_600 + 5),  // the same day, an hour before
            (1, 7_200),      // the same hour, ahead
            (1, 7_200 + 30), // mine
            (1, 7_200 + 31), // behind in the same hour
            (1, 10_800),     // the next hour
            (2, 0),          // the next day
        ]
        .iter()
        .map(|(d, s)| (at(*d, *s), WishId::generate()))
        .collect();
        assert_eq!(from_counts(&entries, 4), 4);
        assert_eq!(from_counts(&entries, 0), 0);
        assert_eq!(from_counts(&entries, 7), 7);
    }

    #[test]
    fn other_attributes_and_counts_below_zero_count_for_nothing() {
        // at(1, 7_200) is 2025-12-07 02:00 UTC.
        let days = [
            ("d20251206", 3),
            ("d202512", 9),
            ("pk", 5),
            ("d20251207", -2),
        ];
        let hours = [("h01", 2), ("h1", 9), ("hxx", 9), ("h02", 7)];
        assert_eq!(ahead_from_counts(days, hours, at(1, 7_200), 0), 3 + 2);
        assert_eq!(
            ahead_from_counts(days, hours, at(2, 10_800), 1),
            3 + 2 + 7 + 1
        );
    }

    proptest! {
        /// Whatever the confirmation times (same millisecond, same hour, days apart), the counts
        /// give every entry the place a count of the entries ahead of it gives.
        #[test]
        fn the_counts_give_the_place_a_count_of_the_entries_gives(
            times in proptest::collection::vec((0i64..4, 0i64..86_400, 0i64..3), 1..60),
            pick in any::<prop::sample::Index>(),
        ) {
            let entries: Vec<_> = times
                .iter()
                .map(|(d, s, ms)| {
                    (at(*d, *s) + Duration::milliseconds(*ms), WishId::generate())
                })
                .collect();
            let mine = pick.index(entries.len());
            let place = queue_key(entries[mine].0, &entries[mine].1);
            let expected = entries
                .iter()
                .filter(|(t, id)| queue_key(*t, id) < place)
                .count();
            prop_assert_eq!(from_counts(&entries, mine), expected);
        }
    }
}
