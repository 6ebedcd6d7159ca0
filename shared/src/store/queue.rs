//! The lines: one partition per office × service × weekday × hour, entries sorted by confirmation time.

use super::prelude::*;
use crate::domain::allocation::ChainLink;

/// Where a listing of wishes goes on (opaque).
#[derive(Debug, Clone)]
pub struct ListCursor(pub(super) Item);

/// One place in a line.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    /// Its sort key: the wish's place (entries of different lines compare by it).
    pub place: String,
    pub wish: WishId,
    /// `None` for entries written before addresses were kept in them.
    pub email: Option<crate::domain::Email>,
    pub language: crate::domain::Language,
    /// The time its place sorts by (the first part of its queue key).
    pub ranked_at: DateTime<Utc>,
}

/// The head of one line as one query reads it ([`Store::head_of_line`]).
#[derive(Debug, Clone, Default)]
pub struct Head {
    pub entries: Vec<QueueEntry>,
    /// Where the next read starts (the last place read), when there may be more.
    pub next: Option<String>,
    /// Read from the start of a one-person line: the party sizes (2 to 5) of the families that
    /// wait in its hour.
    pub families: Vec<u8>,
    /// Read from the start of a one-person line: the last record of its allocation chain
    /// (`None` before the line's first offer).
    pub chain: Option<ChainLink>,
}

/// The party sizes a one-person line's [`keys::PARTIES_SK`] item counts as waiting.
fn families_waiting(item: &Item) -> Vec<u8> {
    (2..=crate::domain::persons::MAX_PERSONS)
        .filter(|p| {
            item.get(&keys::party_count(*p))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|n| n > 0)
        })
        .collect()
}

/// The keys (line, place) of a wish's entries in `lines`; `None` before it is confirmed (it has
/// no place yet).
fn entry_keys<'a>(
    wish: &'a Wish,
    lines: &'a [(OfficeId, Window)],
) -> Option<impl Iterator<Item = (String, String)> + 'a> {
    let place = queue_key(wish.ranked_at()?, &wish.id);
    Some(lines.iter().map(move |(office, window)| {
        let pk = party_line_pk(office, &wish.service, *window, wish.persons);
        (pk, place.clone())
    }))
}

impl Store {
    /// Puts the wish into each line it stands in, each entry kept until `keep_until`, and
    /// records those lines on the wish. Idempotent; called again (e.g. when the wish is kept) it
    /// refreshes the entries' time to live.
    ///
    /// An enqueue that lost a race with the wish's end (cancelled, expired meanwhile) takes the
    /// entries it wrote out again: no entry outlives its wish.
    pub async fn enqueue(
        &self,
        wish: &Wish,
        lines: &[(OfficeId, Window)],
        next_age_check: DateTime<Utc>,
        keep_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(entries) = entry_keys(wish, lines) else {
            return Ok(());
        };
        let entries: Vec<(String, String)> = entries.collect();
        self.put_entries(wish, &entries, keep_until).await?;
        // Done: off the list of wishes whose enqueueing the rescan must finish, onto the list of
        // wishes whose age the rescan watches, with the lines it now stands in.
        let queued = entries.iter().map(|(pk, _)| s(pk.as_str())).collect();
        let v = Values::new()
            .with(":at", s(due_sk(next_age_check, &wish.id)))
            .with(":queued", AttributeValue::L(queued));
        let key = wish_key(&wish.id);
        let moved = self.apply(Write::WishEnqueued, key, &v, "enqueue").await?;
        // Counted once: only the call that moved the marker counts the wish.
        if moved.is_some() {
            let lines: Vec<String> = entries.iter().map(|(pk, _)| pk.clone()).collect();
            self.bump_waiting(wish, 1, &lines).await;
            return Ok(());
        }
        // Not moved: enqueued before (a repeat, or a refresh), or the wish ended meanwhile.
        let now_state = self
            .read::<WishRecord>(Table::Wishes, wish_key(&wish.id), "enqueue")
            .await?;
        if now_state.is_none_or(|r| !r.wish.status.is_active()) {
            self.delete_entries(wish, entries).await?;
        }
        Ok(())
    }

    /// Takes the wish out of the lines it was put into (after it ended) — those recorded on it,
    /// or `lines` for a wish enqueued before lines were recorded. Entries left behind by a crash
    /// are harmless: matching reads the wish and skips it, and they expire with their TTL.
    pub async fn dequeue(
        &self,
        wish: &Wish,
        lines: &[(OfficeId, Window)],
    ) -> Result<(), StoreError> {
        let Some(place) = wish.ranked_at().map(|t| queue_key(t, &wish.id)) else {
            return Ok(());
        };
        let recorded = self
            .read::<WishRecord>(Table::Wishes, wish_key(&wish.id), "dequeue")
            .await?
            .and_then(|r| r.queued);
        let entries: Vec<(String, String)> = match recorded {
            Some(pks) => pks.into_iter().map(|pk| (pk, place.clone())).collect(),
            None => entry_keys(wish, lines)
                .map(Iterator::collect)
                .unwrap_or_default(),
        };
        let lines: Vec<String> = entries.iter().map(|(pk, _)| pk.clone()).collect();
        self.delete_entries(wish, entries).await?;
        self.bump_waiting(wish, -1, &lines).await;
        Ok(())
    }

    /// The wishes on the age list (every wish in line), a page at a time, with the lines each
    /// was put into (partition keys; `None` for a wish enqueued before lines were recorded).
    pub async fn wishes_in_line(
        &self,
        after: Option<ListCursor>,
        limit: i32,
    ) -> Result<(Vec<(Wish, Option<Vec<String>>)>, Option<ListCursor>), StoreError> {
        let lookup = Lookup {
            index: Some(keys::GSI),
            limit: Some(limit),
            start: after.map(|c| c.0),
            ..Lookup::new("gsi1pk = :pk", Values::default().with(":pk", s(AGE_DUE)))
        };
        let out = self.query(Table::Wishes, lookup, "wishes_in_line").await?;
        let mut wishes = Vec::new();
        for item in out.items.unwrap_or_default() {
            let r: WishRecord = serde_dynamo::from_item(item)?;
            let queued = r.queued.clone();
            wishes.push((r.into_wish(), queued));
        }
        Ok((wishes, out.last_evaluated_key.map(ListCursor)))
    }

    /// Moves a wish into the lines it stands in now and out of those it no longer does, at its
    /// own place (its confirmation time): FIFO holds in a newly opened hour too. `false` when
    /// the wish left the line meanwhile (what this wrote is taken out again).
    pub async fn reline(
        &self,
        wish: &Wish,
        queued: &[String],
        lines: &[(OfficeId, Window)],
        keep_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(place) = wish.ranked_at().map(|t| queue_key(t, &wish.id)) else {
            return Ok(false);
        };
        let now_in: Vec<String> = lines
            .iter()
            .map(|(office, window)| party_line_pk(office, &wish.service, *window, wish.persons))
            .collect();
        let added: Vec<(String, String)> = now_in
            .iter()
            .filter(|pk| !queued.contains(pk))
            .map(|pk| (pk.clone(), place.clone()))
            .collect();
        let removed: Vec<(String, String)> = queued
            .iter()
            .filter(|pk| !now_in.contains(pk))
            .map(|pk| (pk.clone(), place.clone()))
            .collect();
        if added.is_empty() && removed.is_empty() {
            return Ok(true);
        }
        self.put_entries(wish, &added, keep_until).await?;
        let v = Values::new().with(
            ":queued",
            AttributeValue::L(now_in.iter().map(|pk| s(pk.as_str())).collect()),
        );
        let moved = self
            .apply(Write::WishRelined, wish_key(&wish.id), &v, "reline")
            .await?;
        if moved.is_none() {
            self.delete_entries(wish, added).await?;
            return Ok(false);
        }
        self.delete_entries(wish, removed).await?;
        Ok(true)
    }

    /// Wishes confirmed but not yet in their lines for longer than `grace` (a crash between the
    /// two steps). Cost grows with such wishes only, normally none.
    pub async fn wishes_to_enqueue(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Wish>, StoreError> {
        let items = self.gsi_due(ENQUEUE_DUE, &ts(before), 100).await?;
        Self::current_wishes(items, now)
    }

    /// The head of the line of `persons` (see [`keys::party_line_pk`]): up to `limit` entries in
    /// queue order, starting after `after` (a queue key). One query, whatever the length of the
    /// line; from the start of a one-person line it also reads the items that sort before its
    /// entries: which families wait in its hour ([`keys::PARTIES_SK`]) and the head of its
    /// allocation chain ([`keys::CHAIN_HEAD_SK`]).
    pub async fn head_of_line(
        &self,
        (office, service, window): (&OfficeId, &ServiceId, Window),
        persons: u8,
        after: Option<&str>,
        limit: i32,
    ) -> Result<Head, StoreError> {
        let pk = keys::party_line_pk(office, service, window, persons);
        let with_head = after.is_none() && persons <= 1;
        let values = Values::default()
            .with(":pk", s(pk.clone()))
            .with(":from", s(keys::ENTRIES_FROM));
        let (condition, before_entries) = if with_head {
            ("pk = :pk", 2)
        } else {
            ("pk = :pk AND sk >= :from", 0)
        };
        let lookup = Lookup {
            consistent: true,
            limit: Some(limit + before_entries),
            start: after.map(|sk| key(pk.clone(), sk)),
            ..Lookup::new(condition, values)
        };
        let out = self.query(Table::Wishes, lookup, "head_of_line").await?;
        let mut head = Head::default();
        for item in out.items.unwrap_or_default() {
            let sk = item.get(keys::SK).and_then(|v| v.as_s().ok());
            if sk.is_some_and(|sk| sk.as_str() < keys::ENTRIES_FROM) {
                if sk.is_some_and(|sk| sk == keys::CHAIN_HEAD_SK) {
                    head.chain = Some(super::allocations::chain_link(item)?);
                } else if sk.is_some_and(|sk| sk == keys::PARTIES_SK) {
                    head.families = families_waiting(&item);
                }
                continue;
            }
            let r: QueueEntryRecord = serde_dynamo::from_item(item)?;
            let ranked_at =
                r.sk.split_once('#')
                    .and_then(|(at, _)| DateTime::parse_from_rfc3339(at).ok())
                    .ok_or_else(|| StoreError::Corrupt("queue entry".into()))?
                    .with_timezone(&Utc);
            head.entries.push(QueueEntry {
                ranked_at,
                wish: WishId::parse(&r.wish)
                    .map_err(|_| StoreError::Corrupt("queue entry".into()))?,
                email: r
                    .email
                    .as_deref()
                    .and_then(|e| crate::domain::Email::parse(e).ok()),
                language: r.language.unwrap_or_default(),
                place: r.sk,
            });
        }
        head.next = out
            .last_evaluated_key
            .and_then(|k| k.get("sk").and_then(|v| v.as_s().ok()).cloned())
            .filter(|sk| sk.as_str() >= keys::ENTRIES_FROM);
        Ok(head)
    }

    /// How many wishes stand ahead of the queue key `before` in one line, by counting the
    /// entries (a `Count` query: its cost grows with the place). For tests and the benchmark,
    /// which check [`Store::places_ahead`] against it.
    pub async fn ahead_in_line(
        &self,
        office: &OfficeId,
        service: &ServiceId,
        window: Window,
        before: &str,
    ) -> Result<usize, StoreError> {
        let values = Values::default()
            .with(":pk", s(line_pk(office, service, window)))
            .with(":from", s(keys::ENTRIES_FROM))
            .with(":before", s(before));
        // Items before the entries (the families' count, the chain's head) are no wishes.
        let all = self
            .count_all("pk = :pk AND sk < :before", values.clone(), "ahead_in_line")
            .await?;
        let other = self
            .count_all("pk = :pk AND sk < :from", values, "ahead_in_line")
            .await?;
        Ok(all.saturating_sub(other))
    }

    /// For tests and the local runner: the line a wish is in, to check queue order.
    pub async fn line_length(
        &self,
        office: &OfficeId,
        service: &ServiceId,
        window: Window,
    ) -> Result<usize, StoreError> {
        let values = Values::default()
            .with(":pk", s(line_pk(office, service, window)))
            .with(":from", s(keys::ENTRIES_FROM));
        self.count_all("pk = :pk AND sk >= :from", values, "line_length")
            .await
    }
}
