//! The `clerk` binary against a real local system: `DynamoDB` Local and moto (started once for this
//! test binary; run `scripts/bootstrap.sh` and source `.local/env.sh` first), the admin API served
//! on a free loopback port with tables of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// One clerk's session reads best as one story.
#![allow(clippy::too_many_lines)]

use local_runner::emulators;
use local_runner::runner::LocalSystem;
use std::path::PathBuf;

const KEY: &str = "clerk-test-key-0123456789";

async fn server() -> (String, LocalSystem) {
    let emulators = emulators::shared()
        .await
        .expect("emulators start (run scripts/bootstrap.sh and source .local/env.sh)");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let prefix = format!("clerk{}-", std::process::id());
    let system = LocalSystem::setup(emulators, &prefix, &base, KEY)
        .await
        .unwrap();
    let router = system.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, system)
}

struct Run {
    ok: bool,
    out: String,
    err: String,
}

async fn clerk(base: &str, key: &str, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_clerk"))
        .args(args)
        .env("TERMINAGENT_URL", base)
        .env("TERMINAGENT_ADMIN_KEY", key)
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .await
        .unwrap();
    Run {
        ok: out.status.success(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clerk-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A Monday at 08:30 in Düsseldorf, weeks ahead so that offers are possible.
fn start(minute: u32) -> String {
    use chrono::{Datelike, Duration, Utc};
    let mut day = Utc::now().date_naive() + Duration::days(21);
    while day.weekday() != chrono::Weekday::Mon {
        day += Duration::days(1);
    }
    format!("{day}T08:{minute:02}:00+01:00")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_loads_releases_withdraws_and_reads_stats_and_a_bad_file_stores_nothing() {
    let (base, _system) = server().await;
    let p = std::process::id();
    let (free, booked, other) = (format!("a-{p}"), format!("b-{p}"), format!("c-{p}"));

    // A German spreadsheet export: semicolons, a BOM, CRLF, columns in another order.
    let csv = file(
        "slots.csv",
        &format!(
            "\u{feff}status;id;office;service;start;minutes;persons\r\nfree;{free};bilk;id-card;{};15;2\r\nbooked;{booked};bilk;id-card;{};15;\r\nfree;{other};altstadt;passport;{};20;1\r\n",
            start(0),
            start(15),
            start(30)
        ),
    );
    let r = clerk(&base, KEY, &["slots", "load", csv.to_str().unwrap()]).await;
    assert!(r.ok, "{}{}", r.out, r.err);
    assert!(r.out.contains("3 slots loaded — 3 new"), "{}", r.out);

    let r = clerk(&base, KEY, &["slots", "load", csv.to_str().unwrap()]).await;
    assert!(
        r.out.contains("3 unchanged"),
        "loading again is harmless: {}",
        r.out
    );

    let r = clerk(&base, KEY, &["slots", "show", &free]).await;
    assert!(
        r.ok && r.out.contains("persons  2"),
        "a slot for two persons: {}{}",
        r.out,
        r.err
    );
    let r = clerk(&base, KEY, &["slots", "show", &booked]).await;
    assert!(
        r.ok && r.out.contains("status   booked"),
        "{}{}",
        r.out,
        r.err
    );

    // One bad file: every problem by line and field, and not even its good row is stored.
    let good = format!("good-{p}");
    let bad = file(
        "bad.csv",
        &format!(
            "id,office,service,start,minutes,status\n{good},bilk,id-card,{},15,free\nx-{p},mars,id-card,{},15,free\ny-{p},bilk,id-card,next monday,15,free\nz-{p},kaiserswerth,passport,{},15,free\n",
            start(45),
            start(45),
            start(45)
        ),
    );
    let r = clerk(&base, KEY, &["slots", "load", bad.to_str().unwrap()]).await;
    assert!(!r.ok);
    assert!(r.err.contains("nothing was stored"), "{}", r.err);
    assert!(
        r.err
            .contains(r#"line 4, start: "next monday" is not RFC 3339"#),
        "{}",
        r.err
    );
    let fixed = file(
        "fixed-syntax.csv",
        &format!(
            "id,office,service,start,minutes,status\n{good},bilk,id-card,{},15,free\nx-{p},mars,id-card,{},15,free\nz-{p},kaiserswerth,passport,{},15,free\n",
            start(45),
            start(45),
            start(45)
        ),
    );
    let r = clerk(&base, KEY, &["slots", "load", fixed.to_str().unwrap()]).await;
    assert!(!r.ok);
    assert!(
        r.err.contains(r#"line 3, office: unknown office "mars""#),
        "{}",
        r.err
    );
    assert!(
        r.err.contains(
            r#"line 4, service: Bürgerbüro Kaiserswerth (kaiserswerth) does not offer "passport""#
        ),
        "{}",
        r.err
    );
    let r = clerk(&base, KEY, &["slots", "show", &good]).await;
    assert!(!r.ok && r.err.contains("no slot with id"), "{}", r.err);

    // A cancellation in the booking system: the booked slot is released into the queue.
    let r = clerk(&base, KEY, &["slots", "release", &booked]).await;
    assert!(
        r.ok && r.out.contains(&format!("Released {booked}")),
        "{}{}",
        r.out,
        r.err
    );
    let r = clerk(&base, KEY, &["slots", "release", &booked]).await;
    assert!(r.ok, "releasing twice is harmless: {}", r.err);
    let r = clerk(&base, KEY, &["slots", "release", &format!("nope-{p}")]).await;
    assert!(!r.ok && r.err.contains("no slot with id"), "{}", r.err);
    let r = clerk(&base, KEY, &["slots", "show", "bad/id"]).await;
    assert!(!r.ok && r.err.contains("invalid slot id"), "{}", r.err);

    let r = clerk(&base, KEY, &["slots", "withdraw", &other]).await;
    assert!(r.ok, "{}{}", r.out, r.err);
    let r = clerk(&base, KEY, &["slots", "show", &other, "--json"]).await;
    assert!(!r.ok && r.err.contains("no slot"), "{}", r.err);

    let json = file(
        "more.json",
        &format!(
            r#"[{{"id": "j-{p}", "office": "benrath", "service": "passport", "start": "{}", "minutes": 10, "status": "free"}}]"#,
            start(50)
        ),
    );
    let r = clerk(
        &base,
        KEY,
        &["slots", "load", "--dry-run", json.to_str().unwrap()],
    )
    .await;
    assert!(r.ok && r.out.contains("dry run"), "{}{}", r.out, r.err);
    let r = clerk(&base, KEY, &["slots", "show", &format!("j-{p}")]).await;
    assert!(!r.ok, "a dry run stores nothing");
    let r = clerk(&base, KEY, &["slots", "load", json.to_str().unwrap()]).await;
    assert!(r.ok && r.out.contains("1 new"), "{}{}", r.out, r.err);

    let r = clerk(&base, KEY, &["stats"]).await;
    assert!(r.ok, "{}", r.err);
    assert!(
        r.out.contains("FIGURE") && r.out.contains("VALUE"),
        "{}",
        r.out
    );
    let r = clerk(&base, KEY, &["stats", "--json"]).await;
    assert!(
        serde_json::from_str::<serde_json::Value>(&r.out).is_ok(),
        "{}",
        r.out
    );

    let r = clerk(&base, "wrong-key", &["stats"]).await;
    assert!(
        !r.ok && r.err.contains("admin key was refused"),
        "{}",
        r.err
    );
    let r = clerk("http://127.0.0.1:9", KEY, &["stats"]).await;
    assert!(!r.ok && r.err.contains("cannot reach"), "{}", r.err);
}

/// `clerk audit verify`: an empty record verifies (exit 0); a record the server cannot read is a
/// finding by chain and position (exit 1); a bad period is refused with its field named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_verifies_the_allocation_record_and_a_finding_fails_the_command() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use shared::store::keys;
    let (base, system) = server().await;
    let run = clerk(&base, KEY, &["audit", "verify"]).await;
    assert!(run.ok, "{}{}", run.out, run.err);
    assert!(
        run.out.contains("every record verified and replayed"),
        "{}",
        run.out
    );
    let run = clerk(&base, KEY, &["audit", "verify", "--json"]).await;
    let report: serde_json::Value = serde_json::from_str(&run.out).unwrap();
    assert_eq!(
        (report["ok"].as_bool(), report["records"].as_u64()),
        (Some(true), Some(0))
    );

    let run = clerk(
        &base,
        KEY,
        &[
            "audit",
            "verify",
            "--from",
            "2026-01-10",
            "--to",
            "2026-01-01",
        ],
    )
    .await;
    assert!(!run.ok);
    assert!(
        run.err.contains("to: must not be before from"),
        "{}",
        run.err
    );
    let run = clerk(&base, KEY, &["audit", "verify", "--from", "next week"]).await;
    assert!(!run.ok);
    assert!(run.err.contains("--from must be a date"), "{}", run.err);

    // A record that is not one: found at its place.
    let today = system.deps.clock.now().date_naive();
    system
        .clients
        .dynamodb
        .put_item()
        .table_name(&system.infra.wishes_table)
        .item(keys::PK, AttributeValue::S(keys::allocation_pk(today)))
        .item(
            keys::SK,
            AttributeValue::S(keys::allocation_sk("bilk#id-card#mon#8", 1)),
        )
        .item("hash", AttributeValue::S("forged".into()))
        .send()
        .await
        .unwrap();
    let run = clerk(&base, KEY, &["audit", "verify"]).await;
    assert!(!run.ok, "a finding fails the command: {}", run.out);
    assert!(run.out.contains("1 problem(s)"), "{}", run.out);
    assert!(run.out.contains("bilk#id-card#mon#8"), "{}", run.out);
    assert!(run.out.contains("unreadable"), "{}", run.out);
}
