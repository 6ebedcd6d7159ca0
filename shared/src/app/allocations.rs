//! Verifying the allocation record (`domain::allocation`): the chains of every line walked over a
//! period, each record checked against its neighbours and replayed against the matching rule.
//! For `clerk audit verify` (through `GET /admin/allocations/verify`) and the supervisors' page.

use super::{AppError, Deps};
use crate::domain::allocation::{
    AllocationReport, ChainStretch, Period, StoredRecord, verify_stretch,
};
use std::collections::BTreeMap;

/// Walks the chains over `period`: the records of each day, grouped by line, the record before
/// each line's first one (so that its link is checked too), and — when the period reaches today
/// — each line's head (so that a deleted last record shows).
///
/// Cost: one query per day (paged), one read per line for its predecessor and one for its head.
///
/// # Errors
/// When the store fails.
pub async fn verify_allocations(deps: &Deps, period: Period) -> Result<AllocationReport, AppError> {
    let now = deps.clock.now();
    let mut lines: BTreeMap<String, Vec<StoredRecord>> = BTreeMap::new();
    for day in period.days() {
        for record in deps.store.allocations_on(day, now).await? {
            lines.entry(record.line.clone()).or_default().push(record);
        }
    }
    let reaches_today = period.to >= now.date_naive();
    let mut report = AllocationReport {
        period,
        records: lines.values().map(Vec::len).sum(),
        lines: lines.len(),
        findings: Vec::new(),
        expired_starts: Vec::new(),
    };
    for (line, mut records) in lines {
        records.sort_by_key(|r| r.seq);
        let before = match records.first().map(|r| (&r.record, r.seq)) {
            Some((Ok(first), seq)) if seq > 1 => match first.prev_at {
                Some(at) => {
                    deps.store
                        .allocation(&line, seq - 1, at.date_naive(), now)
                        .await?
                }
                None => None,
            },
            _ => None,
        };
        let head = if reaches_today {
            deps.store.chain_head(&line).await?
        } else {
            None
        };
        let stretch = ChainStretch {
            line: line.clone(),
            before,
            records,
            head,
        };
        let verdict = verify_stretch(&stretch, now);
        report.findings.extend(verdict.findings);
        if let Some(seq) = verdict.expired_start {
            report.expired_starts.push((line, seq));
        }
    }
    Ok(report)
}
