//! The events feed (`GET /admin/events`) for booking systems that can only poll: every event in
//! commit order, none missed and none twice by a reader that polls with the cursor it was given,
//! also while many writers commit at once.

use crate::helpers::{TestEnv, next_local};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const SLOTS: usize = 40;
const WRITERS: usize = 4;

#[tokio::test]
async fn a_reader_polling_with_its_cursor_sees_every_event_once_while_writers_commit_at_once() {
    let env = TestEnv::spawn().await;
    // Free slots nobody waits for: withdrawing one commits exactly one SlotWithdrawn.
    let slots: Vec<Value> = (0..SLOTS)
        .map(|i| {
            json!({"id": format!("feed-{i}"), "office": "bilk", "service": "id-card",
                "start": next_local(chrono::Weekday::Wed, 8, 30, 3),
                "minutes": 15, "status": "free"})
        })
        .collect();
    let outcomes = env.put_slots(&json!(slots)).await;
    assert!(outcomes.iter().all(|o| o == "created"));
    env.settle().await;

    // The reader polls all along, a few events at a time, with a short settle time, from
    // after what the setup caused (the new slots were said to be unclaimed): the clock, which
    // the reader shares with every writer, moves past the settle time instead of waiting it out.
    let mut reader_deps = env.system.deps.clone();
    reader_deps.config.feed_settle = chrono::Duration::seconds(1);
    let past_settle = reader_deps.config.feed_settle + chrono::Duration::milliseconds(100);
    env.system.deps.clock.advance_by(past_settle);
    let mut start = None;
    loop {
        let page = shared::app::events_feed(&reader_deps, start.as_deref(), None)
            .await
            .unwrap();
        assert!(page.events.iter().all(|e| e.name == "SlotUnclaimed"));
        if page.events.is_empty() {
            break;
        }
        start = page.next;
    }
    let reader = tokio::spawn(async move {
        let mut seen: Vec<(String, String, String)> = Vec::new();
        let mut cursor: Option<String> = start;
        let started = std::time::Instant::now();
        while seen.len() < SLOTS && started.elapsed() < Duration::from_mins(1) {
            let page = shared::app::events_feed(&reader_deps, cursor.as_deref(), Some(7))
                .await
                .unwrap();
            for e in &page.events {
                crate::helpers::assert_matches_schema(&e.name, &e.detail);
                seen.push((
                    e.cursor.clone(),
                    e.name.clone(),
                    e.detail["slot"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            if page.events.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            cursor = page.next;
        }
        (seen, cursor)
    });

    // The writers: four at once, each withdrawing its share of the slots. While they write,
    // the reader waits out the settle time in real time (that is what it is for); once all of
    // them have committed, nothing can commit behind the reader any more, and the clock moves
    // past the settle time of the last events.
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let deps = env.system.deps.clone();
        writers.spawn(async move {
            for i in (w..SLOTS).step_by(WRITERS) {
                let id = shared::domain::SlotId::parse(&format!("feed-{i}")).unwrap();
                let done = shared::app::withdraw_slot(&deps, &id).await.unwrap();
                assert!(matches!(done, shared::app::Withdrawal::Removed));
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    env.system.deps.clock.advance_by(past_settle);

    let (seen, cursor) = reader.await.unwrap();
    let cursors: Vec<&String> = seen.iter().map(|(c, ..)| c).collect();
    assert!(
        cursors.windows(2).all(|w| w[0] < w[1]),
        "in commit order, none twice"
    );
    assert!(seen.iter().all(|(_, name, _)| name == "SlotWithdrawn"));
    let slots_seen: BTreeSet<&str> = seen.iter().map(|(.., s)| s.as_str()).collect();
    assert_eq!(seen.len(), SLOTS, "every event, once: {slots_seen:?}");
    assert_eq!(slots_seen.len(), SLOTS);

    // Polling on with the last cursor returns nothing again, and `next` stays where it was —
    // also once delivery has run and the settle time has passed.
    env.settle().await;
    env.system.deps.clock.advance_by(past_settle);
    let mut reader_deps = env.system.deps.clone();
    reader_deps.config.feed_settle = chrono::Duration::seconds(1);
    let again = shared::app::events_feed(&reader_deps, cursor.as_deref(), None)
        .await
        .unwrap();
    assert!(again.events.is_empty());
    assert_eq!(again.next, cursor);
}

#[tokio::test]
async fn the_feed_route_answers_the_contract_and_names_bad_parameters() {
    let env = TestEnv::spawn().await;
    let (status, body) = env
        .admin(reqwest::Method::GET, "/admin/events?limit=0", None)
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["fields"]["limit"]
            .as_str()
            .unwrap()
            .contains("1 to 500")
    );
    let (status, body) = env
        .admin(reqwest::Method::GET, "/admin/events?after=yesterday", None)
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["fields"]["after"].is_string());

    // A withdrawn slot's event, once settled (the default 30 s: the clock moves on).
    let start = next_local(chrono::Weekday::Thu, 9, 0, 3);
    env.put_slots(
        &json!([{"id": "feed-route", "office": "bilk", "service": "id-card",
        "start": start, "minutes": 15, "status": "free"}]),
    )
    .await;
    let (status, _) = env
        .admin(reqwest::Method::DELETE, "/admin/slots/feed-route", None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = env.admin(reqwest::Method::GET, "/admin/events", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["events"], json!([]), "not yet settled");
    assert_eq!(body["next"], Value::Null);
    env.system.deps.clock.advance(1);
    let (status, body) = env.admin(reqwest::Method::GET, "/admin/events", None).await;
    assert_eq!(status, 200);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!(events[0]["type"], "SlotWithdrawn");
    assert_eq!(events[0]["detail"], json!({"slot": "feed-route"}));
    assert_eq!(body["next"], events[0]["cursor"]);
    assert!(events[0]["time"].as_str().unwrap().ends_with('Z'));
    let next = body["next"].as_str().unwrap();
    let (_, body) = env
        .admin(
            reqwest::Method::GET,
            &format!("/admin/events?after={}", urlencode(next)),
            None,
        )
        .await;
    assert_eq!(body["events"], json!([]));
    assert_eq!(body["next"], next);
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A free slot no waiting wish can take is `SlotUnclaimed` once — the rescans that look at it
/// again say nothing more — and once more after it changed (offered, declined) and again found
/// no taker.
#[tokio::test]
async fn a_free_slot_nobody_can_take_is_unclaimed_once_until_it_changes() {
    let env = TestEnv::spawn().await;
    let mut reader = env.system.deps.clone();
    reader.config.feed_settle = chrono::Duration::zero();
    let unclaimed = |reader: shared::Deps| async move {
        shared::app::events_feed(&reader, None, Some(500))
            .await
            .unwrap()
            .events
            .into_iter()
            .inspect(|e| crate::helpers::assert_matches_schema(&e.name, &e.detail))
            .filter(|e| e.name == "SlotUnclaimed")
            .map(|e| e.detail)
            .collect::<Vec<_>>()
    };
    let start = next_local(chrono::Weekday::Thu, 9, 0, 3);
    env.put_slots(
        &json!([{"id": "lonely", "office": "bilk", "service": "id-card",
        "start": start, "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    env.system.rescan().await.unwrap();
    env.system.rescan().await.unwrap();
    env.settle().await;
    let seen = unclaimed(reader.clone()).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["slot"]["id"], "lonely");
    assert_eq!(seen[0]["slot"]["status"], "free");
    assert_eq!(seen[0]["slot"]["minutes"], 15);

    // A wish for that hour: the rescan offers it the slot; the citizen declines; nobody else
    // waits, so the slot is unclaimed again — once.
    let email = env.email("lonely");
    env.confirmed_wish(&email, json!({"thu": [9]})).await;
    env.system.rescan().await.unwrap();
    env.settle().await;
    let mails = env.mails_to(&email).await;
    let offer = mails
        .iter()
        .find(|m| m.subject.starts_with("Terminangebot"))
        .expect("the slot was offered to the new wish");
    let link = crate::helpers::page_link(offer, "/o/");
    let (status, answered) = env.click(&format!("{link}/decline")).await;
    assert_eq!(
        (status, answered["status"].as_str()),
        (200, Some("declined"))
    );
    env.settle().await;
    env.system.rescan().await.unwrap();
    env.settle().await;
    let seen = unclaimed(reader).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
}

/// Every schema in `docs/events/` is a valid JSON Schema and refuses what an event must not
/// carry (an address, a missing id): the schemas are not decoration.
#[test]
fn the_event_schemas_refuse_an_address_and_a_missing_id() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/events");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".schema.json") {
            continue;
        }
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        assert!(
            !validator.is_valid(&json!({})),
            "{}: empty detail",
            path.display()
        );
        assert!(
            !validator.is_valid(&json!({"email": "anna@example.de"})),
            "{}: an address",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 13, "a schema per event type");
    crate::helpers::assert_matches_schema(
        "OfferAccepted",
        &json!({"offer": "0190f5c2", "slot": "bilk-42", "slots": ["bilk-42"], "wish": "0190f5b1"}),
    );
}
