//! Many wishes and slots, every delivery duplicated and concurrent: stream records, SlotReleased
//! events, rescans and the citizens' clicks. Afterwards the invariants of DESIGN.md hold and the
//! mails sent are exactly the mails owed.

use crate::helpers::{TestEnv, next_local, page_link};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Weekday;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use tokio::task::JoinSet;

const WISHES: usize = 24;
const SLOTS: usize = 12;
const DUPLICATES: usize = 10;

async fn scan(env: &TestEnv, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = env
            .system
            .clients
            .dynamodb
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

fn text(item: &HashMap<String, AttributeValue>, key: &str) -> String {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn duplicated_concurrent_deliveries_keep_every_invariant_and_owe_no_mail() {
    let env = TestEnv::spawn().await;
    let mut rng = StdRng::seed_from_u64(7);
    let days = ["mon", "tue", "wed", "thu", "fri"];
    let mut addresses = Vec::new();
    for i in 0..WISHES {
        let email = env.email(&format!("w{i}"));
        let mut windows = serde_json::Map::new();
        for d in days {
            if rng.random_bool(0.6) {
                windows.insert(
                    d.into(),
                    json!(
                        [8, 9, 10]
                            .into_iter()
                            .filter(|_| rng.random_bool(0.7))
                            .chain([9])
                            .collect::<Vec<_>>()
                    ),
                );
            }
        }
        windows.entry("mon").or_insert(json!([9]));
        env.confirmed_wish(&email, serde_json::Value::Object(windows))
            .await;
        addresses.push(email);
    }

    // Slots over the next two weeks, all released at once.
    let weekdays = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];
    let slots: Vec<serde_json::Value> = (0..SLOTS)
        .map(|i| {
            let start = next_local(weekdays[i % 5], 8 + u32::try_from(i % 3).unwrap(), 15, 3 + 7 * i64::try_from(i / 5 % 2).unwrap());
            json!({"id": format!("st-{i}"), "office": "bilk", "service": "id-card", "start": start, "minutes": 15, "status": "free"})
        })
        .collect();
    assert_eq!(env.put_slots(&json!(slots)).await, vec!["created"; SLOTS]);

    // Every SlotReleased delivered DUPLICATES times at once, while the stream is pumped and the
    // schedule rescans concurrently.
    let mut deliveries = 0;
    let mut set = JoinSet::new();
    for slot in &slots {
        let event = json!({"version": "0", "id": "dup", "detail-type": "SlotReleased", "source": "terminagent",
            "time": "2024-01-01T00:00:00Z", "region": "eu-central-1", "resources": [], "detail": {"slot": slot}});
        for _ in 0..DUPLICATES {
            let deps = env.system.deps.clone();
            let event = event.clone();
            deliveries += 1;
            set.spawn(async move {
                shared::triggers::handle_match_event(&deps, &event)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
        }
    }
    for _ in 0..3 {
        let system = env.system.clone();
        deliveries += 1;
        set.spawn(async move { system.rescan().await.map(|_| ()).map_err(|e| e.to_string()) });
    }
    let results = set.join_all().await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    env.settle().await;

    // Two rounds of answers: each open offer gets a burst of identical or conflicting clicks.
    for _round in 0..2 {
        let mut urls = Vec::new();
        for email in &addresses {
            for mail in env
                .mails_to(email)
                .await
                .iter()
                .filter(|m| m.subject.starts_with("Terminangebot"))
            {
                let offer = page_link(mail, "/o/");
                let choice = ["accept", "decline", "decline", "cancel"][rng.random_range(0..4)];
                for _ in 0..3 {
                    urls.push(format!("{offer}/{choice}"));
                }
                if rng.random_bool(0.3) {
                    urls.push(format!(
                        "{offer}/{}",
                        ["accept", "decline"][rng.random_range(0..2)]
                    ));
                }
            }
        }
        let mut set = JoinSet::new();
        for url in urls {
            let http = env.http.clone();
            deliveries += 1;
            set.spawn(async move {
                http.post(url)
                    .header("accept", "application/json")
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            });
        }
        let statuses = set.join_all().await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        env.settle().await;
        env.system.rescan().await.unwrap();
        env.settle().await;
    }
    println!("{deliveries} concurrent deliveries (events, rescans, clicks)");

    // ---- invariants, read straight from the tables ----
    let slot_items = scan(&env, &env.system.infra.slots_table).await;
    let wish_items = scan(&env, &env.system.infra.wishes_table).await;
    let offers: Vec<_> = wish_items
        .iter()
        .filter(|i| text(i, "sk") == "OFFER")
        .collect();
    let mut open_by_slot: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut accepted_by_slot: BTreeMap<String, usize> = BTreeMap::new();
    let mut open_by_wish: BTreeMap<String, usize> = BTreeMap::new();
    for o in &offers {
        match text(o, "status").as_str() {
            "open" => {
                open_by_slot
                    .entry(text(o, "slot"))
                    .or_default()
                    .push(text(o, "id"));
                *open_by_wish.entry(text(o, "wish")).or_default() += 1;
            }
            "accepted" => *accepted_by_slot.entry(text(o, "slot")).or_default() += 1,
            _ => {}
        }
    }
    for slot in &slot_items {
        let id = text(slot, "id");
        let open = open_by_slot.get(&id).cloned().unwrap_or_default();
        let accepted = accepted_by_slot.get(&id).copied().unwrap_or(0);
        assert!(open.len() <= 1, "slot {id} has {} open offers", open.len());
        assert!(accepted <= 1, "slot {id} booked {accepted} times");
        match text(slot, "status").as_str() {
            "offered" => assert_eq!(open, vec![text(slot, "offer")], "slot {id}"),
            "booked" => assert_eq!((open.len(), accepted), (0, 1), "slot {id}"),
            "free" => assert_eq!((open.len(), accepted), (0, 0), "slot {id}"),
            other => panic!("slot {id} in state {other}"),
        }
    }
    for wish in wish_items.iter().filter(|i| text(i, "sk") == "WISH") {
        let id = text(wish, "id");
        let open = open_by_wish.get(&id).copied().unwrap_or(0);
        assert!(open <= 1, "wish {id} holds {open} open offers");
        assert_eq!(
            text(wish, "status") == "offered",
            open == 1,
            "wish {id} is {} with {open} open offers",
            text(wish, "status")
        );
    }
    // Mails: every owed mail sent, none twice.
    let owed: Vec<_> = wish_items
        .iter()
        .filter(|i| text(i, "sk") == "MAIL")
        .collect();
    assert!(
        owed.iter().all(|m| text(m, "status") == "sent"),
        "mails still owed"
    );
    let mut sent = 0;
    for email in &addresses {
        let to_this = env.mails_to(email).await.len();
        let owed_here = owed.iter().filter(|m| text(m, "to") == *email).count();
        assert_eq!(to_this, owed_here, "mails to {email}");
        sent += to_this;
    }
    println!(
        "{} offers, {} slots booked, {sent} mails sent = owed",
        offers.len(),
        accepted_by_slot.len()
    );
    assert!(deliveries >= 100);
}
