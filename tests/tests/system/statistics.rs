//! The public statistics (`/statistik`, `/statistics`, `GET /api/statistics`): slot-release and
//! the delivery of offers count into day tallies as in AWS (from the streams), and the figures
//! come back per office and service — with no median below 5 first offers, cached for a while,
//! and gone once the days leave the 28-day window.

use crate::helpers::{TestEnv, next_local, page_link};
use chrono::Weekday;
use reqwest::Method;
use serde_json::{Value, json};

/// The group of `office` and `service` in an answer of `GET /api/statistics`.
fn group<'a>(stats: &'a Value, office: &str, service: &str) -> &'a Value {
    stats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["office"] == office && g["service"] == service)
        .unwrap_or_else(|| panic!("no group {office}/{service} in {stats}"))
}

async fn statistics(env: &TestEnv) -> Value {
    let (status, stats) = env.get_json("/api/statistics").await;
    assert_eq!(status, 200, "{stats}");
    stats
}

/// The link of the offer mail `to` received last.
async fn offer_link(env: &TestEnv, to: &str) -> String {
    let mails = env.mails_to(to).await;
    let offer = mails
        .iter()
        .rev()
        .find(|m| m.subject.starts_with("Terminangebot"))
        .unwrap_or_else(|| panic!("no offer for {to}"));
    page_link(offer, "/o/")
}

/// A slot of the Monday 8–9 line at Bilk for the ID card, `minute` past eight.
fn slot(id: &str, minute: u32, status: &str) -> Value {
    json!({"id": id, "office": "bilk", "service": "id-card",
        "start": next_local(Weekday::Mon, 8, minute, 10), "minutes": 5, "status": status})
}

async fn page(env: &TestEnv, path: &str) -> (u16, String) {
    let r = env.http.get(env.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    // The templates escape `/` in values.
    (status, r.text().await.unwrap().replace("&#x2f;", "/"))
}

#[tokio::test]
async fn the_public_statistics_count_releases_first_offers_and_bookings_per_office_and_service() {
    let env = TestEnv::spawn().await;
    let clock = &env.system.deps.clock;

    // Before anything happened: every office with each service it offers, all figures empty.
    let empty = statistics(&env).await;
    let groups = empty["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 16, "{empty}");
    assert_eq!(
        (groups[0]["office"].as_str(), groups[0]["service"].as_str()),
        (Some("bilk"), Some("change-of-address"))
    );
    assert_eq!(
        group(&empty, "bilk", "id-card"),
        &json!({"office": "bilk", "service": "id-card", "waiting": 0, "released_28d": 0,
            "median_days_to_offer": null, "taken_share": null})
    );

    // Six wishes for the ID card at Bilk, Mondays 8–9: three confirmed now, three two days
    // later; three days after that slots come free.
    let mut wishes = Vec::new();
    for i in 0..6 {
        if i == 3 {
            clock.advance(2 * 24 * 60);
        }
        let email = env.email(&format!("w{i}"));
        env.confirmed_wish(&email, json!({"mon": [8]})).await;
        wishes.push(email);
    }
    clock.advance(3 * 24 * 60);

    // Four new free slots: the first four wishes get their first offers, after 5, 5, 5 and 3
    // days. Four first offers are too few for a median.
    let four: Vec<Value> = (0..4)
        .map(|i| slot(&format!("s{i}"), i * 5, "free"))
        .collect();
    assert_eq!(env.put_slots(&json!(four)).await, ["created"; 4]);
    env.settle().await;
    let mut offers = Vec::new();
    for w in &wishes[..4] {
        offers.push(offer_link(&env, w).await);
    }
    let first = statistics(&env).await;
    assert_eq!(
        group(&first, "bilk", "id-card"),
        &json!({"office": "bilk", "service": "id-card", "waiting": 6, "released_28d": 4,
            "median_days_to_offer": null, "taken_share": 0.0})
    );
    // The other lines saw nothing; the wishes' offices only count where they wait.
    assert_eq!(group(&first, "bilk", "passport")["waiting"], 0);
    assert_eq!(group(&first, "altstadt", "id-card")["released_28d"], 0);
    // Nothing personal and nothing that names a wish.
    let text = first.to_string();
    assert!(!text.contains('@') && !text.contains("w0."), "{text}");

    // Two accept, the first declines: its slot goes to the fifth wish (a first offer, after 3
    // days) and is not counted as released again. A booking the office cancels enters the queue
    // and goes to the first wish again (not its first offer); one more new slot goes to the
    // sixth wish (3 days). Then the fourth accepts too.
    for offer in &offers[1..3] {
        let (status, accepted) = env.click(&format!("{offer}/accept")).await;
        assert_eq!(
            (status, accepted["status"].as_str()),
            (200, Some("accepted"))
        );
    }
    let (_, declined) = env.click(&format!("{}/decline", offers[0])).await;
    assert_eq!(declined["status"], "declined");
    env.settle().await;
    offer_link(&env, &wishes[4]).await;
    assert_eq!(
        env.put_slots(&json!([slot("s4", 30, "booked")])).await,
        ["created"]
    );
    let (status, _) = env
        .admin(Method::POST, "/admin/slots/s4/release", None)
        .await;
    assert_eq!(status, 200);
    env.settle().await;
    let again = offer_link(&env, &wishes[0]).await;
    assert_ne!(again, offers[0], "the first wish has a new offer");
    assert_eq!(
        env.put_slots(&json!([slot("s5", 35, "free")])).await,
        ["created"]
    );
    env.settle().await;
    offer_link(&env, &wishes[5]).await;
    let (_, accepted) = env.click(&format!("{}/accept", offers[3])).await;
    assert_eq!(accepted["status"], "accepted");
    env.settle().await;

    // Within the cache's age the same figures come back, computed at the same time.
    let cached = statistics(&env).await;
    assert_eq!(cached, first);

    // Ten minutes later they are computed again: first offers after 5, 5, 5, 3, 3, 3 days: the
    // median lies between 3 and 5. Six slots entered the queue (four new, a cancelled booking,
    // one more new), three were booked through offers; three wishes still wait.
    clock.advance(10);
    let later = statistics(&env).await;
    assert!(later["updated_at"].as_str() > first["updated_at"].as_str());
    assert_eq!(
        group(&later, "bilk", "id-card"),
        &json!({"office": "bilk", "service": "id-card", "waiting": 3, "released_28d": 6,
            "median_days_to_offer": 4.0, "taken_share": 0.5})
    );

    // Both pages show the same figures, in a chart and a table, and link to each other.
    let (status, de) = page(&env, "/statistik").await;
    assert_eq!(status, 200);
    assert!(de.contains("<html lang=\"de\">"), "{de}");
    assert!(de.contains("<h1>Wie lange dauert es?</h1>"), "{de}");
    assert!(de.contains("<svg class=\"chart\""), "{de}");
    assert!(de.contains(">4 Tage</text>"), "{de}");
    let row = |html: &str| {
        let at = html
            .find("Bürgerbüro Bilk<span class=\"hint\">Personalausweis")
            .unwrap();
        html[at..].split("</tr>").next().unwrap().to_owned()
    };
    assert_eq!(
        row(&de).matches("<td class=\"num\">").count(),
        4,
        "{}",
        row(&de)
    );
    for cell in [">3</td>", ">6</td>", ">4</td>", ">50 %</td>"] {
        assert!(row(&de).contains(cell), "{cell} in {}", row(&de));
    }
    assert!(de.contains("href=\"/statistics?lang=en\""), "{de}");
    assert!(!de.contains("w0."), "no address on the page");
    let (status, en) = page(&env, "/statistics").await;
    assert_eq!(status, 200);
    assert!(en.contains("<html lang=\"en\">"), "{en}");
    assert!(en.contains("<h1>How long does it take?</h1>"), "{en}");
    assert!(en.contains(">4 days</text>"), "{en}");
    let en_row = en
        .find("Bürgerbüro Bilk<span class=\"hint\">Applying for an ID card")
        .map(|at| &en[at..]);
    assert!(
        en_row.is_some_and(|r| r.split("</tr>").next().unwrap().contains(">50%</td>")),
        "{en}"
    );
    assert!(en.contains("href=\"/statistik?lang=de\""), "{en}");
    let (_, by_query) = page(&env, "/statistik?lang=en").await;
    assert!(by_query.contains("<h1>How long does it take?</h1>"));

    // The wish form links to the page in its language.
    let (_, form) = page(&env, "/").await;
    assert!(
        form.contains("href=\"/statistik?lang=de\">Wie lange dauert es?</a>"),
        "{form}"
    );
    let (_, form) = page(&env, "/?lang=en").await;
    assert!(
        form.contains("href=\"/statistics?lang=en\">How long does it take?</a>"),
        "{form}"
    );

    // The counters are the public statistics' own: the clerks' figures are as before.
    let (_, stats) = env.admin(Method::GET, "/admin/stats", None).await;
    assert_eq!(stats["queues"].as_array().unwrap().len(), 1, "{stats}");

    // Four weeks later the days have left the window; the wishes still wait.
    clock.advance(29 * 24 * 60);
    let gone = statistics(&env).await;
    assert_eq!(
        group(&gone, "bilk", "id-card"),
        &json!({"office": "bilk", "service": "id-card", "waiting": 3, "released_28d": 0,
            "median_days_to_offer": null, "taken_share": null})
    );
}

/// One slots-stream record of slot `id` at Bilk for the ID card going from `old` (none: a new
/// slot) to `new`, with sequence number `seq`.
fn slot_record(seq: u32, id: &str, old: Option<&str>, new: &str) -> Value {
    let image = |status: &str| {
        json!({"id": {"S": id}, "office": {"S": "bilk"}, "service": {"S": "id-card"},
            "start": {"S": "2030-01-07T07:30:00.000Z"}, "minutes": {"N": "15"}, "status": {"S": status}})
    };
    let mut change = json!({"Keys": {"id": {"S": id}}, "NewImage": image(new),
        "SequenceNumber": format!("{seq:030}"), "SizeBytes": 10, "StreamViewType": "NEW_AND_OLD_IMAGES"});
    if let Some(old) = old {
        change["OldImage"] = image(old);
    }
    json!({"awsRegion": "eu-central-1", "eventID": seq.to_string(),
        "eventName": if old.is_some() { "MODIFY" } else { "INSERT" },
        "eventSource": "aws:dynamodb", "dynamodb": change})
}

#[tokio::test]
async fn slot_release_counts_nothing_from_the_first_record_lambda_delivers_again() {
    let env = TestEnv::spawn().await;
    let batch = |records: &[Value]| -> aws_lambda_events::event::dynamodb::Event {
        serde_json::from_value(json!({"Records": records})).unwrap()
    };
    // Booked through an offer, released (its event fails: the bus is gone), booked through an
    // offer, and three more releases.
    let records = [
        slot_record(1, "a", Some("offered"), "booked"),
        slot_record(2, "b", None, "free"),
        slot_record(3, "c", Some("offered"), "booked"),
        slot_record(4, "d", Some("booked"), "free"),
        slot_record(5, "e", None, "free"),
        slot_record(6, "f", None, "free"),
    ];
    let working = env.system.outlets(&env.system.deps).unwrap();
    let mut broken = working.clone();
    broken.events =
        shared::events::Events::new(env.system.clients.eventbridge.clone(), "no-such-bus");
    let store = &env.system.deps.store;
    let now = env.system.deps.clock.now();
    let response =
        shared::triggers::handle_slot_stream_counting(&broken, store, now, batch(&records)).await;
    assert_eq!(
        response.batch_item_failures.len(),
        4,
        "every release from the first failure on"
    );
    // Lambda delivers the batch again from the first failed record; now the bus answers.
    let again =
        shared::triggers::handle_slot_stream_counting(&working, store, now, batch(&records[1..]))
            .await;
    assert!(again.batch_item_failures.is_empty());
    // Four releases, two bookings — each counted once: the first booking in the first delivery,
    // the second (after the failed record) only in the second.
    let stats = statistics(&env).await;
    let bilk = group(&stats, "bilk", "id-card");
    assert_eq!(
        (bilk["released_28d"].as_u64(), bilk["taken_share"].as_f64()),
        (Some(4), Some(0.5)),
        "{stats}"
    );
}
