//! The release storm: throughput, cost per offer and the invariants checked afterwards.

use super::per_op_table;
use crate::Results;
use std::fmt::Write as _;

pub(super) fn storm_section(out: &mut String, r: &Results) {
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
    #[allow(clippy::cast_precision_loss)]
    let match_requests = per(s.match_ops.requests("dynamodb") as f64);
    let share = if s.raw_transact_per_sec > 0.0 {
        s.offer_rate / s.raw_transact_per_sec
    } else {
        0.0
    };
    let verdict = |met: bool| if met { "met" } else { "missed" };
    let _ = writeln!(
        out,
        "\n**Against the goals.** match-offers alone (its own counted client): {match_requests:.2} \
         `DynamoDB` requests per offer (goal ≤ 4: **{}**). Offers committed: the last {:.1} s \
         after the first release, {:.1} offers a second; the emulator's raw \
         `TransactWriteItems` in the same run at the same concurrency ({}; {} transactions of the \
         floor's three items): {:.1} a second, so the storm ran at **{:.0} %** of it (goal ≥ 50 %: \
         **{}**).",
        verdict(match_requests <= 4.0),
        s.last_offer_secs,
        s.offer_rate,
        s.concurrency,
        s.raw_transacts,
        s.raw_transact_per_sec,
        share * 100.0,
        verdict(share >= 0.5)
    );
    let _ = writeln!(out, "\nmatch-offers' requests per offer and operation:\n");
    per_op_table(out, &s.match_ops, s.offers);
    let [p50, p99, max] = i.mail_latency_secs;
    let _ = writeln!(
        out,
        "\nMail latency, commit → sent (each offer mail's outbox item, from the offer's \
         transaction to deliver-outbox's send): p50 {p50:.2} s, p99 {p99:.2} s, max {max:.2} s."
    );
    let _ = writeln!(
        out,
        "\nPer offer and operation during the storm, everything (slot-release, match-offers, deliver-outbox):\n"
    );
    per_op_table(out, &s.ops, s.offers);
}
