//! The results as Markdown (tables, ratios, goals, the bill) and as an SVG chart.

use crate::Results;
use crate::counter::Snapshot;
use crate::depth::DepthResult;
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;

/// Where `docs/performance.md` keeps the generated part.
pub const BEGIN: &str =
    "<!-- bench:begin (written by `cargo run --profile perf -p bench -- full`) -->";
pub const END: &str = "<!-- bench:end -->";

/// Goals from the issue.
pub const DEPTH_GOAL: f64 = 1.05;
pub const FLOOR_REQUESTS_GOAL: f64 = 1.5;
pub const FLOOR_TIME_GOAL: f64 = 2.0;
pub const ZIP_GOAL_BYTES: u64 = 3 * 1024 * 1024;
pub const START_GOAL: f64 = 2.0;
pub const MEMORY_GOAL_KIB: u64 = 128 * 1024;

fn verdict(ok: bool) -> &'static str {
    if ok { "**met**" } else { "**missed**" }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

/// The depth ratios, largest over smallest depth: (requests, all requests, units, RCU, WCU, time).
#[must_use]
pub fn depth_ratios(levels: &[DepthResult]) -> Option<[f64; 6]> {
    let (first, last) = (levels.first()?, levels.last()?);
    let (a, b) = (&last.ours, &first.ours);
    Some([
        ratio(a.dynamodb_requests, b.dynamodb_requests),
        ratio(a.all_requests, b.all_requests),
        ratio(a.rcu + a.wcu, b.rcu + b.wcu),
        ratio(a.rcu, b.rcu),
        ratio(a.wcu, b.wcu),
        ratio(a.ms_p50, b.ms_p50),
    ])
}

fn per_op_table(out: &mut String, ops: &Snapshot, n: usize) {
    #[allow(clippy::cast_precision_loss)]
    let n = n.max(1) as f64;
    let _ = writeln!(out, "| operation | requests | RCU | WCU | ms waiting |");
    let _ = writeln!(out, "|---|--:|--:|--:|--:|");
    #[allow(clippy::cast_precision_loss)]
    for (op, s) in &ops.ops {
        let _ = writeln!(
            out,
            "| {op} | {:.2} | {:.2} | {:.2} | {:.2} |",
            s.requests as f64 / n,
            s.rcu / n,
            s.wcu / n,
            s.time.as_secs_f64() * 1000.0 / n
        );
    }
}

#[allow(clippy::too_many_lines)]
fn depth_section(out: &mut String, r: &Results) {
    let Some(d) = &r.depth else { return };
    let _ = writeln!(out, "### Cost per offer against queue depth\n");
    let _ = writeln!(
        out,
        "Each row: {} offers made through `shared::app::match_slot`, each paired with the floor \
         (one `Query` for the head of the line + one raw `TransactWriteItems`: slot, wish, offer) \
         from the same state; means per offer, times as p50 (mean). {} lines in all, {} queue \
         entries at the largest depth.\n",
        d.levels.first().map_or(0, |l| l.samples),
        d.lines,
        d.queue_entries
    );
    let _ = writeln!(
        out,
        "| waiting wishes | mean length of the sampled lines | DynamoDB requests | all requests (+SES, EventBridge) | RCU | WCU | ms | floor: requests | floor RCU | floor WCU | floor ms | requests × floor | ms × floor |"
    );
    let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for l in &d.levels {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} ({:.1}) | {:.2} | {:.2} | {:.2} | {:.1} ({:.1}) | {:.2} | {:.2} |",
            l.depth,
            l.mean_line,
            l.ours.dynamodb_requests,
            l.ours.all_requests,
            l.ours.rcu,
            l.ours.wcu,
            l.ours.ms_p50,
            l.ours.ms_mean,
            l.floor.dynamodb_requests,
            l.floor.rcu,
            l.floor.wcu,
            l.floor.ms_p50,
            l.floor.ms_mean,
            ratio(l.ours.dynamodb_requests, l.floor.dynamodb_requests),
            ratio(l.ours.ms_p50, l.floor.ms_p50),
        );
    }
    if let (Some(rt), Some(first), Some(last)) =
        (depth_ratios(&d.levels), d.levels.first(), d.levels.last())
    {
        let _ = writeln!(
            out,
            "\n**{} / {} wishes:** DynamoDB requests {:.3}, all requests {:.3}, capacity units \
             {:.3} (RCU {:.3}, WCU {:.3}), time {:.3}. Goal ≤ {DEPTH_GOAL} for requests and units: \
             requests {}, units {}.",
            last.depth,
            first.depth,
            rt[0],
            rt[1],
            rt[2],
            rt[3],
            rt[4],
            rt[5],
            verdict(rt[0] <= DEPTH_GOAL && rt[1] <= DEPTH_GOAL),
            verdict(rt[2] <= DEPTH_GOAL)
        );
        let req = ratio(last.ours.dynamodb_requests, last.floor.dynamodb_requests);
        let all = ratio(last.ours.all_requests, last.floor.all_requests);
        let time = ratio(last.ours.ms_p50, last.floor.ms_p50);
        let ddb_time = ratio(last.ours.dynamodb_ms, last.floor.dynamodb_ms);
        let _ = writeln!(
            out,
            "\n**Against the floor at {} wishes:** DynamoDB requests {req:.2}× (all requests \
             {all:.2}×; goal ≤ {FLOOR_REQUESTS_GOAL}×: {}), time {time:.2}× (goal ≤ \
             {FLOOR_TIME_GOAL}×: {}); time spent waiting for DynamoDB alone {ddb_time:.2}× the \
             floor's.",
            last.depth,
            verdict(req <= FLOOR_REQUESTS_GOAL),
            verdict(time <= FLOOR_TIME_GOAL)
        );
        let o = &last.ours;
        // The mail (SES, then the outbox marked sent) and the event go out at the same time:
        // their waits overlap, so only the longer of the two adds to the offer's time.
        let rest = (o.ms_mean - o.dynamodb_ms - o.ses_ms.max(o.eventbridge_ms)).max(0.0);
        let _ = writeln!(
            out,
            "\nWhere the {:.1} ms of one offer go (mean, at {} wishes): waiting for DynamoDB \
             {:.1} ms; then SES {:.1} ms and, at the same time, EventBridge {:.1} ms; everything \
             else (rendering the mail, signing, serde, our code) about {:.1} ms. Per offer and \
             operation:\n",
            o.ms_mean, last.depth, o.dynamodb_ms, o.ses_ms, o.eventbridge_ms, rest
        );
        per_op_table(out, &o.ops, last.samples);
        let _ = writeln!(out, "\nThe floor, per offer:\n");
        per_op_table(out, &last.floor.ops, last.samples);
        let _ = writeln!(
            out,
            "\n`match_slot` chose the floor's wish (the head of the line) in {} of {} samples at \
             the largest depth. Filling took {:.0} s for the largest step ({} `BatchWriteItem` \
             requests).",
            last.same_head, last.samples, last.fill_secs, last.fill_requests
        );
    }
}

fn storm_section(out: &mut String, r: &Results) {
    let Some(s) = &r.storm else { return };
    let i = &s.invariants;
    let _ = writeln!(out, "\n### Release storm\n");
    let _ = writeln!(
        out,
        "| waiting wishes | slots freed at once | match-offers at once | freeing took | offers | offers / s | first release → last offer mail | requests / offer | RCU / offer | WCU / offer | invariants |"
    );
    let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|");
    #[allow(clippy::cast_precision_loss)]
    let per = |v: f64| v / s.offers.max(1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let _ = writeln!(
        out,
        "| {} | {} | {} | {:.1} s | {} | {:.1} | {:.1} s | {:.2} | {:.2} | {:.2} | {} |",
        s.wishes,
        s.slots,
        s.concurrency,
        s.release_secs,
        s.offers,
        s.offers_per_sec,
        s.last_offer_mail_secs,
        per(s.ops.requests("") as f64),
        per(s.ops.rcu()),
        per(s.ops.wcu()),
        if i.ok { "hold" } else { "**VIOLATED**" }
    );
    let _ = writeln!(
        out,
        "\nChecked from the tables afterwards: {} open offers; slots with two open offers: {}; \
         wishes with two open offers: {}; slot↔offer mismatches: {}; wish↔offer mismatches: {}; \
         offer mails sent: {}; released slots left free (no eligible wish left in their lines): \
         {}. Stream records read: {}; bus events handled: {}; handler errors: {}.",
        i.open_offers,
        i.slots_with_two_open_offers,
        i.wishes_with_two_open_offers,
        i.slot_offer_mismatches,
        i.wish_offer_mismatches,
        i.offer_mails_sent,
        i.slots_left_free,
        s.stream_records,
        s.events_handled,
        s.handler_errors
    );
    let _ = writeln!(out, "\nPer offer and operation during the storm:\n");
    per_op_table(out, &s.ops, s.offers);
}

fn submit_section(out: &mut String, r: &Results) {
    let Some(s) = &r.submit else { return };
    let _ = writeln!(out, "\n### Submissions\n");
    let _ = writeln!(
        out,
        "{} wishes, {} at a time, through the HTTP router (`POST /api/wishes`), and the same \
         wishes as bare `PutItem`s ({} answers other than 202).\n",
        s.count, s.concurrency, s.failed
    );
    if let Some(first) = s.failures.first() {
        let _ = writeln!(out, "First answer other than 202: `{first}`.\n");
    }
    let _ = writeln!(out, "| | per second | p50 ms | p99 ms |");
    let _ = writeln!(out, "|---|--:|--:|--:|");
    let _ = writeln!(
        out,
        "| `POST /api/wishes` | {:.1} | {:.1} | {:.1} |",
        s.wishes_per_sec, s.p50_ms, s.p99_ms
    );
    let _ = writeln!(
        out,
        "| bare `PutItem` | {:.1} | {:.1} | {:.1} |",
        s.put_per_sec, s.put_p50_ms, s.put_p99_ms
    );
    let _ = writeln!(
        out,
        "| ratio | {:.2} | {:.2} | {:.2} |",
        ratio(s.wishes_per_sec, s.put_per_sec),
        ratio(s.p50_ms, s.put_p50_ms),
        ratio(s.p99_ms, s.put_p99_ms)
    );
    let _ = writeln!(
        out,
        "\nEvery step of a wish's life, per step (a sample of {} taken through confirm, offer and an answer, half accepting, half declining):\n",
        s.confirm.count
    );
    let _ = writeln!(
        out,
        "| step | DynamoDB requests | all requests | RCU | WCU | ms (mean) |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|");
    for (name, c) in [
        ("submit (`POST /api/wishes`)", &s.submit),
        ("confirm (`POST /w/{token}/confirm`)", &s.confirm),
        ("offer (`match_slot`, short queue)", &s.offer),
        ("answer (`POST /o/{token}/accept|decline`)", &s.answer),
        ("rescan (schedule, idle)", &s.rescan),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |",
            c.dynamodb_requests, c.all_requests, c.rcu, c.wcu, c.ms_mean
        );
    }
}

#[allow(clippy::cast_precision_loss)]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn functions_section(out: &mut String, r: &Results) {
    let _ = writeln!(out, "\n### Functions\n");
    let Some(f) = &r.functions else {
        let _ = writeln!(
            out,
            "Not measured in this run ({}).",
            r.functions_skipped.as_deref().unwrap_or("skipped")
        );
        return;
    };
    let _ = writeln!(
        out,
        "Built with `{}` ({:.0} s this run), started {} times each against a minimal Lambda \
         Runtime API; start → ready is the median time from `spawn` to the first \
         `GET /runtime/invocation/next`. Memory: `VmHWM` after {} events.\n",
        f.compiler,
        f.build_secs,
        f.hello.ready_all_ms.len(),
        f.hello.events
    );
    let _ = writeln!(
        out,
        "| function | zip | start → ready | × hello world | first event | later events (p50) | memory high-water | errors |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|");
    for x in std::iter::once(&f.hello).chain(&f.functions) {
        let _ = writeln!(
            out,
            "| {} | {:.2} MB | {:.1} ms | {:.2} | {:.1} ms | {:.1} ms | {:.1} MB | {}/{} |",
            x.name,
            mib(x.zip_bytes),
            x.ready_ms,
            ratio(x.ready_ms, f.hello.ready_ms),
            x.first_event_ms,
            x.warm_event_ms,
            mib(x.hwm_kib * 1024),
            x.errors,
            x.events
        );
    }
    let zip_ok = f.functions.iter().all(|x| x.zip_bytes <= ZIP_GOAL_BYTES);
    let start_ok = f
        .functions
        .iter()
        .all(|x| ratio(x.ready_ms, f.hello.ready_ms) <= START_GOAL);
    let mem_ok = f.functions.iter().all(|x| x.hwm_kib <= MEMORY_GOAL_KIB);
    let _ = writeln!(
        out,
        "\nGoals: every zip ≤ 3 MB {}; start → ready ≤ {START_GOAL}× hello world {}; memory fits \
         128 MB {}.",
        verdict(zip_ok),
        verdict(start_ok),
        verdict(mem_ok)
    );
}

/// List prices, eu-central-1 (Frankfurt), as published in 2025; change them here.
mod price {
    /// Lambda, `x86_64`, per GB-second and per request.
    pub const LAMBDA_GB_S: f64 = 0.000_016_666_7;
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// `DynamoDB` on-demand, per write and read request unit.
    pub const WRU: f64 = 0.7625 / 1e6;
    pub const RRU: f64 = 0.1525 / 1e6;
    /// SES outbound, per mail.
    pub const SES_MAIL: f64 = 0.10 / 1000.0;
    /// `EventBridge` custom events, per event.
    pub const EVENT: f64 = 1.00 / 1e6;
    /// API Gateway HTTP API, per request (first 300 million).
    pub const HTTP_REQUEST: f64 = 1.20 / 1e6;
}

/// One line of the per-day workload: how often, and what one costs.
struct Step<'a> {
    name: &'static str,
    per_day: f64,
    ops: &'a Snapshot,
    count: usize,
    ms: f64,
    http: bool,
}

#[allow(clippy::too_many_lines, clippy::many_single_char_names)]
fn bill_section(out: &mut String, r: &Results) {
    let (Some(s), Some(d)) = (&r.submit, &r.depth) else {
        return;
    };
    let Some(deep) = d.levels.last() else { return };
    let offers = 2000.0;
    let new_wishes = 2000.0;
    let rescans = 24.0 * 12.0;
    let memory_gb = r.functions.as_ref().map_or(0.256, |f| {
        if f.functions.iter().all(|x| x.hwm_kib <= MEMORY_GOAL_KIB) {
            0.128
        } else {
            0.256
        }
    });
    let steps = [
        Step {
            name: "submit",
            per_day: new_wishes,
            ops: &s.submit.ops,
            count: s.submit.count,
            ms: s.submit.ms_mean,
            http: true,
        },
        Step {
            name: "confirm",
            per_day: new_wishes,
            ops: &s.confirm.ops,
            count: s.confirm.count,
            ms: s.confirm.ms_mean,
            http: true,
        },
        Step {
            name: "offer",
            per_day: offers,
            ops: &deep.ours.ops,
            count: deep.samples,
            ms: deep.ours.ms_mean,
            http: false,
        },
        Step {
            name: "answer",
            per_day: offers,
            ops: &s.answer.ops,
            count: s.answer.count,
            ms: s.answer.ms_mean,
            http: true,
        },
        Step {
            name: "rescan",
            per_day: rescans,
            ops: &s.rescan.ops,
            count: s.rescan.count,
            ms: s.rescan.ms_mean,
            http: false,
        },
    ];
    let _ = writeln!(out, "\n### The bill, on paper\n");
    let _ = writeln!(
        out,
        "A city with 50 000 waiting wishes and 2 000 offers a day, from the units measured above \
         (offers at the largest depth). Assumed: as many wishes join as leave, so 2 000 new wishes \
         a day (each submitted and confirmed); every offer is answered once (half accept, half \
         decline); one slot-release run per offered slot; the rescan every 5 minutes (288 runs); \
         Lambda at {:.0} MB; durations as measured here against the emulators. `DynamoDB` \
         Local reports capacity the way `DynamoDB` bills on-demand request units (writes per KB \
         of the larger of the old and new item, index updates included, transactions twice; \
         reads per 4 KB, half for eventually consistent ones), so the units are used as they \
         are. Prices: eu-central-1 list prices of 2025.\n",
        memory_gb * 1000.0
    );
    let _ = writeln!(
        out,
        "| step | per day | RRU each | WRU each | mails each | events each | Lambda ms each |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|");
    let (mut rru, mut wru, mut mails, mut events, mut gb_s, mut invocations, mut http) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for st in &steps {
        #[allow(clippy::cast_precision_loss)]
        let n = st.count.max(1) as f64;
        let mut r_each = 0.0;
        let mut w_each = 0.0;
        for o in st.ops.ops.values() {
            r_each += o.rcu / n;
            w_each += o.wcu / n;
        }
        #[allow(clippy::cast_precision_loss)]
        let m_each = st
            .ops
            .ops
            .get("sesv2:SendEmail")
            .map_or(0.0, |o| o.requests as f64)
            / n;
        #[allow(clippy::cast_precision_loss)]
        let e_each = st
            .ops
            .ops
            .get("eventbridge:PutEvents")
            .map_or(0.0, |o| o.requests as f64)
            / n;
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |",
            st.name, st.per_day, r_each, w_each, m_each, e_each, st.ms
        );
        rru += st.per_day * r_each;
        wru += st.per_day * w_each;
        mails += st.per_day * m_each;
        events += st.per_day * e_each;
        gb_s += st.per_day * st.ms / 1000.0 * memory_gb;
        invocations += st.per_day;
        if st.http {
            http += st.per_day;
        }
    }
    // slot-release: one run and one PutEvents per offered slot (a few ms of work).
    invocations += offers;
    events += offers;
    gb_s += offers * 0.010 * memory_gb;
    let month = 30.0;
    let lines = [
        ("Lambda compute", gb_s * month, "GB-s", price::LAMBDA_GB_S),
        (
            "Lambda requests",
            invocations * month,
            "requests",
            price::LAMBDA_REQUEST,
        ),
        ("DynamoDB writes", wru * month, "WRU", price::WRU),
        ("DynamoDB reads", rru * month, "RRU", price::RRU),
        ("SES", mails * month, "mails", price::SES_MAIL),
        ("EventBridge", events * month, "events", price::EVENT),
        (
            "API Gateway HTTP API (for completeness)",
            http * month,
            "requests",
            price::HTTP_REQUEST,
        ),
    ];
    let _ = writeln!(out, "\n| per month (30 days) | quantity | price | cost |");
    let _ = writeln!(out, "|---|--:|--:|--:|");
    let mut total = 0.0;
    for (name, q, unit, p) in lines {
        let _ = writeln!(
            out,
            "| {name} | {q:.0} {unit} | ${:.3} per million | ${:.2} |",
            p * 1e6,
            q * p
        );
        total += q * p;
    }
    let _ = writeln!(out, "| **total** | | | **${total:.2}** |");
    let _ = writeln!(
        out,
        "\nThe free tiers (Lambda 400 000 GB-s and 1 M requests a month; SES 3 000 messages a \
         month in the first year) are not deducted. Storage of the tables (a few hundred MB at most) and \
         the CloudWatch logs and alarms are extra and small."
    );
}

/// The generated part of `docs/performance.md`.
#[must_use]
pub fn markdown(r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured {} on {} ({} cores, {:.0} GiB), {}; {}; mode `{}`, {:.1} minutes in all \
         (building excluded); load average {:.1} at the start, {:.1} at the end (other work on \
         the machine: the emulators share its two cores with the benchmark and anything else \
         running).\n",
        r.date,
        r.machine.cpu,
        r.machine.cores,
        r.machine.mem_gib,
        r.machine.os,
        r.machine.rustc,
        r.mode,
        r.total_secs / 60.0,
        r.machine.load_start,
        r.machine.load_end
    );
    depth_section(&mut out, r);
    storm_section(&mut out, r);
    submit_section(&mut out, r);
    functions_section(&mut out, r);
    bill_section(&mut out, r);
    out
}

/// Puts `block` between the markers of `doc` (or makes a new doc around it).
#[must_use]
pub fn splice(doc: Option<&str>, block: &str) -> String {
    let generated = format!("{BEGIN}\n\n{block}\n{END}");
    match doc {
        Some(doc) => match (doc.find(BEGIN), doc.find(END)) {
            (Some(b), Some(e)) if e > b => {
                format!("{}{generated}{}", &doc[..b], &doc[e + END.len()..])
            }
            _ => format!("{doc}\n{generated}\n"),
        },
        None => format!("# Performance\n\n{generated}\n"),
    }
}

/// The chart: per offer against depth — requests, capacity units and time, ours and the floor.
///
/// # Errors
/// When the file cannot be written.
pub fn svg(r: &Results, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    type Series<'a> = (&'a str, RGBColor, Vec<f64>);
    let Some(d) = &r.depth else { return Ok(()) };
    #[allow(clippy::cast_precision_loss)]
    let xs: Vec<f64> = d.levels.iter().map(|l| l.depth as f64).collect();
    let (Some(x0), Some(x1)) = (xs.first().copied(), xs.last().copied()) else {
        return Ok(());
    };
    let root = SVGBackend::new(path, (1200, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!("Cost per offer against waiting wishes ({})", r.date);
    let root = root.titled(&title, ("sans-serif", 20))?;
    let panels = root.split_evenly((1, 3));
    let draw = |area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
                caption: &str,
                series: &[Series]|
     -> Result<()> {
        let top = series
            .iter()
            .flat_map(|(_, _, v)| v.iter().copied())
            .fold(0.0f64, f64::max)
            * 1.25;
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d((x0 * 0.8..x1 * 1.25).log_scale(), 0.0..top.max(1e-3))?;
        chart
            .configure_mesh()
            .x_desc("waiting wishes")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()?;
        for (name, color, values) in series {
            let points: Vec<(f64, f64)> = xs.iter().copied().zip(values.iter().copied()).collect();
            let color = *color;
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    };
    let pick = |f: &dyn Fn(&DepthResult) -> f64| d.levels.iter().map(f).collect::<Vec<f64>>();
    let ours = RGBColor(0, 94, 184);
    let floor = RGBColor(200, 80, 0);
    draw(
        &panels[0],
        "DynamoDB requests per offer",
        &[
            ("match_slot", ours, pick(&|l| l.ours.dynamodb_requests)),
            ("floor", floor, pick(&|l| l.floor.dynamodb_requests)),
        ],
    )?;
    draw(
        &panels[1],
        "capacity units per offer",
        &[
            ("match_slot RCU", ours, pick(&|l| l.ours.rcu)),
            (
                "match_slot WCU",
                RGBColor(90, 170, 255),
                pick(&|l| l.ours.wcu),
            ),
            ("floor RCU", floor, pick(&|l| l.floor.rcu)),
            ("floor WCU", RGBColor(240, 170, 90), pick(&|l| l.floor.wcu)),
        ],
    )?;
    draw(
        &panels[2],
        "ms per offer (p50)",
        &[
            ("match_slot", ours, pick(&|l| l.ours.ms_p50)),
            ("floor", floor, pick(&|l| l.floor.ms_p50)),
        ],
    )?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_block_replaces_only_itself() {
        let doc = format!("intro\n{BEGIN}\nold\n{END}\noutro\n");
        let new = splice(Some(&doc), "new");
        assert!(new.starts_with("intro\n"));
        assert!(new.ends_with("\noutro\n"));
        assert!(new.contains("new") && !new.contains("old"));
        assert!(splice(None, "x").contains(BEGIN));
        assert!(splice(Some("no markers"), "x").starts_with("no markers"));
    }
}
