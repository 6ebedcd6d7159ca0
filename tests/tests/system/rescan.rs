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
