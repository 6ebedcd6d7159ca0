//! The results as Markdown (tables, ratios, goals, the bill) and as an SVG chart.

mod bill;
mod chart;
mod depth;
mod functions;
mod storm;
mod submit;

use crate::Results;
use crate::counter::Snapshot;
use bill::bill_section;
use depth::{depth_section, wish_page_section};
use functions::functions_section;
use std::fmt::Write as _;
use storm::storm_section;
use submit::submit_section;

pub use chart::svg;
pub use depth::depth_ratios;

/// Where `docs/performance.md` keeps the generated part.
pub const BEGIN: &str =
    "<!-- bench:begin (written by `cargo run --profile perf -p bench -- full`) -->";
pub const END: &str = "<!-- bench:end -->";

/// Goals from the issue.
pub const DEPTH_GOAL: f64 = 1.05;
pub const FLOOR_REQUESTS_GOAL: f64 = 1.0;
pub const FLOOR_TIME_GOAL: f64 = 1.5;
/// The wish page far back in a line costs at most this many times its cost near the head (RCU).
pub const WISH_PAGE_GOAL: f64 = 1.2;
pub const ZIP_GOAL_BYTES: u64 = 3 * 1024 * 1024;
pub const START_GOAL: f64 = 2.0;
pub const MEMORY_GOAL_KIB: u64 = 128 * 1024;

fn verdict(ok: bool) -> &'static str {
    if ok { "**met**" } else { "**missed**" }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
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
    wish_page_section(&mut out, r);
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
