//! The cost per offer against queue depth: the table, the ratios to the goals and to the floor.

use super::{
    DEPTH_GOAL, FLOOR_REQUESTS_GOAL, FLOOR_TIME_GOAL, WISH_PAGE_GOAL, per_op_table, ratio, verdict,
};
use crate::Results;
use crate::depth::DepthResult;
use std::fmt::Write as _;

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

#[allow(clippy::too_many_lines)]
pub(super) fn depth_section(out: &mut String, r: &Results) {
    let Some(d) = &r.depth else { return };
    let _ = writeln!(out, "### Cost per offer against queue depth\n");
    let _ = writeln!(
        out,
        "Each row: {} offers made through `shared::app::match_slot`, each paired with the floor \
         (one `Query` for the head of the line + one raw `TransactWriteItems`: slot, wish, offer) \
         from the same state; means per offer, times as p50 (mean). {} lines in all, {} queue \
         entries at the largest depth. {}% of the wishes are families (two to five persons, in \
         their own lines); each sampled slot has a free slot right after it for one or two \
         persons, so runs for families of two and three exist and their lines are read where \
         such families wait; offers that went to a family's run, per depth: {}.\n",
        d.levels.first().map_or(0, |l| l.samples),
        d.lines,
        d.queue_entries,
        d.families,
        d.levels
            .iter()
            .map(|l| format!("{} of {}", l.runs, l.samples))
            .collect::<Vec<_>>()
            .join(", ")
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
        let rest = (o.ms_mean - o.dynamodb_ms - o.ses_ms - o.eventbridge_ms).max(0.0);
        let _ = writeln!(
            out,
            "\nWhere the {:.1} ms of one offer go (mean, at {} wishes): waiting for DynamoDB \
             {:.1} ms; SES {:.1} ms and EventBridge {:.1} ms (the offer sends nothing itself: \
             its mail and event are committed to the outbox with it); everything else \
             (rendering the mail, signing, serde, our code) about {:.1} ms. Per offer and \
             operation:\n",
            o.ms_mean, last.depth, o.dynamodb_ms, o.ses_ms, o.eventbridge_ms, rest
        );
        per_op_table(out, &o.ops, last.samples);
        let _ = writeln!(out, "\nThe floor, per offer:\n");
        per_op_table(out, &last.floor.ops, last.samples);
        let v = &last.delivery;
        let _ = writeln!(
            out,
            "\n**Delivery, measured apart** (what deliver-outbox does for one offer when the \
             stream hands it the offer's outbox items: claim, send and mark the mail; claim, \
             publish and mark the `OfferSent` event): {:.2} requests ({:.2} DynamoDB), \
             {:.1} ms p50 ({:.1} mean; SES {:.1} ms, EventBridge {:.1} ms), {:.2} WCU — \
             about {:.0} offers' deliveries a second for one deliverer in a row. Per offer and \
             operation:\n",
            v.all_requests,
            v.dynamodb_requests,
            v.ms_p50,
            v.ms_mean,
            v.ses_ms,
            v.eventbridge_ms,
            v.wcu,
            if v.ms_mean > 0.0 {
                1000.0 / v.ms_mean
            } else {
                0.0
            },
        );
        per_op_table(out, &v.ops, last.samples);
        let _ = writeln!(
            out,
            "\n`match_slot` chose the floor's wish (the head of the line) in {} of {} samples at \
             the largest depth. Filling took {:.0} s for the largest step ({} `BatchWriteItem` \
             requests).",
            last.same_head, last.samples, last.fill_secs, last.fill_requests
        );
    }
}

/// The wish page near the head of a line and far back in it (the goal: ≤ 1.2× in RCU).
pub(super) fn wish_page_section(out: &mut String, r: &Results) {
    let Some(p) = r.depth.as_ref().and_then(|d| d.wish_page.as_ref()) else {
        return;
    };
    let _ = writeln!(out, "\n### Wish page against the place in line\n");
    let _ = writeln!(
        out,
        "The busiest line of the depth phase's queue, deepened with wishes that stand in it alone: \
         {} wishes in it, {} waiting in all. Two of those wishes' pages (`places_in_line`: the \
         line's counts, its release counters, the entries of the wish's own hour), each read 5 \
         times; beside them, the same place by counting the entries ahead (`Select COUNT`, how \
         the page read it before the lines were counted). Means per page read.\n",
        p.line_length, p.waiting
    );
    let _ = writeln!(
        out,
        "| wishes ahead | requests | RCU | ms (p50) | by counting: requests | by counting: RCU |"
    );
    let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|");
    for point in [&p.near, &p.far] {
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | {:.1} | {:.2} | {:.2} |",
            point.place,
            point.requests,
            point.rcu,
            point.ms_p50,
            point.count_requests,
            point.count_rcu
        );
    }
    let _ = writeln!(
        out,
        "\nRCU at place {} over place {}: **{:.2}×** (goal ≤ {:.1}×: {}); by counting it would be \
         {:.1}×.",
        p.far.place,
        p.near.place,
        p.ratio(),
        WISH_PAGE_GOAL,
        verdict(p.ratio() <= WISH_PAGE_GOAL),
        ratio(p.far.count_rcu, p.near.count_rcu)
    );
}
