//! Cost per offer against queue depth, and the floor measured beside it.
//!
//! The same sample lines are measured at every depth. Each sample makes the offer twice from the
//! same state: once the floor way (one `Query` for the head of the line, one raw
//! `TransactWriteItems`), once through `shared::app::match_slot`; after each, the wish is put back
//! to `waiting` (uncounted), so both see the same head and every depth sees the same heads with
//! more wishes behind them. The order alternates between samples so neither profits from the
//! other's warm caches.

use crate::counter::{Counter, Snapshot};
use crate::system::Phase;
use crate::util::{bar, mean, next_local, percentile, reset_wish, slot_item};
use crate::workload::{Filled, Generator, Line, fill, fill_line};
use anyhow::{Context as _, Result, bail};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{Duration, Utc};
use local_runner::emulators::Emulators;
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use shared::domain::{Slot, SlotId, SlotStatus};
use shared::store::keys;
use std::time::Instant;

/// What one side (ours or the floor) cost per offer at one depth.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Cost {
    /// `DynamoDB` requests per offer.
    pub dynamodb_requests: f64,
    /// All AWS requests per offer (`DynamoDB`, SES, `EventBridge`).
    pub all_requests: f64,
    pub rcu: f64,
    pub wcu: f64,
    pub ms_p50: f64,
    pub ms_mean: f64,
    pub ms_p99: f64,
    /// Of the mean: waiting for `DynamoDB`, SES and `EventBridge` answers.
    pub dynamodb_ms: f64,
    pub ses_ms: f64,
    pub eventbridge_ms: f64,
    /// Every operation, summed over the samples.
    pub ops: Snapshot,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DepthResult {
    pub depth: usize,
    pub samples: usize,
    pub ours: Cost,
    pub floor: Cost,
    /// What delivering one offer's outbox items costs (deliver-outbox's work: the mail and the
    /// `OfferSent` event), measured apart from the offer.
    pub delivery: Cost,
    /// Mean length of the sampled lines (a page holds 25).
    pub mean_line: f64,
    /// Samples where `match_slot` chose the same wish as the floor (the head of the line).
    pub same_head: usize,
    /// Samples where a family got the slot and the free slot after it (a run).
    pub runs: usize,
    pub fill_secs: f64,
    pub fill_requests: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DepthReport {
    pub levels: Vec<DepthResult>,
    /// Percent of the wishes that are families.
    pub families: u32,
    pub queue_entries: usize,
    pub lines: usize,
    /// The wish page near the head of the busiest line and far back in it, after the last depth.
    pub wish_page: Option<crate::page::WishPageResult>,
}

pub struct DepthOptions {
    pub depths: Vec<usize>,
    pub samples: usize,
    pub warmup: usize,
    pub seed: u64,
    /// The wish page is measured at place ~10 and at about this place.
    pub page_place: usize,
    /// Percent of the wishes for families (two to five persons), in their own lines; each
    /// sampled slot gets a free slot right after it, so runs for families are found and their
    /// lines read.
    pub families: u32,
}

struct Sides {
    ours: Vec<(f64, Snapshot)>,
    floor: Vec<(f64, Snapshot)>,
    delivery: Vec<(f64, Snapshot)>,
}

fn cost(side: &[(f64, Snapshot)]) -> Cost {
    let ms: Vec<f64> = side.iter().map(|(ms, _)| *ms).collect();
    let per =
        |f: &dyn Fn(&Snapshot) -> f64| mean(&side.iter().map(|(_, s)| f(s)).collect::<Vec<_>>());
    #[allow(clippy::cast_precision_loss)]
    let count = |n: u64| n as f64;
    let mut ops = Snapshot::default();
    for (_, s) in side {
        ops.add(s);
    }
    Cost {
        dynamodb_requests: per(&|s| count(s.requests("dynamodb"))),
        all_requests: per(&|s| count(s.requests(""))),
        rcu: per(&|s| s.rcu()),
        wcu: per(&|s| s.wcu()),
        ms_p50: percentile(&ms, 50.0),
        ms_mean: mean(&ms),
        ms_p99: percentile(&ms, 99.0),
        dynamodb_ms: per(&|s| s.time("dynamodb").as_secs_f64() * 1000.0),
        ses_ms: per(&|s| s.time("sesv2").as_secs_f64() * 1000.0),
        eventbridge_ms: per(&|s| s.time("eventbridge").as_secs_f64() * 1000.0),
        ops,
    }
}

/// The floor: the head of the line, then one transaction that offers the slot to it.
async fn floor_offer(
    client: &aws_sdk_dynamodb::Client,
    wishes: &str,
    slots: &str,
    line: &Line,
    slot: &str,
) -> Result<String> {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    // From the first queue key: the line's partition also holds the head of its allocation
    // chain, which the floor (an offer without its record) does not read.
    let head = client
        .query()
        .table_name(wishes)
        // The first entry (the chain's head and the families' count sort before it).
        .key_condition_expression("pk = :pk AND sk >= :from")
        .expression_attribute_values(":pk", s(&line.pk()))
        .expression_attribute_values(":from", s(keys::ENTRIES_FROM))
        .consistent_read(true)
        .limit(1)
        .send()
        .await?;
    let Some(wish) = head
        .items()
        .first()
        .and_then(|i| i.get("wish"))
        .and_then(|v| v.as_s().ok())
        .cloned()
    else {
        bail!("line {} is empty", line.pk());
    };
    let offer = shared::domain::OfferId::generate().to_string();
    let now = keys::ts(Utc::now());
    let slot_update = Update::builder()
        .table_name(slots)
        .key("id", s(slot))
        .update_expression("SET #status = :offered, offer = :offer REMOVE gsi1pk, gsi1sk")
        .condition_expression("#status = :free")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":offered", s("offered"))
        .expression_attribute_values(":offer", s(&offer))
        .expression_attribute_values(":free", s("free"))
        .build()?;
    let wish_update = Update::builder()
        .table_name(wishes)
        .key(keys::PK, s(&format!("{}{wish}", keys::WISH_PREFIX)))
        .key(keys::SK, s(keys::WISH_SK))
        .update_expression("SET #status = :offered, open_offer = :offer")
        .condition_expression("#status = :waiting AND attribute_not_exists(open_offer)")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":offered", s("offered"))
        .expression_attribute_values(":offer", s(&offer))
        .expression_attribute_values(":waiting", s("waiting"))
        .build()?;
    let offer_put = Put::builder()
        .table_name(wishes)
        .item(keys::PK, s(&format!("{}{offer}", keys::OFFER_PREFIX)))
        .item(keys::SK, s(keys::OFFER_SK))
        .item("wish", s(&wish))
        .item("slot", s(slot))
        .item("status", s("open"))
        .item("created_at", s(&now))
        .condition_expression("attribute_not_exists(pk)")
        .build()?;
    client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().update(slot_update).build())
        .transact_items(TransactWriteItem::builder().update(wish_update).build())
        .transact_items(TransactWriteItem::builder().put(offer_put).build())
        .send()
        .await
        .context("the floor's transaction")?;
    Ok(wish)
}

/// Lines to sample: distinct, drawn by how many wishes stand in them (busy lines are where slots
/// are freed and offered most), from the lines that exist at the first depth.
fn pick_lines(filled: &Filled, n: usize, rng: &mut StdRng) -> Vec<Line> {
    let mut pool: Vec<(Line, usize)> = filled.lines.iter().map(|(l, c)| (l.clone(), *c)).collect();
    let mut chosen = Vec::new();
    while chosen.len() < n && !pool.is_empty() {
        let total: usize = pool.iter().map(|(_, c)| c).sum();
        let mut x = rng.random_range(0..total.max(1));
        let mut i = 0;
        while i + 1 < pool.len() && x >= pool[i].1 {
            x -= pool[i].1;
            i += 1;
        }
        chosen.push(pool.swap_remove(i).0);
    }
    // Fewer lines than samples (tiny runs): measure some lines twice; the state is reset anyway.
    let distinct = chosen.len();
    for k in 0..n.saturating_sub(distinct) {
        if let Some(l) = chosen.get(k % distinct.max(1)).cloned() {
            chosen.push(l);
        }
    }
    chosen
}

/// Fills the queue step by step to each depth and measures offers at each.
///
/// # Errors
/// When the emulators fail, or an offer is not made where the line has a waiting head.
#[allow(clippy::too_many_lines)]
pub async fn run(emulators: &Emulators, options: &DepthOptions) -> Result<DepthReport> {
    let mut phase = Phase::setup(emulators, "depth").await?;
    // This phase reads no stream (it hands each offer's outbox items to delivery itself).
    phase.wishes_stream(false).await?;
    let deps = phase.deps();
    let catalog = (*deps.catalog().await.map_err(|e| anyhow::anyhow!("{e}"))?).clone();
    let mut generator =
        Generator::new(catalog, options.seed, "depth-").with_families(options.families);
    let mut rng = StdRng::seed_from_u64(options.seed ^ 0x5eed);
    let floor_counter = Counter::default();
    let sdk = emulators.sdk_config().await;
    let floor_client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(emulators.dynamodb_endpoint())
            .interceptor(floor_counter.interceptor(true))
            .build(),
    );
    let total = options.depths.iter().copied().max().unwrap_or(0);
    let mut filled = Filled::default();
    let mut lines: Vec<Line> = Vec::new();
    let mut levels = Vec::new();
    let fill_bar = bar(0, "filling the queue");
    for (level, &depth) in options.depths.iter().enumerate() {
        let started = Instant::now();
        let before = filled.requests;
        let more = depth.saturating_sub(filled.wishes.len());
        fill(
            &phase.raw,
            phase.wishes_table(),
            &mut generator,
            &mut filled,
            more,
            total,
            Utc::now(),
            Some(&fill_bar),
        )
        .await?;
        let fill_secs = started.elapsed().as_secs_f64();
        if lines.is_empty() {
            lines = pick_lines(&filled, options.samples, &mut rng);
            check_format(&phase, &filled).await?;
            if options.families > 0 {
                // Families of two and three wait in every sampled hour at every depth (at the
                // back of their lines, confirmed now): what matching reads for them does not
                // depend on how many other wishes happen to be families there.
                for line in &lines {
                    for persons in [2, 3] {
                        let at = (Utc::now(), Duration::zero());
                        let table = phase.wishes_table();
                        fill_line(&phase.raw, table, &mut filled, line, (1, persons), at).await?;
                    }
                }
            }
        }
        // Two fresh free slots per sample (and warm-up), in the sampled line's window.
        let now = Utc::now();
        let mut slot_items = Vec::new();
        let mut slots = Vec::new();
        let all: Vec<&Line> = lines
            .iter()
            .take(options.warmup)
            .chain(lines.iter())
            .collect();
        for (i, line) in all.iter().enumerate() {
            let minute = 15 * rng.random_range(0..4u32);
            // A week of its own per sample and depth: no sample's slots are back to back with
            // another's, nor with those an earlier depth left free in the same line.
            let days = 3 + 7 * i64::try_from(i + level * all.len())?;
            let start = next_local(now, line.window.day(), line.window.hour(), minute, days);
            let ours = format!("bench-d{level}-{i}-ours");
            let floor = format!("bench-d{level}-{i}-floor");
            for id in [&ours, &floor] {
                slot_items.push(slot_item(id, &line.office, &line.service, start, true, now));
            }
            if options.families > 0 {
                // Right after ours, for one or two persons: runs for families of two and three.
                let next = format!("bench-d{level}-{i}-next");
                let mut item = slot_item(
                    &next,
                    &line.office,
                    &line.service,
                    start + Duration::minutes(15),
                    true,
                    now,
                );
                item.insert(
                    "persons".to_owned(),
                    AttributeValue::N((1 + i % 2).to_string()),
                );
                slot_items.push(item);
            }
            let slot = Slot {
                id: SlotId::parse(&ours)?,
                office: line.office.clone(),
                service: line.service.clone(),
                start,
                minutes: 15,
                status: SlotStatus::Free,
                offer: None,
                wish: None,
                persons: 1,
            };
            slots.push((slot, floor));
        }
        crate::workload::batch_put(&phase.raw, phase.slots_table(), slot_items, 8, None).await?;
        let progress = bar(all.len() as u64, &format!("offers at {depth}"));
        let mut sides = Sides {
            ours: Vec::new(),
            floor: Vec::new(),
            delivery: Vec::new(),
        };
        let (mut same_head, mut runs) = (0, 0);
        for (i, (line, (ours_slot, floor_slot))) in all.iter().zip(&slots).enumerate() {
            let warm = i < options.warmup;
            let mut ours_wish = None;
            let mut floor_wish = None;
            for step in 0..2 {
                if (step == 0) == (i % 2 == 0) {
                    let before = phase.counter.snapshot();
                    let t = Instant::now();
                    // The slot as the `SlotReleased` event carries it.
                    let offer = shared::app::match_slot(deps, ours_slot)
                        .await
                        .map_err(|e| anyhow::anyhow!("match_slot: {e}"))?;
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    let Some(offer) = offer else {
                        bail!("no offer for {} in line {}", ours_slot.id, line.pk());
                    };
                    if !warm {
                        sides
                            .ours
                            .push((ms, phase.counter.snapshot().since(&before)));
                    }
                    // What deliver-outbox then does for this offer, as the stream hands it the
                    // new outbox items (read here, uncounted, by their due list).
                    let owed = deps
                        .store
                        .due_outbox(Utc::now() + Duration::minutes(10), 10)
                        .await
                        .map_err(|e| anyhow::anyhow!("due outbox: {e}"))?;
                    if owed.len() != 2 {
                        bail!(
                            "the offer owes {} outbox items, not a mail and an event",
                            owed.len()
                        );
                    }
                    let before = phase.counter.snapshot();
                    let t = Instant::now();
                    for result in deps.deliver_all(&owed).await {
                        let delivered = result.map_err(|e| anyhow::anyhow!("deliver: {e}"))?;
                        if delivered != shared::app::Delivery::Delivered {
                            bail!("an outbox item of the offer was not delivered: {delivered:?}");
                        }
                    }
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    if !warm {
                        sides
                            .delivery
                            .push((ms, phase.counter.snapshot().since(&before)));
                    }
                    reset_wish(&phase.raw, phase.wishes_table(), offer.wish.as_ref()).await?;
                    if !warm && !offer.also.is_empty() {
                        runs += 1;
                    }
                    ours_wish = Some(offer.wish.to_string());
                } else {
                    let before = floor_counter.snapshot();
                    let t = Instant::now();
                    let wish = floor_offer(
                        &floor_client,
                        phase.wishes_table(),
                        phase.slots_table(),
                        line,
                        floor_slot,
                    )
                    .await?;
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    if !warm {
                        sides
                            .floor
                            .push((ms, floor_counter.snapshot().since(&before)));
                    }
                    reset_wish(&phase.raw, phase.wishes_table(), &wish).await?;
                    floor_wish = Some(wish);
                }
            }
            if !warm && ours_wish == floor_wish {
                same_head += 1;
            }
            progress.inc(1);
        }
        progress.finish_and_clear();
        #[allow(clippy::cast_precision_loss)]
        let mean_line = mean(
            &lines
                .iter()
                .map(|l| filled.lines.get(l).copied().unwrap_or(0) as f64)
                .collect::<Vec<_>>(),
        );
        levels.push(DepthResult {
            depth,
            samples: sides.ours.len(),
            ours: cost(&sides.ours),
            floor: cost(&sides.floor),
            delivery: cost(&sides.delivery),
            mean_line,
            same_head,
            runs,
            fill_secs,
            fill_requests: filled.requests - before,
        });
    }
    fill_bar.finish_and_clear();
    let (queue_entries, lines) = (filled.entries, filled.lines.len());
    let wish_page = Some(crate::page::run(&phase, &mut filled, options.page_place).await?);
    Ok(DepthReport {
        levels,
        families: options.families,
        queue_entries,
        lines,
        wish_page,
    })
}

/// The fast path must write what the store reads: one wish read back through the store.
async fn check_format(phase: &Phase, filled: &Filled) -> Result<()> {
    let Some((id, confirmed)) = filled.wishes.first() else {
        return Ok(());
    };
    let wish = phase
        .deps()
        .store
        .get_wish(id, Utc::now())
        .await
        .map_err(|e| anyhow::anyhow!("reading a filled wish: {e}"))?
        .context("a filled wish is not found by the store")?;
    if wish.status != shared::domain::WishStatus::Waiting
        || wish
            .confirmed_at
            .is_none_or(|t| (t - *confirmed).abs() > Duration::milliseconds(1))
    {
        bail!("a filled wish reads back differently: {:?}", wish.status);
    }
    if let Some(line) = filled.lines.keys().next() {
        let head = phase
            .deps()
            .store
            .head_of_line((&line.office, &line.service, line.window), 1, None, 1)
            .await
            .map_err(|e| anyhow::anyhow!("reading a filled line: {e}"))?;
        if head.entries.first().is_none_or(|e| e.email.is_none()) {
            bail!("a filled queue entry reads back without its address");
        }
    }
    Ok(())
}
