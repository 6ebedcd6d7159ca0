//! The rescan as the safety net: it pages through every free slot, and an offer whose wish is
//! gone still expires and lets its slot move on.

use crate::helpers::{TestEnv, next_local};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::store::keys;

/// More free slots than the rescan reads in one page, a few pages of them: the one slot a wish
/// can take comes last, and the rescan still finds it.
#[tokio::test]
async fn the_rescan_reaches_a_free_slot_behind_hundreds_of_others() {
    let env = TestEnv::spawn().await;
    let early = next_local(chrono::Weekday::Wed, 10, 0, 3);
    let mut slots: Vec<Value> = (0..240)
        .map(|i| {
            json!({"id": format!("early-{i:03}"), "office": "bilk", "service": "id-card",
                "start": early, "minutes": 15, "status": "free"})
        })
        .collect();
    let late = next_local(chrono::Weekday::Thu, 11, 0, 14);
    slots.push(
        json!({"id": "the-one", "office": "bilk", "service": "id-card",
        "start": late, "minutes": 15, "status": "free"}),
    );
    let outcomes = env.put_slots(&json!(slots)).await;
    assert!(outcomes.iter().all(|o| o == "created"));
    env.settle().await;

    // A wish for Thursday 11:00 comes after the slots were released: only the rescan can offer.
    let email = env.email("patient");
    env.confirmed_wish(&email, json!({"thu": [11]})).await;
    let report = env.system.rescan().await.unwrap();
    assert_eq!(report["offers_made"], 1, "{report}");
    assert!(report["slots_checked"].as_u64().unwrap() >= 241, "{report}");
    assert_eq!(report["failures"], 0);
    let (status, slot) = env
        .admin(reqwest::Method::GET, "/admin/slots/the-one", None)
        .await;
    assert_eq!((status, slot["status"].as_str()), (200, Some("offered")));
}

/// The wish behind an open offer is gone (its data expired and `DynamoDB` deleted it): at the
/// deadline the offer expires all the same, and the slot is free for the next wish.
#[tokio::test]
async fn an_overdue_offer_whose_wish_is_gone_expires_and_frees_its_slot() {
    let env = TestEnv::spawn().await;
    let email = env.email("gone");
    let (_, wish_id) = env
        .confirmed_wish_with_id(&email, json!({"fri": [12]}))
        .await;
    let start = next_local(chrono::Weekday::Fri, 12, 0, 5);
    env.put_slots(
        &json!([{"id": "orphaned", "office": "bilk", "service": "id-card",
        "start": start, "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    let mails = env.mails_to(&email).await;
    assert!(
        mails.iter().any(|m| m.subject.starts_with("Terminangebot")),
        "offered"
    );
    // The wish's item disappears, as a TTL deletion would remove it.
    env.system
        .clients
        .dynamodb
        .delete_item()
        .table_name(&env.system.infra.wishes_table)
        .key(
            keys::PK,
            AttributeValue::S(format!("{}{wish_id}", keys::WISH_PREFIX)),
        )
        .key(keys::SK, AttributeValue::S(keys::WISH_SK.into()))
        .send()
        .await
        .unwrap();

    env.system.deps.clock.advance(3 * 24 * 60);
    let report = env.system.rescan().await.unwrap();
    assert_eq!(report["offers_expired"], 1, "{report}");
    assert_eq!(report["failures"], 0);
    let (status, slot) = env
        .admin(reqwest::Method::GET, "/admin/slots/orphaned", None)
        .await;
    assert_eq!(
        (status, slot["status"].as_str()),
        (200, Some("free")),
        "{slot}"
    );
    // Nothing is left in the overdue list: the next rescan has nothing to expire.
    assert_eq!(env.system.rescan().await.unwrap()["offers_expired"], 0);
}

/// An office opens an hour it was closed: the wishes in line that chose it move into the new
/// line at their own place, so the one confirmed before the change still comes first.
#[tokio::test]
async fn a_wish_confirmed_before_an_hour_opened_comes_first_in_it() {
    wish_confirmed_before_an_hour_opened(false).await;
}

/// The same for a wish enqueued before the lines of a wish were recorded on it (an older
/// release): the catalogue change moves it all the same, and records its lines.
#[tokio::test]
async fn a_wish_enqueued_before_lines_were_recorded_moves_with_the_catalogue_too() {
    wish_confirmed_before_an_hour_opened(true).await;
}

async fn wish_confirmed_before_an_hour_opened(without_recorded_lines: bool) {
    let env = TestEnv::spawn().await;
    let wish = |email: String| {
        json!({"email": email, "service": "id-card", "offices": ["bilk", "altstadt"],
            "windows": {"sat": [9]}})
    };
    let confirm = |email: String| {
        let env = &env;
        async move {
            let (status, _) = env.post_json("/api/wishes", &wish(email.clone())).await;
            assert_eq!(status, 202);
            let link = crate::helpers::page_link(&env.mails_to(&email).await[0], "/w/");
            let (status, w) = env.click(&format!("{link}/confirm")).await;
            assert_eq!((status, w["status"].as_str()), (200, Some("waiting")));
        }
    };
    // Saturdays only Altstadt is open: the first wish stands in Altstadt's line alone.
    let first = env.email("first");
    confirm(first.clone()).await;
    if without_recorded_lines {
        forget_recorded_lines(&env).await;
    }

    // Bilk opens on Saturday mornings too.
    let mut catalog: Value = serde_json::from_str(
        &std::fs::read_to_string(local_runner::runner::repo_root().join("data/catalog.json"))
            .unwrap(),
    )
    .unwrap();
    let bilk = catalog["offices"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|o| o["id"] == "bilk")
        .unwrap();
    bilk["opening_hours"]["sat"] = json!([[9, 12]]);
    let (status, answer) = env
        .admin(reqwest::Method::PUT, "/admin/catalog", Some(catalog))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["wishes_moved"], 1, "{answer}");

    // A second wish after the change, then a free Saturday slot at Bilk.
    let second = env.email("second");
    confirm(second.clone()).await;
    let start = next_local(chrono::Weekday::Sat, 9, 0, 3);
    env.put_slots(
        &json!([{"id": "bilk-sat", "office": "bilk", "service": "id-card",
        "start": start, "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    let offered = |mails: Vec<local_runner::devmail::DevMail>| {
        mails.iter().any(|m| m.subject.starts_with("Terminangebot"))
    };
    assert!(
        offered(env.mails_to(&first).await),
        "the earlier wish gets the slot"
    );
    assert!(!offered(env.mails_to(&second).await));
    // The moves kept the lines' counts (the wish page's places) true to their entries.
    crate::helpers::assert_line_counts_match_entries(&env).await;
}

/// Removes the recorded lines from every wish of this test, as an older release stored them.
async fn forget_recorded_lines(env: &TestEnv) {
    let db = &env.system.clients.dynamodb;
    let table = &env.system.infra.wishes_table;
    let wishes = db
        .scan()
        .table_name(table)
        .filter_expression("attribute_exists(queued)")
        .send()
        .await
        .unwrap();
    assert_eq!(wishes.items().len(), 1);
    for item in wishes.items() {
        db.update_item()
            .table_name(table)
            .key("pk", item["pk"].clone())
            .key("sk", item["sk"].clone())
            .update_expression("REMOVE queued")
            .send()
            .await
            .unwrap();
    }
    let left = db
        .scan()
        .table_name(table)
        .filter_expression("attribute_exists(queued) AND pk = :pk")
        .expression_attribute_values(":pk", wishes.items()[0]["pk"].clone())
        .send()
        .await
        .unwrap();
    assert!(left.items().is_empty());
}
