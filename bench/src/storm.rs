//! A release storm: many booked slots freed at once with thousands of wishes waiting, through the
//! real path — the slots table's stream, slot-release (the bus and match-offers' FIFO queue) and
//! match-offers — then every invariant checked from the tables ([`crate::invariants`]).
//!
//! In AWS, match-offers runs up to the event source's maximum concurrency (5 in
//! `infra/template.yaml`), each instance taking batches of up to ten from the queue, and
//! slot-release gets stream batches of 25, so the storm drives the same pollers and handlers that
//! way: one task reads the stream in batches of 25 into `handle_slot_stream`, and `concurrency`
//! tasks take batches from the queue into `handle_match_queue`. Afterwards the emulator's raw
//! `TransactWriteItems` rate is measured at the same concurrency.

use crate::counter::Snapshot;
pub use crate::invariants::{Invariants, check_invariants};
use crate::system::Phase;
use crate::util::{Quiet, bar, next_local, slot_item};
use crate::workload::{Filled, Generator, batch_put, fill};
use anyhow::{Result, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use local_runner::emulators::Emulators;
use local_runner::pollers::{MatchQueuePoller, StreamPoller};
use shared::domain::{OfficeId, ServiceId, SlotId, Weekday};
use shared::store::keys;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct StormOptions {
    pub wishes: usize,
    pub slots: usize,
    /// match-offers instances at once (the template's reserved concurrency).
    pub concurrency: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StormResult {
    pub wishes: usize,
    pub slots: usize,
    pub concurrency: usize,
    /// Freeing every slot (`Store::release_slot`, 16 at a time).
    pub release_secs: f64,
    pub offers: usize,
    /// From the first release to the last offer mail handed to SES.
    pub last_offer_mail_secs: f64,
    pub offers_per_sec: f64,
    /// From the first release to the last offer committed (match-offers' own pace).
    pub last_offer_secs: f64,
    /// Offers per second by the last offer committed.
    pub offer_rate: f64,
    /// What match-offers alone sent (its own counted client), for requests per offer.
    pub match_ops: Snapshot,
    /// The emulator's raw `TransactWriteItems` rate in the same run, at the same concurrency:
    /// the floor's transaction (three new items of the sizes of a slot, a wish and an offer),
    /// nothing else around it.
    pub raw_transact_per_sec: f64,
    pub raw_transacts: usize,
    pub stream_records: usize,
    pub events_handled: usize,
    /// Handler runs that ended in an error (each is retried by AWS; here only counted).
    pub handler_errors: usize,
    /// Requests and units of the whole storm (release excluded).
    pub ops: Snapshot,
    pub invariants: Invariants,
}

/// Booked slots on the next working days, four an hour per office and service while the office
/// is open — a clerk cancelling whole days.
fn storm_slots(
    generator: &Generator,
    count: usize,
) -> Vec<(String, OfficeId, ServiceId, chrono::DateTime<Utc>)> {
    let now = Utc::now();
    let mut slots = Vec::new();
    let days = [
        Weekday::Tue,
        Weekday::Thu,
        Weekday::Mon,
        Weekday::Wed,
        Weekday::Fri,
    ];
    'outer: for day in days {
        for hour in 7..19u8 {
            for office in &generator.catalog().offices {
                if !office.is_open(day, hour) {
                    continue;
                }
                for service in &office.services {
                    for quarter in 0..4u32 {
                        if slots.len() >= count {
                            break 'outer;
                        }
                        let start = next_local(now, day, hour, quarter * 15, 3);
                        let id = format!("storm-{}", slots.len());
                        slots.push((id, office.id.clone(), service.clone(), start));
                    }
                }
            }
        }
    }
    slots
}

/// # Errors
/// When the emulators fail or the system does not settle within ten minutes.
#[allow(clippy::too_many_lines)]
pub async fn run(emulators: &Emulators, options: &StormOptions) -> Result<(StormResult, Phase)> {
    let mut phase = Phase::setup(emulators, "storm").await?;
    // Filled without the wishes table's stream; deliver-outbox's stream starts after the fill.
    phase.wishes_stream(false).await?;
    let deps = phase.deps().clone();
    let catalog = (*deps.catalog().await.map_err(|e| anyhow::anyhow!("{e}"))?).clone();
    let mut generator = Generator::new(catalog, options.seed, "storm-");
    let mut filled = Filled::default();
    let fill_bar = bar(0, "filling the queue");
    fill(
        &phase.raw,
        phase.wishes_table(),
        &mut generator,
        &mut filled,
        options.wishes,
        options.wishes,
        Utc::now(),
        Some(&fill_bar),
    )
    .await?;
    fill_bar.finish_and_clear();
    phase.wishes_stream(true).await?;

    let now = Utc::now();
    let slots = storm_slots(&generator, options.slots);
    let items = slots
        .iter()
        .map(|(id, office, service, start)| slot_item(id, office, service, *start, false, now))
        .collect();
    batch_put(&phase.raw, phase.slots_table(), items, 8, None).await?;
    // The booked slots' inserts are on the stream too: read past them before the storm.
    let mut stream = StreamPoller::new(
        phase.system.clients.streams.clone(),
        phase.system.infra.slots_stream_arn.clone(),
    );
    stream.read_past_all().await?;
    let queue = MatchQueuePoller::new(
        phase.system.clients.sqs.clone(),
        phase.system.infra.match_queue_url.clone(),
    );
    // deliver-outbox: the wishes table's stream, filtered as its event source filters it; the
    // records of the fill are read past first.
    let mut outbox = StreamPoller::new(
        phase.system.clients.streams.clone(),
        phase.system.infra.wishes_stream_arn.clone(),
    );
    outbox.read_past_all().await?;
    let storm_over = Arc::new(AtomicBool::new(false));
    let deliver_outbox = {
        let (deps, storm_over) = (deps.clone(), storm_over.clone());
        let filters = phase.system.infra.outbox_filters.clone();
        tokio::spawn(async move {
            let mut quiet = Quiet::default();
            loop {
                let records = outbox.poll().await?;
                if local_runner::runner::deliver_outbox(&deps, &filters, records).await == 0 {
                    if quiet.empty_round(storm_over.load(Ordering::Relaxed)) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                } else {
                    quiet.busy();
                }
            }
            anyhow::Ok(())
        })
    };

    let started = Instant::now();
    let release_bar = bar(slots.len() as u64, "releasing slots");
    let mut set = tokio::task::JoinSet::new();
    for (id, ..) in &slots {
        while set.len() >= 16 {
            if let Some(done) = set.join_next().await {
                done??;
                release_bar.inc(1);
            }
        }
        let deps = deps.clone();
        let id = SlotId::parse(id)?;
        set.spawn(async move {
            deps.store
                .release_slot(&id, deps.clock.now())
                .await
                .map_err(|e| anyhow::anyhow!("release: {e}"))
                .map(|_| ())
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
        release_bar.inc(1);
    }
    release_bar.finish_and_clear();
    let release_secs = started.elapsed().as_secs_f64();
    let after_release = phase.counter.snapshot();

    // slot-release: stream batches of 25, one after the other (one shard, parallelization 1).
    let released = Arc::new(AtomicUsize::new(0));
    let records_seen = Arc::new(AtomicUsize::new(0));
    let stream_done = Arc::new(AtomicBool::new(false));
    let slot_release = {
        let outlets = phase.system.outlets(&deps)?;
        let (released, records_seen, stream_done) =
            (released.clone(), records_seen.clone(), stream_done.clone());
        let expected = slots.len();
        tokio::spawn(async move {
            let mut quiet = Quiet::default();
            let mut failures = 0usize;
            loop {
                let records = stream.poll().await?;
                if records.is_empty() {
                    if quiet.empty_round(released.load(Ordering::Relaxed) >= expected) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                quiet.busy();
                records_seen.fetch_add(records.len(), Ordering::Relaxed);
                for batch in records.chunks(25) {
                    let n = batch
                        .iter()
                        .filter(|r| shared::triggers::released_slot(r).is_some())
                        .count();
                    let mut event = aws_lambda_events::event::dynamodb::Event::default();
                    event.records = batch.to_vec();
                    let response = shared::triggers::handle_slot_stream(&outlets, event).await;
                    failures += response.batch_item_failures.len();
                    released.fetch_add(n, Ordering::Relaxed);
                }
            }
            stream_done.store(true, Ordering::Relaxed);
            anyhow::Ok(failures)
        })
    };

    // match-offers: `concurrency` instances, each taking batches of up to ten from the FIFO
    // queue as Lambda's event source hands them over (a line's slots to one instance at a time).
    // Their `DynamoDB` client counts into the phase's counter and into one of their own.
    let match_counter = crate::counter::Counter::default();
    let match_deps = {
        let client = aws_sdk_dynamodb::Client::from_conf(
            phase
                .counted
                .config()
                .to_builder()
                .interceptor(match_counter.interceptor(true))
                .build(),
        );
        let deps = shared::Deps::from_clients(
            deps.config.clone(),
            client,
            phase.system.clients.sesv2.clone(),
            phase.system.clients.eventbridge.clone(),
            deps.clock.clone(),
        );
        deps.catalog().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        deps
    };
    let match_before = match_counter.snapshot();
    let last_offer = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let offers = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let handled = Arc::new(AtomicUsize::new(0));
    let progress = bar(slots.len() as u64, "offers in the storm");
    let mut matchers = tokio::task::JoinSet::new();
    for _ in 0..options.concurrency.max(1) {
        let last_offer = last_offer.clone();
        let (deps, queue, offers, errors, handled, progress, stream_done) = (
            match_deps.clone(),
            queue.clone(),
            offers.clone(),
            errors.clone(),
            handled.clone(),
            progress.clone(),
            stream_done.clone(),
        );
        matchers.spawn(async move {
            let mut quiet = Quiet::default();
            loop {
                if started.elapsed() > Duration::from_mins(10) {
                    bail!("the storm did not settle within ten minutes");
                }
                let batch = queue.receive(0).await?;
                if batch.records.is_empty() {
                    if quiet.empty_round(stream_done.load(Ordering::Relaxed)) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                quiet.busy();
                handled.fetch_add(batch.records.len(), Ordering::Relaxed);
                let done = shared::triggers::handle_match_queue(&deps, &batch).await;
                errors.fetch_add(done.response.batch_item_failures.len(), Ordering::Relaxed);
                offers.fetch_add(done.offers, Ordering::Relaxed);
                if done.offers > 0
                    && let Ok(mut last) = last_offer.lock()
                {
                    *last = Some(Instant::now());
                }
                progress.inc(done.offers as u64);
                queue.finish(&batch, &done.response).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = matchers.join_next().await {
        done??;
    }
    let events_handled = handled.load(Ordering::Relaxed);
    progress.finish_and_clear();
    let release_failures = slot_release.await??;
    storm_over.store(true, Ordering::Relaxed);
    deliver_outbox.await??;
    let offers = offers.load(Ordering::Relaxed);
    let last_mail = phase
        .counter
        .last("sesv2:SendEmail")
        .map_or(0.0, |t| t.saturating_duration_since(started).as_secs_f64());
    let ops = phase.counter.snapshot().since(&after_release);
    let match_ops = match_counter.snapshot().since(&match_before);
    let last_offer_secs = last_offer
        .lock()
        .ok()
        .and_then(|t| *t)
        .map_or(0.0, |t| t.saturating_duration_since(started).as_secs_f64());
    let invariants = check_invariants(&phase, slots.len()).await?;
    let raw_transacts = slots.len();
    let raw_secs = raw_transact_rate(&phase, options.concurrency, raw_transacts).await?;
    #[allow(clippy::cast_precision_loss)]
    let offer_rate = if last_offer_secs > 0.0 {
        offers as f64 / last_offer_secs
    } else {
        0.0
    };
    #[allow(clippy::cast_precision_loss)]
    let offers_per_sec = if last_mail > 0.0 {
        offers as f64 / last_mail
    } else {
        0.0
    };
    Ok((
        StormResult {
            wishes: options.wishes,
            slots: slots.len(),
            concurrency: options.concurrency,
            release_secs,
            offers,
            last_offer_mail_secs: last_mail,
            offers_per_sec,
            last_offer_secs,
            offer_rate,
            match_ops,
            #[allow(clippy::cast_precision_loss)]
            raw_transact_per_sec: raw_transacts as f64 / raw_secs.max(1e-9),
            raw_transacts,
            stream_records: records_seen.load(Ordering::Relaxed),
            events_handled,
            handler_errors: errors.load(Ordering::Relaxed) + release_failures,
            ops,
            invariants,
        },
        phase,
    ))
}

/// The emulator's raw `TransactWriteItems` pace at `concurrency`: `n` transactions of the
/// floor's shape — a slot, a wish and an offer item, each new (conditioned on its absence), of
/// the sizes the floor writes — `concurrency` at a time, on the storm's own tables after it.
/// Answers the seconds they took.
async fn raw_transact_rate(phase: &Phase, concurrency: usize, n: usize) -> Result<f64> {
    use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let (wishes, slots) = (
        phase.wishes_table().to_owned(),
        phase.slots_table().to_owned(),
    );
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        while set.len() >= concurrency.max(1) {
            if let Some(done) = set.join_next().await {
                done??;
            }
        }
        let (client, wishes, slots) = (phase.raw.clone(), wishes.clone(), slots.clone());
        let now = keys::ts(Utc::now());
        set.spawn(async move {
            let put = |table: &str, item: Vec<(&str, AttributeValue)>, key: &str| {
                let mut put = Put::builder()
                    .table_name(table)
                    .condition_expression("attribute_not_exists(#k)")
                    .expression_attribute_names("#k", key);
                for (k, v) in item {
                    put = put.item(k, v);
                }
                put.build()
                    .map(|p| TransactWriteItem::builder().put(p).build())
            };
            client
                .transact_write_items()
                .transact_items(put(
                    &slots,
                    vec![
                        ("id", s(&format!("raw-slot-{i}"))),
                        ("office", s("bilk")),
                        ("service", s("id-card")),
                        ("start", s(&now)),
                        ("minutes", AttributeValue::N("15".into())),
                        ("status", s("offered")),
                        ("offer", s(&format!("raw-offer-{i}"))),
                    ],
                    "id",
                )?)
                .transact_items(put(
                    &wishes,
                    vec![
                        (keys::PK, s(&format!("{}raw-{i}", keys::WISH_PREFIX))),
                        (keys::SK, s(keys::WISH_SK)),
                        ("status", s("offered")),
                        ("open_offer", s(&format!("raw-offer-{i}"))),
                    ],
                    keys::PK,
                )?)
                .transact_items(put(
                    &wishes,
                    vec![
                        (keys::PK, s(&format!("{}raw-offer-{i}", keys::OFFER_PREFIX))),
                        (keys::SK, s(keys::OFFER_SK)),
                        ("wish", s(&format!("raw-{i}"))),
                        ("slot", s(&format!("raw-slot-{i}"))),
                        ("status", s("raw")),
                        ("created_at", s(&now)),
                    ],
                    keys::PK,
                )?)
                .send()
                .await?;
            anyhow::Ok(())
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    Ok(started.elapsed().as_secs_f64())
}
