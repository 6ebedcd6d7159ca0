//! A realistic mix of wishes, and the fast path that writes thousands of them at once.
//!
//! The fill bypasses `POST /api/wishes` and the confirmation click on purpose: through HTTP a wish
//! costs a submission, an opt-in mail, a click and its fan-out (about 40 ms here), so 100 000
//! wishes would take over an hour, and none of that work is what the depth phase measures. It
//! writes, with `BatchWriteItem` (25 items a request, several requests in flight), exactly the
//! items a confirmed and enqueued wish leaves behind: the wish item (`waiting`, with its place in
//! line), one queue entry per (office, window) where the office is open, and the lines' counts
//! as the entries' transactions would leave them (each counts item put whole) — the layout of
//! `docs/data-model.md`. A wish read back through `Store::get_wish` checks the format each run.

use anyhow::{Context as _, Result, bail};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use shared::domain::wish::{NewWishView, queue_lines, windows_map};
use shared::domain::{Catalog, OfficeId, ServiceId, Weekday, Window, WishId};
use shared::store::keys;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One queue line: everyone waiting for `service` at `office` in `window`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Line {
    pub office: OfficeId,
    pub service: ServiceId,
    pub window: Window,
}

impl Line {
    /// The line's partition key (`Q#<office>#<service>#<day>#<hour>`).
    #[must_use]
    pub fn pk(&self) -> String {
        keys::line_pk(&self.office, &self.service, self.window)
    }
}

/// A generated wish, ready to write.
#[derive(Debug, Clone)]
pub struct GenWish {
    pub id: WishId,
    pub email: String,
    pub service: ServiceId,
    pub offices: Vec<OfficeId>,
    pub windows: BTreeSet<Window>,
    pub english: bool,
    /// How many persons (a family's wish stands in its size's lines).
    pub persons: u8,
}

impl GenWish {
    /// The partition of this wish's entry in `line` (its party size's line).
    #[must_use]
    pub fn line_pk(&self, line: &Line) -> String {
        keys::party_line_pk(&line.office, &line.service, line.window, self.persons)
    }

    /// The body of `POST /api/wishes` for this wish.
    #[must_use]
    pub fn request_json(&self) -> serde_json::Value {
        let windows: BTreeMap<String, Vec<u8>> = windows_map(&self.windows)
            .into_iter()
            .map(|(d, h)| (d.key().to_owned(), h))
            .collect();
        serde_json::json!({
            "email": self.email,
            "service": self.service,
            "offices": self.offices,
            "windows": windows,
            "language": if self.english { "en" } else { "de" },
            "persons": self.persons,
        })
    }
}

/// Draws wishes like a city's: services by demand, one to three offices (the central ones more
/// often), the same one to three hours on one to five weekdays, mornings most wanted.
pub struct Generator {
    rng: StdRng,
    catalog: Catalog,
    prefix: String,
    n: u64,
    /// Percent of wishes for two to five persons (none unless asked for).
    family_share: u32,
}

fn weighted<T: Copy>(rng: &mut StdRng, items: &[(T, u32)]) -> Option<T> {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return None;
    }
    let mut x = rng.random_range(0..total);
    for (item, w) in items {
        if x < *w {
            return Some(*item);
        }
        x -= w;
    }
    None
}

impl Generator {
    #[must_use]
    pub fn new(catalog: Catalog, seed: u64, email_prefix: &str) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            catalog,
            prefix: email_prefix.to_owned(),
            n: 0,
            family_share: 0,
        }
    }

    /// The same mix with `percent` of the wishes for families of two to five (most of two).
    #[must_use]
    pub fn with_families(mut self, percent: u32) -> Self {
        self.family_share = percent;
        self
    }

    #[must_use]
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The next wish; its windows are all within the chosen offices' opening hours.
    pub fn wish(&mut self) -> GenWish {
        self.n += 1;
        let services: Vec<(usize, u32)> = self
            .catalog
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let w = match s.id.as_ref() {
                    "id-card" => 35,
                    "passport" => 25,
                    _ => 40,
                };
                (i, w)
            })
            .collect();
        let service = weighted(&mut self.rng, &services).map_or_else(
            || self.catalog.services[0].id.clone(),
            |i| self.catalog.services[i].id.clone(),
        );
        // Offices in catalogue order are weighted 6:5:4…: the first ones are the busy central ones.
        let mut candidates: Vec<(usize, u32)> = self
            .catalog
            .offices
            .iter()
            .enumerate()
            .filter(|(_, o)| o.offers(&service))
            .map(|(i, _)| (i, u32::try_from(12 - i.min(11)).unwrap_or(1)))
            .collect();
        let want = weighted(&mut self.rng, &[(1usize, 50), (2, 35), (3, 15)]).unwrap_or(1);
        let mut offices = Vec::new();
        while offices.len() < want {
            let Some(i) = weighted(&mut self.rng, &candidates) else {
                break;
            };
            offices.push(self.catalog.offices[i].id.clone());
            candidates.retain(|(j, _)| *j != i);
        }
        let first_hour = weighted(
            &mut self.rng,
            &[
                (7u8, 10),
                (8, 25),
                (9, 15),
                (10, 10),
                (11, 8),
                (12, 8),
                (13, 6),
                (14, 6),
                (15, 6),
                (16, 4),
                (17, 2),
            ],
        )
        .unwrap_or(8);
        let hours = weighted(&mut self.rng, &[(1u8, 45), (2, 40), (3, 15)]).unwrap_or(1);
        let days = weighted(
            &mut self.rng,
            &[(1usize, 15), (2, 25), (3, 25), (4, 20), (5, 15)],
        )
        .unwrap_or(2);
        let mut weekdays: Vec<Weekday> = Weekday::ALL[..5].to_vec();
        while weekdays.len() > days {
            let i = self.rng.random_range(0..weekdays.len());
            weekdays.remove(i);
        }
        if self.rng.random_range(0..20) == 0 {
            weekdays.push(Weekday::Sat);
        }
        let open_somewhere = |w: Window| {
            offices.iter().any(|o| {
                self.catalog
                    .office(o)
                    .is_some_and(|office| office.is_open(w.day(), w.hour()))
            })
        };
        let mut windows: BTreeSet<Window> = weekdays
            .iter()
            .flat_map(|d| (first_hour..first_hour + hours).map(move |h| (*d, h)))
            .filter_map(|(d, h)| Window::new(d, h).ok())
            .filter(|w| open_somewhere(*w))
            .collect();
        if windows.is_empty() {
            // The wanted hours are all closed at these offices: the first hour the first one opens.
            let first_open = offices
                .first()
                .and_then(|o| self.catalog.office(o))
                .and_then(|o| o.opening_hours.iter().next())
                .and_then(|(day, ranges)| Some((*day, ranges.first()?[0])));
            if let Some((day, hour)) = first_open {
                windows.extend(Window::new(day, hour).ok());
            }
        }
        GenWish {
            id: WishId::generate(),
            email: format!("{}{}@bench.example.de", self.prefix, self.n),
            service,
            offices,
            windows,
            english: self.rng.random_range(0..100) < 15,
            persons: self.persons(),
        }
    }

    /// How many persons the next wish is for: one, or a family (mostly of two) at the share
    /// asked for.
    fn persons(&mut self) -> u8 {
        if self.family_share > 0 && self.rng.random_range(0..100) < self.family_share {
            weighted(&mut self.rng, &[(2u8, 10), (3, 6), (4, 3), (5, 1)]).unwrap_or(2)
        } else {
            1
        }
    }

    /// The lines a wish stands in (as confirming it would enqueue it).
    #[must_use]
    pub fn lines(&self, wish: &GenWish) -> Vec<Line> {
        queue_lines(
            &NewWishView {
                offices: &wish.offices,
                windows: &wish.windows,
            },
            &self.catalog,
        )
        .into_iter()
        .map(|(office, window)| Line {
            office,
            service: wish.service.clone(),
            window,
        })
        .collect()
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The wish item as `confirm_wish` + `enqueue` leave it (see `shared/src/store/records.rs`).
#[must_use]
pub fn wish_item(w: &GenWish, confirmed: DateTime<Utc>) -> HashMap<String, AttributeValue> {
    let id = w.id.to_string();
    let queue_key = keys::queue_key(confirmed, &w.id);
    let windows = windows_map(&w.windows)
        .into_iter()
        .map(|(d, hours)| {
            (
                d.key().to_owned(),
                AttributeValue::L(
                    hours
                        .into_iter()
                        .map(|h| AttributeValue::N(h.to_string()))
                        .collect(),
                ),
            )
        })
        .collect();
    HashMap::from([
        (keys::PK.to_owned(), s(format!("{}{id}", keys::WISH_PREFIX))),
        (keys::SK.to_owned(), s(keys::WISH_SK)),
        ("id".to_owned(), s(id.clone())),
        ("email".to_owned(), s(w.email.clone())),
        ("service".to_owned(), s(w.service.as_ref())),
        (
            "offices".to_owned(),
            AttributeValue::L(w.offices.iter().map(|o| s(o.as_ref())).collect()),
        ),
        ("windows".to_owned(), AttributeValue::M(windows)),
        (
            "language".to_owned(),
            s(if w.english { "en" } else { "de" }),
        ),
        ("status".to_owned(), s("waiting")),
        (
            "created_at".to_owned(),
            s(keys::ts(confirmed - Duration::minutes(7))),
        ),
        ("confirmed_at".to_owned(), s(keys::ts(confirmed))),
        ("queue_key".to_owned(), s(queue_key)),
        ("declined".to_owned(), AttributeValue::L(vec![])),
        ("unanswered".to_owned(), AttributeValue::N("0".into())),
        (
            "persons".to_owned(),
            AttributeValue::N(w.persons.to_string()),
        ),
        // Where `enqueue` leaves a wish: on the age list, due 83 days after confirmation.
        (keys::GSI_PK.to_owned(), s(keys::AGE_DUE)),
        (
            keys::GSI_SK.to_owned(),
            s(keys::due_sk(confirmed + Duration::days(83), &id)),
        ),
    ])
}

fn entry_item(
    line: &Line,
    w: &GenWish,
    confirmed: DateTime<Utc>,
) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (keys::PK.to_owned(), s(w.line_pk(line))),
        (keys::SK.to_owned(), s(keys::queue_key(confirmed, &w.id))),
        ("wish".to_owned(), s(w.id.as_ref())),
        // Who to write to: the usual offer reads no wish (`QueueEntryRecord`).
        ("email".to_owned(), s(w.email.clone())),
        (
            "language".to_owned(),
            s(if w.english { "en" } else { "de" }),
        ),
    ])
}

/// Writes items with `BatchWriteItem`, `in_flight` requests at a time, retrying what the
/// service leaves unprocessed. Returns the number of requests sent.
///
/// # Errors
/// When a request fails or items stay unprocessed after retries.
#[allow(clippy::implicit_hasher)]
pub async fn batch_put(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: Vec<HashMap<String, AttributeValue>>,
    in_flight: usize,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<u64> {
    let mut set = tokio::task::JoinSet::new();
    let mut requests = 0u64;
    let mut chunks = Vec::new();
    let mut chunk = Vec::with_capacity(25);
    for item in items {
        chunk.push(
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                .build(),
        );
        if chunk.len() == 25 {
            chunks.push(std::mem::take(&mut chunk));
        }
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    for chunk in chunks {
        while set.len() >= in_flight {
            if let Some(done) = set.join_next().await {
                let (written, requests_sent) = done??;
                requests += requests_sent;
                if let Some(p) = progress {
                    p.inc(written);
                }
            }
        }
        let client = client.clone();
        let table = table.to_owned();
        set.spawn(async move { write_chunk(&client, &table, chunk).await });
    }
    while let Some(done) = set.join_next().await {
        let (written, requests_sent) = done??;
        requests += requests_sent;
        if let Some(p) = progress {
            p.inc(written);
        }
    }
    Ok(requests)
}

async fn write_chunk(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    chunk: Vec<WriteRequest>,
) -> Result<(u64, u64)> {
    let n = chunk.len() as u64;
    let mut pending = chunk;
    let mut sent = 0;
    for round in 0..10u64 {
        let out = client
            .batch_write_item()
            .request_items(table, pending)
            .send()
            .await
            .context("BatchWriteItem")?;
        sent += 1;
        pending = out
            .unprocessed_items
            .and_then(|mut u| u.remove(table))
            .unwrap_or_default();
        if pending.is_empty() {
            return Ok((n, sent));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20 * (round + 1))).await;
    }
    bail!("BatchWriteItem left items unprocessed after 10 rounds")
}

/// The wishes written so far, and how long each line is.
#[derive(Debug, Default)]
pub struct Filled {
    pub wishes: Vec<(WishId, DateTime<Utc>)>,
    pub lines: BTreeMap<Line, usize>,
    pub entries: usize,
    pub requests: u64,
    /// The lines' counts (`QN#…` items, by key: their number attributes), as the store's
    /// transactions keep them for these entries (`docs/data-model.md`, "Places in line").
    pub counts: BTreeMap<(String, String), BTreeMap<String, i64>>,
    /// Entries of families (not in `lines`, which counts the one-person lines).
    pub family_entries: usize,
}

impl Filled {
    /// Counts one entry of `line` confirmed at `confirmed`; returns the keys of the two counts
    /// items it changed.
    fn count(&mut self, line: &str, confirmed: DateTime<Utc>) -> [(String, String); 2] {
        let pk = keys::line_counts_pk(line);
        let changed = [
            (
                (pk.clone(), keys::LINE_DAYS_SK.to_owned()),
                keys::day_count(confirmed),
            ),
            (
                (pk, keys::line_hours_sk(confirmed)),
                keys::hour_count(confirmed),
            ),
        ];
        changed.map(|(item, attribute)| {
            *self
                .counts
                .entry(item.clone())
                .or_default()
                .entry(attribute)
                .or_default() += 1;
            item
        })
    }

    /// Counts one entry of a family of `persons` in the one-person line of its hour
    /// (`#parties`); returns the key of that item.
    fn count_family(&mut self, line: &Line, persons: u8) -> (String, String) {
        let parties = (line.pk(), keys::PARTIES_SK.to_owned());
        *self
            .counts
            .entry(parties.clone())
            .or_default()
            .entry(keys::party_count(persons))
            .or_default() += 1;
        self.family_entries += 1;
        parties
    }

    /// The counts items at `keys` as they stand, to be put whole.
    fn count_items(
        &self,
        keys: &BTreeSet<(String, String)>,
    ) -> Vec<HashMap<String, AttributeValue>> {
        keys.iter()
            .filter_map(|k| {
                let counts = self.counts.get(k)?;
                let mut item: HashMap<String, AttributeValue> = counts
                    .iter()
                    .map(|(name, n)| (name.clone(), AttributeValue::N(n.to_string())))
                    .collect();
                item.insert(keys::PK.to_owned(), s(k.0.clone()));
                item.insert(keys::SK.to_owned(), s(k.1.clone()));
                Some(item)
            })
            .collect()
    }
}

/// Writes `count` more waiting wishes (and their queue entries) into `table`. Places in line
/// are spread over the 30 days before `now`, later calls behind earlier ones (`start`..`end` of
/// `total`).
///
/// # Errors
/// When a write fails.
#[allow(clippy::too_many_arguments)]
pub async fn fill(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    generator: &mut Generator,
    filled: &mut Filled,
    count: usize,
    total: usize,
    now: DateTime<Utc>,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<()> {
    let span_ms = Duration::days(30).num_milliseconds();
    let total = i64::try_from(total.max(1))?;
    let mut items = Vec::with_capacity(count * 7);
    let mut changed = BTreeSet::new();
    for _ in 0..count {
        let wish = generator.wish();
        let k = i64::try_from(filled.wishes.len())?;
        let confirmed = now - Duration::days(30) + Duration::milliseconds(span_ms * k / total);
        items.push(wish_item(&wish, confirmed));
        for line in generator.lines(&wish) {
            items.push(entry_item(&line, &wish, confirmed));
            changed.extend(filled.count(&wish.line_pk(&line), confirmed));
            if wish.persons > 1 {
                changed.insert(filled.count_family(&line, wish.persons));
            } else {
                *filled.lines.entry(line).or_default() += 1;
            }
            filled.entries += 1;
        }
        filled.wishes.push((wish.id, confirmed));
    }
    // The lines' counts as the entries' transactions would leave them, each item put whole.
    items.extend(filled.count_items(&changed));
    if let Some(p) = progress {
        p.set_length(p.length().unwrap_or(0) + items.len() as u64);
    }
    // Eight in flight: enough to keep DynamoDB Local's threads busy on two cores.
    filled.requests += batch_put(client, table, items, 8, progress).await?;
    Ok(())
}

/// Writes `count` more waiting wishes for `persons` that stand in `line` alone (its office, its
/// window), confirmed evenly from `from` on, `step` apart; returns them.
///
/// # Errors
/// When a write fails.
#[allow(clippy::too_many_arguments)]
pub async fn fill_line(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    filled: &mut Filled,
    line: &Line,
    (count, persons): (usize, u8),
    (from, step): (DateTime<Utc>, Duration),
) -> Result<Vec<GenWish>> {
    let mut items = Vec::with_capacity(count * 2);
    let mut changed = BTreeSet::new();
    let mut wishes = Vec::with_capacity(count);
    for k in 0..i32::try_from(count)? {
        let wish = GenWish {
            id: WishId::generate(),
            email: format!("line-{persons}-{k}@bench.example.de"),
            service: line.service.clone(),
            offices: vec![line.office.clone()],
            windows: BTreeSet::from([line.window]),
            english: false,
            persons,
        };
        let confirmed = from + step * k;
        items.push(wish_item(&wish, confirmed));
        items.push(entry_item(line, &wish, confirmed));
        changed.extend(filled.count(&wish.line_pk(line), confirmed));
        if persons > 1 {
            changed.insert(filled.count_family(line, persons));
        } else {
            *filled.lines.entry(line.clone()).or_default() += 1;
        }
        filled.entries += 1;
        filled.wishes.push((wish.id.clone(), confirmed));
        wishes.push(wish);
    }
    items.extend(filled.count_items(&changed));
    filled.requests += batch_put(client, table, items, 8, None).await?;
    Ok(wishes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::from_json(include_str!("../../data/catalog.json")).unwrap()
    }

    #[test]
    fn generated_wishes_are_valid_submissions() {
        let cat = catalog();
        for seed in [7, 42, 43, 44] {
            let mut g = Generator::new(cat.clone(), seed, "t");
            valid(&cat, &mut g);
        }
    }

    fn valid(cat: &Catalog, g: &mut Generator) {
        for _ in 0..3000 {
            let w = g.wish();
            let req: shared::http::WishRequest = serde_json::from_value(w.request_json()).unwrap();
            let checked = req.draft().validate(cat).unwrap();
            assert_eq!(checked.windows, w.windows);
            assert!(!g.lines(&w).is_empty());
        }
    }

    #[test]
    fn the_mix_is_spread_over_offices_services_and_hours() {
        let mut g = Generator::new(catalog(), 1, "t");
        let mut lines = BTreeMap::<Line, usize>::new();
        let mut services = BTreeSet::new();
        for _ in 0..2000 {
            let w = g.wish();
            services.insert(w.service.to_string());
            for l in g.lines(&w) {
                *lines.entry(l).or_default() += 1;
            }
        }
        assert_eq!(services.len(), 3);
        let offices: BTreeSet<_> = lines.keys().map(|l| l.office.to_string()).collect();
        assert!(offices.len() >= 5, "{offices:?}");
        assert!(lines.len() > 200, "{} lines", lines.len());
    }
}
