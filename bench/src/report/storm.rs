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
    let [p50, p99, max] = i.mail_latency_secs;
    let _ = writeln!(
        out,
        "\nMail latency, commit → sent (each offer mail's outbox item, from the offer's \
         transaction to deliver-outbox's send): p50 {p50:.2} s, p99 {p99:.2} s, max {max:.2} s."
    );
    let _ = writeln!(out, "\nPer offer and operation during the storm:\n");
    per_op_table(out, &s.ops, s.offers);
}
