//! The grants of `infra/template.yaml` that no test exercised: every action of every `Allow`
//! statement of every function's role, against the log the IAM proxy keeps of the grants that
//! allowed a request (`.local/logs/iam-used.log`, written during `cargo test`).
//!
//! A grant no local run can exercise is explained next to it in the template, by a comment line
//! `# iam-report: <why>` directly above its statement's `- Sid:`. Exits non-zero when a grant
//! was neither exercised nor explained (or when the log is missing).
//!
//! `cargo run -p local-runner --bin iam-report [-- <template> <log>]`

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use local_runner::emulators::default_log_dir;
use local_runner::gateway::arn_like;
use local_runner::iam::roles::{Names, function_roles};
use local_runner::runner::repo_root;

/// Statement Sid → its explanation, per role, from the `# iam-report:` comments.
fn explanations(text: &str) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let mut resource = String::new();
    let mut comments: Vec<String> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if line.starts_with("  ") && !line.starts_with("   ") && trimmed.ends_with(':') {
            trimmed.trim_end_matches(':').clone_into(&mut resource);
        }
        if let Some(c) = trimmed.strip_prefix("#") {
            comments.push(c.trim().to_owned());
            continue;
        }
        if let Some(sid) = trimmed.strip_prefix("- Sid:") {
            let why: Vec<&str> = comments
                .iter()
                .filter_map(|c| c.strip_prefix("iam-report:"))
                .map(str::trim)
                .collect();
            if !why.is_empty() {
                out.insert((resource.clone(), sid.trim().to_owned()), why.join(" "));
            }
        }
        comments.clear();
    }
    out
}

fn run() -> Result<bool> {
    let mut args = std::env::args().skip(1);
    let template = args
        .next()
        .map_or_else(|| repo_root().join("infra/template.yaml"), PathBuf::from);
    let log = args
        .next()
        .map_or_else(|| default_log_dir().join("iam-used.log"), PathBuf::from);
    let text = std::fs::read_to_string(&template)
        .with_context(|| format!("reading {}", template.display()))?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text)?;
    let mut names = Names {
        partition: "aws".into(),
        region: "eu-central-1".into(),
        account: "000000000000".into(),
        stack: "report".into(),
        ..Names::default()
    };
    for section in ["Parameters", "Resources"] {
        if let Some(map) = doc.get(section).and_then(serde_yaml::Value::as_mapping) {
            for id in map.keys().filter_map(serde_yaml::Value::as_str) {
                names.refs.insert(id.to_owned(), id.to_owned());
            }
        }
    }
    let roles = function_roles(&template, &names)?;
    let used_text = std::fs::read_to_string(&log).with_context(|| {
        format!(
            "reading {} (it is written while the system tests run)",
            log.display()
        )
    })?;
    let used: BTreeSet<(String, String, String)> = used_text
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            Some((
                parts.next()?.to_owned(),
                parts.next()?.to_owned(),
                parts.next()?.to_ascii_lowercase(),
            ))
        })
        .collect();
    let explained = explanations(&text);
    let (mut exercised, mut unexplained) = (0, 0);
    println!("== grants of the functions' roles that no test exercised");
    for role in &roles {
        for statement in role.statements.iter().filter(|s| s.allow) {
            for action in &statement.actions {
                let hit = used.iter().any(|(f, sid, a)| {
                    *f == role.code
                        && *sid == statement.sid
                        && arn_like(&action.to_ascii_lowercase(), a)
                });
                if hit {
                    exercised += 1;
                    continue;
                }
                if let Some(why) = explained.get(&(role.role.clone(), statement.sid.clone())) {
                    println!(
                        "   {:<15} {:<24} {:<30} explained: {why}",
                        role.code, statement.sid, action
                    );
                } else {
                    unexplained += 1;
                    println!(
                        "   {:<15} {:<24} {:<30} NOT EXERCISED and not explained",
                        role.code, statement.sid, action
                    );
                }
            }
        }
    }
    println!(
        "   {exercised} grants exercised by the tests; {unexplained} neither exercised nor explained"
    );
    Ok(unexplained == 0)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "iam-report: remove each grant above, or explain it with a `# iam-report:` comment above its statement"
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("iam-report: {e:#}");
            ExitCode::from(2)
        }
    }
}
