//! Plain-text tables for a terminal: columns padded to the widest cell, numbers right-aligned.

use serde_json::Value;
use std::fmt::Write as _;

/// A table with a header row; `numeric[i]` right-aligns column `i`.
#[must_use]
pub fn render(header: &[&str], rows: &[Vec<String>], numeric: &[bool]) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(cell));
            }
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let pad = " ".repeat(w.saturating_sub(width(cell)));
            if i > 0 {
                text.push_str("  ");
            }
            if numeric.get(i).copied().unwrap_or(false) {
                text.push_str(&pad);
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&pad);
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(
        &mut out,
        &header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>(),
    );
    line(
        &mut out,
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    );
    for row in rows {
        line(&mut out, row);
    }
    out
}

/// A JSON value as a table cell.
#[must_use]
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// `GET /admin/stats` as tables: the queues (one row per office and service), then every other
/// figure. Fields the clerk does not know yet are shown too, so a newer server loses nothing.
#[must_use]
pub fn stats(stats: &Value) -> String {
    let mut out = String::new();
    let queues = stats
        .get("queues")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if queues.is_empty() {
        out.push_str("No wishes are waiting.\n");
    } else {
        let mut columns: Vec<String> = vec!["office".into(), "service".into(), "waiting".into()];
        for q in &queues {
            if let Some(map) = q.as_object() {
                for k in map.keys() {
                    if !columns.contains(k) {
                        columns.push(k.clone());
                    }
                }
            }
        }
        let rows: Vec<Vec<String>> = queues
            .iter()
            .map(|q| {
                columns
                    .iter()
                    .map(|c| cell(q.get(c).unwrap_or(&Value::Null)))
                    .collect()
            })
            .collect();
        let numeric: Vec<bool> = columns
            .iter()
            .map(|c| queues.iter().all(|q| q.get(c).is_none_or(Value::is_number)))
            .collect();
        let header: Vec<String> = columns.iter().map(|c| c.to_uppercase()).collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        out.push_str(&render(&header, &rows, &numeric));
    }
    let mut figures: Vec<Vec<String>> = stats
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.as_str() != "queues")
                .map(|(k, v)| {
                    let value = match (k.as_str(), v.as_f64()) {
                        ("acceptance_rate", Some(r)) => format!("{:.1} %", r * 100.0),
                        _ => cell(v),
                    };
                    vec![k.replace('_', " "), value]
                })
                .collect()
        })
        .unwrap_or_default();
    figures.sort();
    if !figures.is_empty() {
        out.push('\n');
        out.push_str(&render(&["FIGURE", "VALUE"], &figures, &[false, true]));
    }
    out
}

/// One slot (`GET /admin/slots/{id}`) as label: value lines.
#[must_use]
pub fn slot(slot: &Value) -> String {
    let mut out = String::new();
    if let Some(map) = slot.as_object() {
        let width = map.keys().map(String::len).max().unwrap_or(0);
        for (k, v) in map {
            let _ = writeln!(out, "{k:<width$}  {}", cell(v));
        }
    } else {
        let _ = writeln!(out, "{}", cell(slot));
    }
    out
}

/// The allocation record's verification (`GET /admin/allocations/verify`): a summary line, then
/// each finding by chain and position, then the chains whose start has expired.
#[must_use]
pub fn allocation_report(report: &Value) -> String {
    let text = |v: &Value, k: &str| v.get(k).map(cell).unwrap_or_default();
    let mut out = String::new();
    let findings = report
        .get("findings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Allocation record {} to {}: {} records in {} chains, {}.",
        text(report, "from"),
        text(report, "to"),
        text(report, "records"),
        text(report, "lines"),
        if findings.is_empty() {
            "every record verified and replayed".to_owned()
        } else {
            format!("{} problem(s)", findings.len())
        }
    );
    if !findings.is_empty() {
        let rows: Vec<Vec<String>> = findings
            .iter()
            .map(|f| {
                let position = match f.get("through").and_then(Value::as_u64) {
                    Some(through) if Some(through) != f.get("seq").and_then(Value::as_u64) => {
                        format!("{}–{through}", text(f, "seq"))
                    }
                    _ => text(f, "seq"),
                };
                vec![text(f, "line"), position, text(f, "detail")]
            })
            .collect();
        out.push_str(&render(
            &["chain (line)", "record", "problem"],
            &rows,
            &[false, true, false],
        ));
    }
    for e in report
        .get("expired_starts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let _ = writeln!(
            out,
            "{}: records before number {} have expired (retention), not a gap.",
            text(e, "line"),
            text(e, "seq")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stats_read_as_a_table_with_numbers_on_the_right() {
        let s = stats(&json!({
            "queues": [
                {"office": "bilk", "service": "id-card", "waiting": 12},
                {"office": "kaiserswerth", "service": "change-of-address", "waiting": 3}
            ],
            "offers_open": 1,
            "acceptance_rate": 0.5,
            "last_release": null
        }));
        assert_eq!(
            s,
            "OFFICE        SERVICE            WAITING\n\
             ------------  -----------------  -------\n\
             bilk          id-card                 12\n\
             kaiserswerth  change-of-address        3\n\
             \n\
             FIGURE            VALUE\n\
             ---------------  ------\n\
             acceptance rate  50.0 %\n\
             last release          -\n\
             offers open           1\n"
        );
    }

    #[test]
    fn an_empty_queue_says_so() {
        assert!(stats(&json!({"queues": []})).starts_with("No wishes are waiting."));
    }

    #[test]
    fn a_slot_is_shown_as_aligned_lines() {
        assert_eq!(
            slot(&json!({"id": "b-1", "minutes": 15})),
            "id       b-1\nminutes  15\n"
        );
    }
}
