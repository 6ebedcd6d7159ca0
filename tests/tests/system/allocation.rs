//! The verifiable allocation record: offers made through the real flow append hash-chained
//! records to their line's chain in the offer's transaction; a record edited and another
//! deleted in the table are both found by the verification, each at its position.

use crate::helpers::{TestEnv, assert_matches_openapi, next_local};
use crate::staff::Console;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::store::keys;

const LINE: &str = "bilk#id-card#mon#8";

/// The key of record `seq` of [`LINE`] made today (UTC, by the system's clock).
fn record_key(env: &TestEnv, seq: u64) -> (AttributeValue, AttributeValue) {
    let today = env.system.deps.clock.now().date_naive();
    (
        AttributeValue::S(keys::allocation_pk(today)),
        AttributeValue::S(keys::allocation_sk(LINE, seq)),
    )
}

async fn record(env: &TestEnv, seq: u64) -> std::collections::HashMap<String, AttributeValue> {
    let (pk, sk) = record_key(env, seq);
    env.system
        .clients
        .dynamodb
        .get_item()
        .table_name(&env.system.infra.wishes_table)
        .key(keys::PK, pk)
        .key(keys::SK, sk)
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_else(|| panic!("record {seq} is stored"))
}

async fn verify(env: &TestEnv) -> Value {
    let path = "/admin/allocations/verify";
    let (status, report) = env.admin(reqwest::Method::GET, path, None).await;
    assert_eq!(status, 200, "{report}");
    assert_matches_openapi("GET", path, status, Some(&report));
    report
}

#[tokio::test]
async fn offers_are_chained_and_an_edited_and_a_deleted_record_are_found_at_their_positions() {
    let env = TestEnv::spawn().await;
    // Four wishes for Monday 8:00 at Bilk, in this order.
    let mut ids = Vec::new();
    for name in ["first", "second", "third", "fourth"] {
        let (_, id) = env
            .confirmed_wish_with_id(&env.email(name), json!({"mon": [8]}))
            .await;
        ids.push(id);
    }
    // Four slots in that hour, one after the other: each goes to the first wish without an
    // offer, passing over those that hold one.
    for minute in [0, 15, 30, 45] {
        let start = next_local(chrono::Weekday::Mon, 8, minute, 3);
        env.put_slots(
            &json!([{"id": format!("mon-8-{minute:02}"), "office": "bilk",
            "service": "id-card", "start": start, "minutes": 15, "status": "free"}]),
        )
        .await;
        env.settle().await;
    }
    for name in ["first", "second", "third", "fourth"] {
        let mails = env.mails_to(&env.email(name)).await;
        assert!(
            mails.iter().any(|m| m.subject.starts_with("Terminangebot")),
            "{name} is offered a slot"
        );
    }

    // The chain: four records, each passing over the wishes ahead that hold an offer.
    let report = verify(&env).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        (report["records"].as_u64(), report["lines"].as_u64()),
        (Some(4), Some(1)),
        "{report}"
    );
    let fourth = record(&env, 4).await;
    let skipped = fourth["skipped"].as_l().unwrap();
    assert_eq!(skipped.len(), 3, "{fourth:?}");
    for entry in skipped {
        assert_eq!(
            entry.as_m().unwrap()["reason"].as_s().unwrap(),
            "holds_offer"
        );
    }
    // Wishes appear by pseudonym only: no wish id is in any record.
    for seq in 1..=4 {
        let text = format!("{:?}", record(&env, seq).await);
        assert!(ids.iter().all(|id| !text.contains(id.as_str())), "{text}");
    }
    let (pk, _) = record_key(&env, 2);
    assert_eq!(
        fourth["prev"],
        record(&env, 3).await["hash"],
        "each record holds its predecessor's hash"
    );

    // Someone with write access to the table edits record 2 (whom the head passed over and
    // why) and deletes record 3.
    let (_, sk2) = record_key(&env, 2);
    let dynamodb = &env.system.clients.dynamodb;
    let table = &env.system.infra.wishes_table;
    dynamodb
        .update_item()
        .table_name(table)
        .key(keys::PK, pk.clone())
        .key(keys::SK, sk2)
        .update_expression("SET skipped[0].reason = :r")
        .expression_attribute_values(":r", AttributeValue::S("declined_slot".into()))
        .send()
        .await
        .unwrap();
    let (_, sk3) = record_key(&env, 3);
    dynamodb
        .delete_item()
        .table_name(table)
        .key(keys::PK, pk)
        .key(keys::SK, sk3)
        .send()
        .await
        .unwrap();

    let report = verify(&env).await;
    assert_eq!(report["ok"], false, "{report}");
    let found: Vec<(u64, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["line"], LINE, "{report}");
            (f["seq"].as_u64().unwrap(), f["problem"].as_str().unwrap())
        })
        .collect();
    assert_eq!(found, [(2, "edited"), (3, "missing")], "{report}");

    // The clerks' supervisor sees the same on the console; a clerk does not get the page.
    let mut supervisor = Console::new(&env);
    supervisor.sign_in_as("supervisor").await;
    let page = supervisor.get("/staff/allocations?lang=en&from=&to=").await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(
        page.html.contains("2 finding(s) in 3 records of 1 chains"),
        "{}",
        page.html
    );
    assert!(page.html.contains(LINE), "{}", page.html);
    let bad = supervisor
        .get("/staff/allocations?lang=en&from=2026-13-01")
        .await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert!(bad.html.contains("href=\"#from\""), "{}", bad.html);
    let mut clerk = Console::new(&env);
    clerk.sign_in_as("clerk").await;
    let refused = clerk.get("/staff/allocations").await;
    assert_eq!(refused.status, 403, "{}", refused.html);
}

#[tokio::test]
async fn a_bad_period_is_refused_with_its_field_named() {
    let env = TestEnv::spawn().await;
    for (query, field) in [
        ("from=yesterday", "from"),
        ("from=2026-01-10&to=2026-01-01", "to"),
        ("from=2026-01-01&to=2026-03-01", "to"),
    ] {
        let path = format!("/admin/allocations/verify?{query}");
        let (status, body) = env.admin(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert!(body["fields"][field].is_string(), "{query}: {body}");
        assert_matches_openapi("GET", &path, status, Some(&body));
    }
    // Nothing offered yet: an empty record verifies.
    let report = verify(&env).await;
    assert_eq!(
        (report["ok"].as_bool(), report["records"].as_u64()),
        (Some(true), Some(0))
    );
}

/// Offers of one line made at once append to its chain one after the other: each that finds the
/// chain moved on reads its head again, and the chain ends with one record per offer, in order,
/// each replaying against the rule.
#[tokio::test]
async fn concurrent_offers_in_one_line_append_to_its_chain_one_after_the_other() {
    let env = TestEnv::spawn().await;
    for n in 0..6 {
        env.confirmed_wish(&env.email(&format!("w{n}")), json!({"mon": [8]}))
            .await;
    }
    let slots: Vec<Value> = (0..6)
        .map(|n| {
            json!({"id": format!("race-{n}"), "office": "bilk", "service": "id-card",
                "start": next_local(chrono::Weekday::Mon, 8, 5 * n, 3), "minutes": 5, "status": "free"})
        })
        .collect();
    env.put_slots(&json!(slots)).await;
    // Six matchings at once, before the stream would start any.
    let mut set = tokio::task::JoinSet::new();
    for n in 0..6 {
        let deps = env.system.deps.clone();
        set.spawn(async move {
            let id = shared::domain::SlotId::parse(&format!("race-{n}")).unwrap();
            let slot = deps.store.get_slot(&id).await.unwrap().unwrap();
            // A matching that lost every race leaves its slot free for the next (as before).
            shared::app::match_slot(&deps, &slot).await.ok().flatten()
        });
    }
    let mut offered = set.join_all().await.into_iter().flatten().count();
    env.settle().await;
    let swept = env.system.rescan().await.unwrap();
    offered += usize::try_from(swept["offers_made"].as_u64().unwrap_or(0)).unwrap();
    assert_eq!(offered, 6, "every slot offered: {swept}");
    let report = verify(&env).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["records"], 6, "one record per offer: {report}");
    // The chain's records are numbered 1 to 6 and each passes over the offers before it.
    for seq in 1..=6u64 {
        let r = record(&env, seq).await;
        assert_eq!(r["skipped"].as_l().unwrap().len() as u64, seq - 1, "{r:?}");
    }
}
