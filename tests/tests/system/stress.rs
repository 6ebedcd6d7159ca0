//! Many wishes and slots, every delivery duplicated and concurrent: stream records, SlotReleased
//! events, rescans and the citizens' clicks — answers to offers, then booked appointments given
//! back or kept while looking for an earlier one, and the earlier ones accepted (swaps); some
//! wishes are families, offered runs of back-to-back slots. Afterwards the invariants of
//! DESIGN.md hold and the mails sent are exactly the mails owed.

use crate::helpers::{Observer, TestEnv, next_local, page_link};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Weekday;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use tokio::task::JoinSet;

const WISHES: usize = 24;
const SLOTS: usize = 12;
/// Slots right after the first week's (8:30, back to back with 8:15): runs for families.
const RUN_SLOTS: usize = 5;
const DUPLICATES: usize = 10;

// The tables' layout, from the store's own key module; the attribute names below are the fields
// of the store's records (`WishRecord`, `OfferRecord`, `SlotRecord`, `MailRecord`).
use shared::store::keys::{
    MAIL_BODY, MAIL_PREFIX as MAIL_PK_PREFIX, MAIL_SENT, OFFER_SK, PK, SK, STATUS, WISH_SK,
};
const ID: &str = "id";
/// A wish's address.
const EMAIL: &str = "email";
/// A mail's address, kept only until the mail is sent.
const TO: &str = "to";
/// An offer's slot and wish; a slot's open offer.
const SLOT: &str = "slot";
const WISH: &str = "wish";
const OFFER: &str = "offer";

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

/// Every slot an offer item holds: its slot, and a family's run after it (`also`).
fn slots_of(offer: &HashMap<String, AttributeValue>) -> Vec<String> {
    let also = offer
        .get("also")
        .and_then(|v| v.as_l().ok())
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_m().ok().map(|m| text(m, ID)));
    std::iter::once(text(offer, SLOT)).chain(also).collect()
}

fn text(item: &HashMap<String, AttributeValue>, key: &str) -> String {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// POSTs every URL at once, as JSON; each answers 200.
async fn click_all(env: &TestEnv, urls: Vec<String>) {
    let mut set = JoinSet::new();
    for url in urls {
        let http = env.http.clone();
        set.spawn(async move {
            let r = http
                .post(&url)
                .header("accept", "application/json")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            (
                status,
                url.rsplit('/').next().unwrap_or_default().to_owned(),
                body,
            )
        });
    }
    let answers = set.join_all().await;
    let refused: Vec<_> = answers.iter().filter(|(s, _, _)| *s != 200).collect();
    assert!(refused.is_empty(), "{refused:?}");
}

#[tokio::test]
async fn duplicated_concurrent_deliveries_keep_every_invariant_and_owe_no_mail() {
    let env = TestEnv::spawn().await;
    let observer = Observer::attach(&env).await;
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
        let windows = serde_json::Value::Object(windows);
        // Every sixth a family of two, the first of them first in line.
        if i % 6 == 0 {
            env.confirmed_family(&email, windows, 2).await;
        } else {
            env.confirmed_wish(&email, windows).await;
        }
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
    let mut slots: Vec<serde_json::Value> = (0..SLOTS)
        .map(|i| {
            let start = next_local(weekdays[i % 5], 8 + u32::try_from(i % 3).unwrap(), 15, 3 + 7 * i64::try_from(i / 5 % 2).unwrap());
            json!({"id": format!("st-{i}"), "office": "bilk", "service": "id-card", "start": start, "minutes": 15, "status": "free"})
        })
        .collect();
    slots.extend((0..RUN_SLOTS).map(|i| {
        let start = next_local(weekdays[i % 5], 8 + u32::try_from(i % 3).unwrap(), 30, 3);
        json!({"id": format!("st-next-{i}"), "office": "bilk", "service": "id-card", "start": start, "minutes": 15, "status": "free"})
    }));
    assert_eq!(
        env.put_slots(&json!(slots)).await,
        vec!["created"; SLOTS + RUN_SLOTS]
    );

    // Every SlotReleased delivered DUPLICATES times at once, while the stream is pumped and the
    // schedule rescans concurrently.
    let mut set = JoinSet::new();
    for slot in &slots {
        let event = json!({"version": "0", "id": "dup", "detail-type": "SlotReleased", "source": "terminagent",
            "time": "2024-01-01T00:00:00Z", "region": "eu-central-1", "resources": [], "detail": {"slot": slot}});
        for _ in 0..DUPLICATES {
            let deps = env.system.deps.clone();
            let event = event.clone();
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
        click_all(&env, urls).await;
        env.settle().await;
        env.system.rescan().await.unwrap();
        env.settle().await;
    }

    // A third round: each booked appointment is given back or kept while looking for an
    // earlier one (bursts of identical clicks), earlier slots come free, and every offer that
    // follows is accepted by a burst — swaps among them.
    let mut urls = Vec::new();
    for email in &addresses {
        for mail in env
            .mails_to(email)
            .await
            .iter()
            .filter(|m| m.subject.starts_with("Termin bestätigt"))
        {
            let page = page_link(mail, "/a/");
            let action = if rng.random_bool(0.35) {
                "return"
            } else {
                "earlier"
            };
            for _ in 0..3 {
                urls.push(format!("{page}/{action}"));
            }
        }
    }
    assert!(!urls.is_empty(), "the answers booked appointments");
    click_all(&env, urls).await;
    env.settle().await;
    let offers_before: usize = {
        let mut n = 0;
        for email in &addresses {
            n += env
                .mails_to(email)
                .await
                .iter()
                .filter(|m| m.subject.starts_with("Terminangebot"))
                .count();
        }
        n
    };
    let earlier: Vec<serde_json::Value> = (0..SLOTS)
        .map(|i| {
            let start = next_local(weekdays[i % 5], 8 + u32::try_from(i % 3).unwrap(), 45, 1);
            json!({"id": format!("st-early-{i}"), "office": "bilk", "service": "id-card", "start": start, "minutes": 15, "status": "free"})
        })
        .collect();
    assert_eq!(env.put_slots(&json!(earlier)).await, vec!["created"; SLOTS]);
    env.settle().await;
    let mut urls = Vec::new();
    let mut offers_now = 0;
    for email in &addresses {
        let mails = env.mails_to(email).await;
        let offered: Vec<_> = mails
            .iter()
            .filter(|m| m.subject.starts_with("Terminangebot"))
            .collect();
        offers_now += offered.len();
        for mail in offered {
            for _ in 0..3 {
                urls.push(format!("{}/accept", page_link(mail, "/o/")));
            }
        }
    }
    assert!(offers_now > offers_before, "earlier slots were offered");
    click_all(&env, urls).await;
    env.settle().await;
    env.system.rescan().await.unwrap();
    env.settle().await;

    // ---- invariants, read straight from the tables ----
    let slot_items = scan(&env, &env.system.infra.slots_table).await;
    let wish_items = scan(&env, &env.system.infra.wishes_table).await;
    let offers: Vec<_> = wish_items
        .iter()
        .filter(|i| text(i, SK) == OFFER_SK)
        .collect();
    let wishes: Vec<_> = wish_items
        .iter()
        .filter(|i| text(i, SK) == WISH_SK)
        .collect();
    assert_eq!(wishes.len(), WISHES);

    // Invariant 8: no queue entry of an ended wish; a time to live on every item that holds an
    // address, a token or a wish.
    let ended: Vec<String> = wishes
        .iter()
        .filter(|w| !["waiting", "offered", "paused"].contains(&text(w, STATUS).as_str()))
        .map(|w| text(w, ID))
        .collect();
    let stale_entries: Vec<String> = wish_items
        .iter()
        .filter(|i| text(i, PK).starts_with("Q#") && ended.contains(&text(i, WISH)))
        .map(|i| format!("{} {}", text(i, PK), text(i, WISH)))
        .collect();
    assert!(
        stale_entries.is_empty(),
        "queue entries of ended wishes: {stale_entries:?}"
    );
    let without_ttl: Vec<String> = wish_items
        .iter()
        .filter(|i| {
            let personal = i.contains_key(EMAIL)
                || i.contains_key(TO)
                || text(i, PK).starts_with("TOKEN#")
                || text(i, PK).starts_with("WISH#")
                // A line's partition holds its entries and, with no personal data, the head
                // of its allocation chain and its hour's families' count (before every entry).
                || (text(i, PK).starts_with("Q#")
                    && text(i, SK).as_str() >= shared::store::keys::ENTRIES_FROM);
            personal && !i.contains_key("expires_at")
        })
        .map(|i| format!("{}/{}", text(i, PK), text(i, SK)))
        .collect();
    assert!(
        without_ttl.is_empty(),
        "items with personal data and no TTL: {without_ttl:?}"
    );
    let mut open_by_slot: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut accepted_by_slot: BTreeMap<String, usize> = BTreeMap::new();
    let mut open_by_wish: BTreeMap<String, usize> = BTreeMap::new();
    for o in &offers {
        match text(o, STATUS).as_str() {
            "open" => {
                for slot in slots_of(o) {
                    open_by_slot.entry(slot).or_default().push(text(o, ID));
                }
                *open_by_wish.entry(text(o, WISH)).or_default() += 1;
            }
            "accepted" => {
                for slot in slots_of(o) {
                    *accepted_by_slot.entry(slot).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    for slot in &slot_items {
        let id = text(slot, ID);
        let open = open_by_slot.get(&id).cloned().unwrap_or_default();
        let accepted = accepted_by_slot.get(&id).copied().unwrap_or(0);
        assert!(open.len() <= 1, "slot {id} has {} open offers", open.len());
        assert!(accepted <= 1, "slot {id} booked {accepted} times");
        match text(slot, STATUS).as_str() {
            "offered" => assert_eq!(open, vec![text(slot, OFFER)], "slot {id}"),
            "booked" => assert_eq!((open.len(), accepted), (0, 1), "slot {id}"),
            "free" => assert_eq!((open.len(), accepted), (0, 0), "slot {id}"),
            other => panic!("slot {id} in state {other}"),
        }
    }
    for wish in &wishes {
        let id = text(wish, ID);
        let open = open_by_wish.get(&id).copied().unwrap_or(0);
        assert!(open <= 1, "wish {id} holds {open} open offers");
        assert_eq!(
            text(wish, STATUS) == "offered",
            open == 1,
            "wish {id} is {} with {open} open offers",
            text(wish, STATUS)
        );
    }
    let offers_in = |wish: &str, status: Option<&str>| {
        offers
            .iter()
            .filter(|o| text(o, WISH) == wish && status.is_none_or(|s| text(o, STATUS) == s))
            .count()
    };
    let count_status = |status: &str| offers.iter().filter(|o| text(o, STATUS) == status).count();
    // Offers that were accepted at some time: still booked, given back, or swapped.
    let ever_accepted = |wish: &str| {
        offers_in(wish, Some("accepted"))
            + offers_in(wish, Some("returned"))
            + offers_in(wish, Some("replaced"))
    };
    let cancelled = wishes
        .iter()
        .filter(|w| text(w, STATUS) == "cancelled")
        .count();
    // The clicks above must have exercised every answer, or the checks below prove little.
    assert!(
        count_status("accepted") > 0
            && count_status("declined") > 0
            && count_status("withdrawn") > 0
            && count_status("returned") > 0
            && count_status("replaced") > 0
            && cancelled > 0,
        "offers by status: {:?}",
        offers.iter().map(|o| text(o, STATUS)).collect::<Vec<_>>()
    );

    assert!(
        offers.iter().any(|o| slots_of(o).len() > 1),
        "a family was offered a run of back-to-back slots"
    );

    // Mails, as each citizen sees them: what their wish and its offers went through, each once.
    let mut mails_sent = 0;
    for wish in &wishes {
        let (id, email) = (text(wish, ID), text(wish, EMAIL));
        let mut expected: BTreeMap<&str, usize> = BTreeMap::from([
            ("opt-in", 1),
            ("confirmed", 1),
            ("offer", offers_in(&id, None)),
            // A swap's acceptance has its own mail (with both calendar files).
            (
                "accepted",
                ever_accepted(&id) - offers_in(&id, Some("replaced")),
            ),
            ("swapped", offers_in(&id, Some("replaced"))),
            ("returned", offers_in(&id, Some("returned"))),
            // Each search for an earlier one: swapped since, or still looking.
            (
                "earlier",
                offers_in(&id, Some("replaced")) + usize::from(wish.contains_key("earlier")),
            ),
            ("declined", offers_in(&id, Some("declined"))),
            ("cancelled", usize::from(text(wish, STATUS) == "cancelled")),
        ]);
        expected.retain(|_, n| *n > 0);
        let mut got: BTreeMap<&str, usize> = BTreeMap::new();
        let mails = env.mails_to(&email).await;
        for mail in &mails {
            let kind = [
                ("Bitte bestätigen Sie Ihren Terminwunsch", "opt-in"),
                ("Ihr Terminwunsch ist aktiv", "confirmed"),
                ("Terminangebot:", "offer"),
                ("Termin bestätigt:", "accepted"),
                ("Früherer Termin gebucht:", "swapped"),
                ("Termin zurückgegeben:", "returned"),
                ("Wir suchen einen früheren Termin:", "earlier"),
                ("Angebot abgelehnt", "declined"),
                ("Terminwunsch gelöscht", "cancelled"),
            ]
            .into_iter()
            .find(|(prefix, _)| mail.subject.starts_with(prefix))
            .map_or("unexpected", |(_, kind)| kind);
            *got.entry(kind).or_default() += 1;
        }
        assert_eq!(got, expected, "mails to wish {id} ({})", text(wish, STATUS));
        mails_sent += mails.len();
    }
    // Each offer was mailed exactly once, and its link shows that very offer.
    let mut mailed: BTreeMap<String, usize> = BTreeMap::new();
    for email in &addresses {
        for mail in env.mails_to(email).await {
            if mail.subject.starts_with("Terminangebot") {
                let (status, page) = env.get_json(&page_link(&mail, "/o/")).await;
                assert_eq!(status, 200, "{page}");
                let offer = offers
                    .iter()
                    .find(|o| text(o, ID) == page["id"])
                    .unwrap_or_else(|| panic!("the link shows an unknown offer: {page}"));
                assert_eq!(page["slot"]["id"], text(offer, SLOT), "{page}");
                assert_eq!(page["status"], text(offer, STATUS), "{page}");
                *mailed.entry(text(offer, ID)).or_default() += 1;
            }
        }
    }
    let offer_ids: BTreeMap<String, usize> = offers.iter().map(|o| (text(o, ID), 1)).collect();
    assert_eq!(mailed, offer_ids, "offer mails per offer");

    // The outbox agrees: every owed mail sent, none twice, and no body kept after sending.
    let owed: Vec<_> = wish_items
        .iter()
        .filter(|i| text(i, PK).starts_with(MAIL_PK_PREFIX))
        .collect();
    assert_eq!(owed.len(), mails_sent, "mails owed vs sent");
    assert!(
        owed.iter().all(|m| text(m, STATUS) == MAIL_SENT),
        "mails still owed"
    );
    let with_body: Vec<String> = owed
        .iter()
        .filter(|m| text(m, STATUS) == MAIL_SENT)
        .filter_map(|m| {
            let kept: Vec<&str> = [MAIL_BODY, TO, "mime"]
                .into_iter()
                .filter(|a| m.contains_key(*a))
                .collect();
            (!kept.is_empty()).then(|| format!("{} keeps {kept:?}", text(m, PK)))
        })
        .collect();
    assert!(
        with_body.is_empty(),
        "{} of {} sent mails still hold their body or address: {with_body:?}",
        with_body.len(),
        owed.len()
    );

    // Events, as a consumer of the bus saw them: each state change exactly once.
    let ids_where = |items: &[&HashMap<String, AttributeValue>], status: &str| {
        let mut ids: Vec<String> = items
            .iter()
            .filter(|i| text(i, STATUS) == status)
            .map(|i| text(i, ID))
            .collect();
        ids.sort();
        ids
    };
    let mut all_offers: Vec<String> = offers.iter().map(|o| text(o, ID)).collect();
    all_offers.sort();
    let mut all_wishes: Vec<String> = wishes.iter().map(|w| text(w, ID)).collect();
    all_wishes.sort();
    // A slot is released when it enters the queue, and again each time an offer lets it go.
    let mut released: Vec<String> = slot_items.iter().map(|s| text(s, ID)).collect();
    // An appointment given back or swapped releases its slots once (a family's run: each).
    released.extend(
        offers
            .iter()
            .filter(|o| {
                ["declined", "withdrawn", "returned", "replaced"]
                    .contains(&text(o, STATUS).as_str())
            })
            .flat_map(|o| slots_of(o)),
    );
    released.sort();
    let expected: BTreeMap<&str, Vec<String>> = BTreeMap::from([
        ("WishConfirmed", all_wishes),
        ("SlotReleased", released),
        ("OfferSent", all_offers),
        ("OfferAccepted", {
            let mut ids = ids_where(&offers, "accepted");
            ids.extend(ids_where(&offers, "returned"));
            ids.extend(ids_where(&offers, "replaced"));
            ids.sort();
            ids
        }),
        ("AppointmentReturned", {
            let mut ids = ids_where(&offers, "returned");
            ids.extend(ids_where(&offers, "replaced"));
            ids.sort();
            ids
        }),
        ("OfferDeclined", ids_where(&offers, "declined")),
        ("OfferWithdrawn", ids_where(&offers, "withdrawn")),
        ("WishCancelled", ids_where(&wishes, "cancelled")),
    ]);
    let mut seen: BTreeMap<&str, Vec<String>> = expected.keys().map(|k| (*k, Vec::new())).collect();
    let events = observer.drain().await;
    let mut unexpected = Vec::new();
    let slot_ids: Vec<String> = slot_items.iter().map(|s| text(s, ID)).collect();
    for (detail_type, detail) in &events {
        if detail_type == "SlotUnclaimed" {
            // A free slot no wish could take at that moment (once until it changes): allowed
            // any time, for this test's slots only.
            assert!(
                slot_ids.iter().any(|id| detail[SLOT][ID] == id.as_str()),
                "SlotUnclaimed for a slot of this test: {detail}"
            );
            continue;
        }
        let subject = match detail_type.as_str() {
            "WishConfirmed" | "WishCancelled" => &detail[WISH],
            "SlotReleased" => &detail[SLOT][ID],
            _ => &detail[OFFER],
        };
        match seen.get_mut(detail_type.as_str()) {
            Some(ids) => ids.push(subject.as_str().unwrap_or_default().to_owned()),
            None => unexpected.push(detail_type.clone()),
        }
    }
    for ids in seen.values_mut() {
        ids.sort();
    }
    assert_eq!(
        unexpected,
        Vec::<String>::new(),
        "events of a kind nothing here causes"
    );
    assert_eq!(seen, expected, "events by type and subject");

    // Every offer appended its record to its line's chain, once, in order, and each replays
    // against the matching rule — under all of the above at once.
    let (status, report) = env
        .admin(reqwest::Method::GET, "/admin/allocations/verify", None)
        .await;
    assert_eq!((status, &report["ok"]), (200, &json!(true)), "{report}");
    assert_eq!(
        report["records"].as_u64(),
        Some(offers.len() as u64),
        "one record per offer: {report}"
    );

    println!(
        "{} offers, {} slots booked, {mails_sent} mails sent = owed, {} events",
        offers.len(),
        accepted_by_slot.len(),
        events.len()
    );
}
