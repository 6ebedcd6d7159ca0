//! Submissions through the HTTP router (`POST /api/wishes`, as API Gateway would hand them to
//! submit-wish), against bare `PutItem`s of the same wishes in the same run; then, for a sample,
//! the rest of a wish's life — confirm, offer, accept or decline — and one rescan, for the bill.
//!
//! The router is called with `tower::ServiceExt::oneshot`, so requests carry no client address
//! (no per-client limit applies) and every wish has its own email address (the per-address limits
//! are those of a real city: a few wishes per address).

use crate::counter::Snapshot;
use crate::system::{BASE_URL, Phase};
use crate::util::{bar, mean, next_local, percentile, slot_item};
use crate::workload::{GenWish, Generator, batch_put, wish_item};
use anyhow::{Context as _, Result, bail};
use axum::body::Body;
use chrono::Utc;
use http_body_util::BodyExt as _;
use local_runner::emulators::Emulators;
use shared::domain::{Slot, SlotId, SlotStatus};
use shared::store::keys;
use std::time::Instant;
use tower::ServiceExt as _;

pub struct SubmitOptions {
    pub count: usize,
    pub concurrency: usize,
    /// Wishes taken through confirm, offer and an answer.
    pub lifecycle: usize,
    pub seed: u64,
}

/// The cost of one kind of step, per step.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StepCost {
    pub count: usize,
    pub dynamodb_requests: f64,
    pub all_requests: f64,
    pub rcu: f64,
    pub wcu: f64,
    pub ms_mean: f64,
    pub ops: Snapshot,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SubmitResult {
    pub count: usize,
    pub concurrency: usize,
    /// Answers other than 202, and the first few of them.
    pub failed: usize,
    pub failures: Vec<String>,
    pub wishes_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub put_per_sec: f64,
    pub put_p50_ms: f64,
    pub put_p99_ms: f64,
    pub submit: StepCost,
    pub confirm: StepCost,
    pub offer: StepCost,
    pub answer: StepCost,
    pub rescan: StepCost,
}

fn step(count: usize, ms: &[f64], ops: Snapshot) -> StepCost {
    #[allow(clippy::cast_precision_loss)]
    let n = count.max(1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let per = |v: u64| v as f64 / n;
    StepCost {
        count,
        dynamodb_requests: per(ops.requests("dynamodb")),
        all_requests: per(ops.requests("")),
        rcu: ops.rcu() / n,
        wcu: ops.wcu() / n,
        ms_mean: mean(ms),
        ops,
    }
}

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<(u16, serde_json::Value)> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("accept", "application/json");
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(body.map_or_else(Body::empty, Body::from))?;
    let response = router.clone().oneshot(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    ))
}

/// Runs `count` jobs, `concurrency` at a time; returns each job's milliseconds and the total
/// seconds.
async fn timed<F, Fut>(
    count: usize,
    concurrency: usize,
    what: &str,
    job: F,
) -> Result<(Vec<f64>, f64, usize)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<bool>> + Send + 'static,
{
    let progress = bar(count as u64, what);
    let mut set = tokio::task::JoinSet::new();
    let mut ms = Vec::with_capacity(count);
    let mut failed = 0;
    let started = Instant::now();
    let mut collect = |r: Result<Result<(f64, bool)>, tokio::task::JoinError>| -> Result<()> {
        let (t, ok) = r??;
        ms.push(t);
        failed += usize::from(!ok);
        progress.inc(1);
        Ok(())
    };
    for i in 0..count {
        while set.len() >= concurrency.max(1) {
            if let Some(r) = set.join_next().await {
                collect(r)?;
            }
        }
        let fut = job(i);
        set.spawn(async move {
            let t = Instant::now();
            let ok = fut.await?;
            Ok((t.elapsed().as_secs_f64() * 1000.0, ok))
        });
    }
    while let Some(r) = set.join_next().await {
        collect(r)?;
    }
    progress.finish_and_clear();
    Ok((ms, started.elapsed().as_secs_f64(), failed))
}

/// The token of the first link to a page of `kind` (`/w/` or `/o/`) in the mail to `to`.
fn page_path(mails: &[local_runner::devmail::DevMail], to: &str, kind: &str) -> Option<String> {
    mails
        .iter()
        .filter(|m| m.to.iter().any(|t| t == to))
        .flat_map(|m| m.links.iter())
        .filter_map(|l| l.strip_prefix(BASE_URL))
        .find(|l| {
            l.split_once(kind)
                .is_some_and(|(before, rest)| before.is_empty() && !rest.contains('/'))
        })
        .map(str::to_owned)
}

/// The sent mails once each of `sample` has a `kind` link among them: deliver-outbox's work,
/// pumped until it is done. After 2 000 submissions the emulator's stream can hand a change
/// over later than one quiet round of the pump, so this waits up to a minute for the last one.
async fn delivered(
    phase: &Phase,
    sample: &[&GenWish],
    kind: &str,
) -> Result<Vec<local_runner::devmail::DevMail>> {
    for _ in 0..300 {
        phase.system.settle().await?;
        let mails = phase.system.mails().await?;
        if sample
            .iter()
            .all(|w| page_path(&mails, &w.email, kind).is_some())
        {
            return Ok(mails);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    bail!("a mail with a {kind} link was not delivered within a minute")
}

/// # Errors
/// When the emulators fail or a step answers unexpectedly.
#[allow(clippy::too_many_lines)]
pub async fn run(emulators: &Emulators, options: &SubmitOptions) -> Result<SubmitResult> {
    let phase = Phase::setup(emulators, "submit").await?;
    let deps = phase.deps().clone();
    let catalog = (*deps.catalog().await.map_err(|e| anyhow::anyhow!("{e}"))?).clone();
    let mut generator = Generator::new(
        catalog,
        options.seed,
        &format!("submit-{}-", std::process::id()),
    );
    let wishes: Vec<GenWish> = (0..options.count).map(|_| generator.wish()).collect();
    let router = phase.system.router();

    let before = phase.counter.snapshot();
    let bodies: Vec<String> = wishes
        .iter()
        .map(|w| w.request_json().to_string())
        .collect();
    let failures = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (ms, secs, failed) = timed(
        options.count,
        options.concurrency,
        "POST /api/wishes",
        |i| {
            let router = router.clone();
            let body = bodies[i].clone();
            let failures = failures.clone();
            async move {
                let (status, answer) = call(&router, "POST", "/api/wishes", Some(body)).await?;
                if status != 202
                    && let Ok(mut f) = failures.lock()
                {
                    f.push(format!("{status} {answer}"));
                }
                Ok(status == 202)
            }
        },
    )
    .await?;
    let failures = failures
        .lock()
        .map(|f| f.iter().take(5).cloned().collect())
        .unwrap_or_default();
    let submit_ops = phase.counter.snapshot().since(&before);

    // The same wishes as bare PutItems, same concurrency, same client set-up.
    let table = phase.wishes_table().to_owned();
    let now = Utc::now();
    let items: Vec<_> = generator_items(&wishes, now);
    let (put_ms, put_secs, _) = timed(options.count, options.concurrency, "bare PutItem", |i| {
        let client = phase.counted.clone();
        let table = table.clone();
        let mut item = items[i].clone();
        item.insert(
            keys::PK.into(),
            aws_sdk_dynamodb::types::AttributeValue::S(format!("BARE#{i}")),
        );
        async move {
            client
                .put_item()
                .table_name(table)
                .set_item(Some(item))
                .send()
                .await?;
            Ok(true)
        }
    })
    .await?;

    // A sample through the rest of its life.
    let sample: Vec<&GenWish> = wishes.iter().take(options.lifecycle).collect();
    // deliver-outbox's work (not measured here): the mails of the steps above.
    let mails = delivered(&phase, &sample, "/w/").await?;
    let mut confirm_ms = Vec::new();
    let before = phase.counter.snapshot();
    for w in &sample {
        let page = page_path(&mails, &w.email, "/w/").context("no wish link in the opt-in mail")?;
        let t = Instant::now();
        let (status, body) = call(&router, "POST", &format!("{page}/confirm"), None).await?;
        confirm_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if status != 200 || body["status"] != "waiting" {
            bail!("confirm answered {status} {body}");
        }
    }
    let confirm = step(
        sample.len(),
        &confirm_ms,
        phase.counter.snapshot().since(&before),
    );

    let now = Utc::now();
    let mut slot_items = Vec::new();
    let mut slot_ids = Vec::new();
    for (i, w) in sample.iter().enumerate() {
        let line = generator
            .lines(w)
            .into_iter()
            .next()
            .context("a wish without a line")?;
        let id = format!("life-{i}");
        let start = next_local(now, line.window.day(), line.window.hour(), 0, 3);
        slot_items.push(slot_item(
            &id,
            &line.office,
            &line.service,
            start,
            true,
            now,
        ));
        slot_ids.push(Slot {
            id: SlotId::parse(&id)?,
            office: line.office,
            service: line.service,
            start,
            minutes: 15,
            status: SlotStatus::Free,
            offer: None,
            wish: None,
            persons: 1,
        });
    }
    batch_put(&phase.raw, phase.slots_table(), slot_items, 8, None).await?;
    let mut offer_ms = Vec::new();
    let before = phase.counter.snapshot();
    for slot in &slot_ids {
        let t = Instant::now();
        shared::app::match_slot(&deps, slot)
            .await
            .map_err(|e| anyhow::anyhow!("match_slot: {e}"))?
            .context("no offer for a confirmed wish")?;
        offer_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let offer = step(
        slot_ids.len(),
        &offer_ms,
        phase.counter.snapshot().since(&before),
    );

    // deliver-outbox's work (not measured here): the mails of the steps above.
    let mails = delivered(&phase, &sample, "/o/").await?;
    let mut answer_ms = Vec::new();
    let before = phase.counter.snapshot();
    for (i, w) in sample.iter().enumerate() {
        let page = page_path(&mails, &w.email, "/o/").context("no offer link in the offer mail")?;
        let action = if i % 2 == 0 { "accept" } else { "decline" };
        let t = Instant::now();
        let (status, body) = call(&router, "POST", &format!("{page}/{action}"), None).await?;
        answer_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if status != 200 || !matches!(body["status"].as_str(), Some("accepted" | "declined")) {
            bail!("{action} answered {status} {body}");
        }
    }
    let answer = step(
        sample.len(),
        &answer_ms,
        phase.counter.snapshot().since(&before),
    );

    let before = phase.counter.snapshot();
    let t = Instant::now();
    shared::app::rescan(&deps)
        .await
        .map_err(|e| anyhow::anyhow!("rescan: {e}"))?;
    let rescan = step(
        1,
        &[t.elapsed().as_secs_f64() * 1000.0],
        phase.counter.snapshot().since(&before),
    );

    #[allow(clippy::cast_precision_loss)]
    let rate = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    Ok(SubmitResult {
        count: options.count,
        concurrency: options.concurrency,
        failed,
        failures,
        wishes_per_sec: rate(options.count, secs),
        p50_ms: percentile(&ms, 50.0),
        p99_ms: percentile(&ms, 99.0),
        put_per_sec: rate(options.count, put_secs),
        put_p50_ms: percentile(&put_ms, 50.0),
        put_p99_ms: percentile(&put_ms, 99.0),
        submit: step(options.count, &ms, submit_ops),
        confirm,
        offer,
        answer,
        rescan,
    })
}

fn generator_items(
    wishes: &[GenWish],
    now: chrono::DateTime<Utc>,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    wishes.iter().map(|w| wish_item(w, now)).collect()
}
