//! The bill, on paper: a city's day of steps priced at list prices, per month.

use super::MEMORY_GOAL_KIB;
use crate::Results;
use crate::counter::Snapshot;
use std::fmt::Write as _;

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
    /// SQS FIFO, per request (each 64 KB of a request is one).
    pub const SQS_FIFO_REQUEST: f64 = 0.50 / 1e6;
}

/// SQS requests per released slot on a quiet day: slot-release's `SendMessageBatch`, the event
/// source's `ReceiveMessage` that hands it to match-offers, and its `DeleteMessageBatch`.
const SQS_PER_RELEASE: f64 = 3.0;
/// The event source's long polls of the empty match queue: five pollers, a 20-second wait each.
const SQS_IDLE_POLLS_PER_DAY: f64 = 5.0 * 3.0 * 60.0 * 24.0;

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
pub(super) fn bill_section(out: &mut String, r: &Results) {
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
        // deliver-outbox, once per committed change that owes a mail and an event (the stream
        // hands both in one batch): submit (its opt-in has no event: counted all the same),
        // confirm, offer and answer.
        Step {
            name: "deliver (a mail and an event)",
            per_day: 2.0 * new_wishes + 2.0 * offers,
            ops: &deep.delivery.ops,
            count: deep.samples,
            ms: deep.delivery.ms_mean,
            http: false,
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
         decline); one slot-release run per offered slot, which sends it to the match queue (three \
         SQS FIFO requests a slot: send, the event source's receive, delete) besides the bus, and \
         the event source's five long polls of the empty queue (21 600 receives a day); one \
         deliver-outbox run per committed \
         change that owes a mail and its event (measured with the offers: claim, send or \
         publish, mark, for each); the rescan every 5 minutes (288 runs); \
         Lambda at {:.0} MB; durations as measured here against the emulators. `DynamoDB` \
         Local reports capacity the way `DynamoDB` bills on-demand request units (writes per KB \
         of the larger of the old and new item, index updates included, transactions twice; \
         reads per 4 KB, half for eventually consistent ones), so the units are used as they \
         are. Prices: eu-central-1 list prices of 2025.\n",
        memory_gb * 1000.0
    );
    let city = priced(out, &steps, offers, memory_gb, 1.0);
    let _ = writeln!(
        out,
        "\n#### The same bill for a city ten times larger\n\n500 000 waiting wishes, 20 000 offers and \
         20 000 new wishes a day: every step ten times as often, each at the units measured above \
         (an offer costs the same at any depth, the depth table's ratio); the rescan still runs \
         every 5 minutes and the match queue's idle polls stay. What grows: mails (SES stays the largest item), `DynamoDB` writes and \
         Lambda, each tenfold; what stays: the cost of one offer, of one submission and of a \
         rescan run, and the per-table and per-function set-up (no capacity to provision, nothing \
         that scales with the queue's length).\n"
    );
    let larger = priced(out, &steps, offers, memory_gb, 10.0);
    let _ = writeln!(
        out,
        "\nTen times the city costs {:.1} times as much (${city:.2} → ${larger:.2} a month).",
        larger / city
    );
    let _ = writeln!(
        out,
        "\nThe free tiers (Lambda 400 000 GB-s and 1 M requests a month; SES 3 000 messages a \
         month in the first year) are not deducted. Storage of the tables (a few hundred MB at most) and \
         the CloudWatch logs and alarms are extra and small."
    );
}

/// The per-day steps priced per month, `scale` times as often (the rescan's schedule stays):
/// writes the two tables and answers the month's total.
#[allow(clippy::many_single_char_names)]
fn priced(out: &mut String, steps: &[Step<'_>], offers: f64, memory_gb: f64, scale: f64) -> f64 {
    let _ = writeln!(
        out,
        "| step | per day | RRU each | WRU each | mails each | events each | Lambda ms each |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|");
    let (mut rru, mut wru, mut mails, mut events, mut gb_s, mut invocations, mut http) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for st in steps {
        let per_day = if st.name == "rescan" {
            st.per_day
        } else {
            st.per_day * scale
        };
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
            st.name, per_day, r_each, w_each, m_each, e_each, st.ms
        );
        rru += per_day * r_each;
        wru += per_day * w_each;
        mails += per_day * m_each;
        events += per_day * e_each;
        gb_s += per_day * st.ms / 1000.0 * memory_gb;
        invocations += per_day;
        if st.http {
            http += per_day;
        }
    }
    // slot-release: one run, one PutEvents and one SendMessageBatch per offered slot (a few ms
    // of work); match-offers' event source receives and deletes it, and polls the empty queue.
    invocations += offers * scale;
    events += offers * scale;
    gb_s += offers * scale * 0.010 * memory_gb;
    let sqs = offers * scale * SQS_PER_RELEASE + SQS_IDLE_POLLS_PER_DAY;
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
            "SQS FIFO (the match queue)",
            sqs * month,
            "requests",
            price::SQS_FIFO_REQUEST,
        ),
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
    total
}
