//! The wish page's cost against the place in line: the reads of `shared::app::places_in_line`
//! for a wish at place ~10 and at place ~10 000 of the same line, in the same run, beside a count
//! of the entries ahead (how the page read its place before the lines were counted).
//!
//! The line is the busiest of the depth phase's queue, made deeper with wishes that stand in it
//! alone (one office, one window), confirmed over the same 30 days as the mix; the two wishes
//! measured are such wishes, so both pages read one line and differ only in their place.

use crate::counter::Snapshot;
use crate::system::Phase;
use crate::util::{mean, percentile};
use crate::workload::{Filled, GenWish, Line, fill_line};
use anyhow::{Context as _, Result, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, Utc};
use shared::domain::WishId;
use shared::store::keys;
use std::collections::HashSet;
use std::time::Instant;

/// How often each page is read (the means are over these).
const READS: usize = 5;

/// One wish's page.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PagePoint {
    /// Wishes ahead of it in the line (the page's figure).
    pub place: usize,
    /// `places_in_line` per page read: requests, RCU, time.
    pub requests: f64,
    pub rcu: f64,
    pub ms_p50: f64,
    /// The same place by a count of the entries ahead (`Select COUNT`), per read.
    pub count_requests: f64,
    pub count_rcu: f64,
    pub ops: Snapshot,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WishPageResult {
    /// Wishes waiting in all, and in the measured line.
    pub waiting: usize,
    pub line_length: usize,
    pub near: PagePoint,
    pub far: PagePoint,
}

impl WishPageResult {
    /// The goal's ratio: RCU of the page far back over the page near the head.
    #[must_use]
    pub fn ratio(&self) -> f64 {
        if self.near.rcu > 0.0 {
            self.far.rcu / self.near.rcu
        } else {
            0.0
        }
    }
}

/// Deepens the busiest line by `place` wishes standing in it alone, then measures the pages of
/// two of them: the first at place ≥ 10 and the first at place ≥ `place`.
///
/// # Errors
/// When the emulators fail, or the page's place differs from the count of the entries ahead.
pub async fn run(phase: &Phase, filled: &mut Filled, place: usize) -> Result<WishPageResult> {
    let line = filled
        .lines
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(l, _)| l.clone())
        .context("no line to measure the wish page in")?;
    // Confirmed evenly over the 30 days before now, between the mix's.
    let span = Duration::days(30);
    let step = span / i32::try_from(place.max(1))?;
    let own: HashSet<String> = fill_line(
        &phase.raw,
        phase.wishes_table(),
        filled,
        &line,
        (place, 1),
        (Utc::now() - span, step),
    )
    .await?
    .into_iter()
    .map(|w: GenWish| w.id.to_string())
    .collect();
    let (near, far) = find(phase, &line, &own, [10, place]).await?;
    let near = measure(phase, &near).await?;
    let far = measure(phase, &far).await?;
    Ok(WishPageResult {
        waiting: filled.wishes.len(),
        line_length: filled.lines.get(&line).copied().unwrap_or(0),
        near,
        far,
    })
}

/// The first of `own` wishes at or after each of the two places of `line` (uncounted reads).
async fn find(
    phase: &Phase,
    line: &Line,
    own: &HashSet<String>,
    places: [usize; 2],
) -> Result<(WishId, WishId)> {
    let mut found: [Option<WishId>; 2] = [None, None];
    let mut index = 0usize;
    let mut start = None;
    loop {
        let page = phase
            .raw
            .query()
            .table_name(phase.wishes_table())
            // The entries only (the partition also holds the line's allocation chain head).
            .key_condition_expression("pk = :pk AND sk >= :from")
            .expression_attribute_values(":pk", AttributeValue::S(line.pk()))
            .expression_attribute_values(":from", AttributeValue::S(keys::ENTRIES_FROM.into()))
            .projection_expression("wish")
            .set_exclusive_start_key(start)
            .send()
            .await?;
        for item in page.items() {
            // Entries only: the families' count (`#parties`) is no place in line.
            let Some(wish) = item.get("wish").and_then(|v| v.as_s().ok()) else {
                continue;
            };
            for (slot, at) in found.iter_mut().zip(places) {
                if slot.is_none() && index >= at && own.contains(wish) {
                    *slot = Some(WishId::parse(wish)?);
                }
            }
            index += 1;
        }
        start = page.last_evaluated_key().cloned();
        if let [Some(a), Some(b)] = &found {
            return Ok((a.clone(), b.clone()));
        }
        if start.is_none() {
            bail!(
                "line {} has no wish of its own at places {places:?}",
                line.pk()
            );
        }
    }
}

/// Reads the wish's page places [`READS`] times, counted, and its place by counting entries.
async fn measure(phase: &Phase, id: &WishId) -> Result<PagePoint> {
    let deps = phase.deps();
    let wish = deps
        .store
        .get_wish(id, Utc::now())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .context("the measured wish is not found")?;
    let catalog = deps.catalog().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let lines = wish.lines(&catalog);
    let key = keys::queue_key(wish.confirmed_at.context("not confirmed")?, &wish.id);
    let mut page = Vec::new();
    let mut counting = Vec::new();
    let mut place = 0;
    for _ in 0..READS {
        let before = phase.counter.snapshot();
        let t = Instant::now();
        let places = shared::app::places_in_line(deps, &wish)
            .await
            .map_err(|e| anyhow::anyhow!("places_in_line: {e}"))?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        page.push((ms, phase.counter.snapshot().since(&before)));
        let before = phase.counter.snapshot();
        let mut by_entries = Vec::new();
        for (office, window) in &lines {
            by_entries.push(
                deps.store
                    .ahead_in_line(office, &wish.service, *window, &key)
                    .await
                    .map_err(|e| anyhow::anyhow!("ahead_in_line: {e}"))?,
            );
        }
        counting.push(phase.counter.snapshot().since(&before));
        let shown: Vec<usize> = places.iter().map(|p| p.ahead).collect();
        if shown != by_entries {
            bail!("the page says {shown:?} ahead, the entries {by_entries:?}");
        }
        place = shown.first().copied().unwrap_or(0);
    }
    #[allow(clippy::cast_precision_loss)]
    let requests = |s: &Snapshot| s.requests("dynamodb") as f64;
    let ms: Vec<f64> = page.iter().map(|(ms, _)| *ms).collect();
    let mut ops = Snapshot::default();
    for (_, s) in &page {
        ops.add(s);
    }
    Ok(PagePoint {
        place,
        requests: mean(&page.iter().map(|(_, s)| requests(s)).collect::<Vec<_>>()),
        rcu: mean(&page.iter().map(|(_, s)| s.rcu()).collect::<Vec<_>>()),
        ms_p50: percentile(&ms, 50.0),
        count_requests: mean(&counting.iter().map(requests).collect::<Vec<_>>()),
        count_rcu: mean(&counting.iter().map(Snapshot::rcu).collect::<Vec<_>>()),
        ops,
    })
}
