//! The submissions: the HTTP router against bare `PutItem`s, and the cost of each step of a wish.

use super::ratio;
use crate::Results;
use std::fmt::Write as _;

pub(super) fn submit_section(out: &mut String, r: &Results) {
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
