//! The functions: zip size, start → ready, event times and memory against the goals.

use super::{MEMORY_GOAL_KIB, START_GOAL, ZIP_GOAL_BYTES, ratio, verdict};
use crate::Results;
use std::fmt::Write as _;

#[allow(clippy::cast_precision_loss)]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub(super) fn functions_section(out: &mut String, r: &Results) {
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
