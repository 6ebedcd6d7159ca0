//! Families: a wish for several persons gets one slot for enough persons, or a run of free
//! back-to-back slots; the offer holds the whole run, accept books all of it, a decline or a
//! give-back frees all of it.

use crate::helpers::{Observer, TestEnv, next_local, page_link};
use reqwest::Method;
use serde_json::{Value, json};

impl TestEnv {
    /// Submits and confirms a wish for `persons`; returns its page link.
    pub async fn confirmed_family(&self, email: &str, windows: Value, persons: u8) -> String {
        let body = json!({"email": email, "service": "id-card", "offices": ["bilk"],
            "windows": windows, "persons": persons});
        let (status, submitted) = self.post_json("/api/wishes", &body).await;
        assert_eq!(status, 202, "{submitted}");
        let link = page_link(&self.mails_to(email).await[0], "/w/");
        let (status, wish) = self.click(&format!("{link}/confirm")).await;
        assert_eq!((status, wish["status"].as_str()), (200, Some("waiting")));
        assert_eq!(wish["persons"], persons, "{wish}");
        link
    }

    /// The slot as the admin API shows it.
    async fn slot_status(&self, id: &str) -> (String, Value) {
        let (status, slot) = self
            .admin(Method::GET, &format!("/admin/slots/{id}"), None)
            .await;
        assert_eq!(status, 200, "{slot}");
        (slot["status"].as_str().unwrap().to_owned(), slot)
    }
}

/// The details of the events of `kind` published since the observer last looked.
async fn details(observer: &Observer, kind: &str) -> Vec<Value> {
    observer
        .drain()
        .await
        .into_iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, detail)| detail)
        .collect()
}

/// A Monday 8:00 slot of the Bilk office `weeks` ahead, `minute` past eight.
fn monday(minute: u32, weeks: i64) -> String {
    next_local(chrono::Weekday::Mon, 8, minute, 7 * weeks)
}

fn slot(id: &str, start: &str, persons: u8) -> Value {
    json!({"id": id, "office": "bilk", "service": "id-card", "start": start, "minutes": 15,
        "status": "free", "persons": persons})
}

#[tokio::test]
async fn a_family_of_three_is_not_offered_a_slot_too_short_but_two_back_to_back() {
    let env = TestEnv::spawn().await;
    let observer = Observer::attach(&env).await;
    let (family, ben) = (env.email("family-three"), env.email("family-ben"));
    env.confirmed_family(&family, json!({"mon": [8]}), 3).await;
    env.confirmed_wish(&ben, json!({"mon": [8]})).await;

    // A slot for one person: the family stands first but cannot use it; Ben can.
    env.put_slots(&json!([slot("fam-one", &monday(30, 2), 1)]))
        .await;
    env.settle().await;
    assert_eq!(
        env.mails_to(&family).await.len(),
        2,
        "no offer for the family"
    );
    let ben_offer = env.mails_to(&ben).await;
    assert!(
        ben_offer
            .last()
            .unwrap()
            .subject
            .starts_with("Terminangebot"),
        "{:?}",
        ben_offer.last().unwrap().subject
    );
    assert_eq!(env.slot_status("fam-one").await.0, "offered");

    // Two back-to-back slots, for one and for two persons: a run for three. The second is
    // free first (no one-person wish waits for it: Ben holds his offer), then the first.
    env.put_slots(&json!([slot("fam-b", &monday(15, 3), 2)]))
        .await;
    env.settle().await;
    env.put_slots(&json!([slot("fam-a", &monday(0, 3), 1)]))
        .await;
    env.settle().await;
    let (offer_mail, offer) = env.latest_offer(&family).await;
    assert!(
        offer_mail.text.contains("für 3 Personen, 8:00–8:30 Uhr"),
        "the mail names the party and the whole run: {}",
        offer_mail.text
    );
    let (_, shown) = env.get_json(&offer).await;
    assert_eq!(shown["persons"], 3);
    let ids: Vec<&str> = shown["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["fam-a", "fam-b"], "{shown}");
    assert_eq!(shown["slot"]["id"], "fam-a");
    for id in ["fam-a", "fam-b"] {
        assert_eq!(env.slot_status(id).await.0, "offered", "{id}");
    }
    let html = env.get_html(&offer).await;
    assert!(
        html.contains("für 3 Personen, 8:00–8:30 Uhr"),
        "the page too"
    );

    // Accepting books the whole run; the booking system hears of both slots.
    let (status, accepted) = env.click(&format!("{offer}/accept")).await;
    assert_eq!(
        (status, accepted["status"].as_str()),
        (200, Some("accepted"))
    );
    env.settle().await;
    for id in ["fam-a", "fam-b"] {
        let (status, slot) = env.slot_status(id).await;
        assert_eq!(status, "booked", "{id}");
        assert!(slot["wish"].is_string(), "booked for the family: {slot}");
    }
    let booked = details(&observer, "OfferAccepted").await;
    assert_eq!(booked.len(), 1, "{booked:?}");
    assert_eq!(booked[0]["slots"], json!(["fam-a", "fam-b"]));

    // The appointment's page holds both; giving it back frees both.
    let page = page_link(env.mails_to(&family).await.last().unwrap(), "/a/");
    let (_, appointment) = env.get_json(&page).await;
    assert_eq!(appointment["slots"].as_array().unwrap().len(), 2);
    assert_eq!(appointment["persons"], 3);
    let (status, returned) = env.click(&format!("{page}/return")).await;
    assert_eq!(
        (status, returned["status"].as_str()),
        (200, Some("returned"))
    );
    env.settle().await;
    for id in ["fam-a", "fam-b"] {
        assert_eq!(env.slot_status(id).await.0, "free", "{id} is free again");
    }
    let given_back = details(&observer, "AppointmentReturned").await;
    assert_eq!(given_back.len(), 1, "{given_back:?}");
    assert_eq!(given_back[0]["slots"], json!(["fam-a", "fam-b"]));
}

#[tokio::test]
async fn a_slot_for_enough_persons_serves_a_family_and_a_decline_frees_a_whole_run() {
    let env = TestEnv::spawn().await;
    let (pair, trio) = (env.email("family-pair"), env.email("family-trio"));
    env.confirmed_family(&pair, json!({"mon": [8]}), 2).await;

    // One slot for four persons is enough for two.
    env.put_slots(&json!([slot("big", &monday(0, 2), 4)])).await;
    env.settle().await;
    let offer = page_link(env.mails_to(&pair).await.last().unwrap(), "/o/");
    let (_, shown) = env.get_json(&offer).await;
    assert_eq!(shown["slots"].as_array().unwrap().len(), 1, "{shown}");
    assert_eq!(shown["slot"]["id"], "big");
    let (status, _) = env.click(&format!("{offer}/accept")).await;
    assert_eq!(status, 200);

    // A run of three one-person slots for a family of three; the family declines it.
    env.confirmed_family(&trio, json!({"mon": [8]}), 3).await;
    env.put_slots(&json!([
        slot("run-c", &monday(30, 3), 1),
        slot("run-b", &monday(15, 3), 1)
    ]))
    .await;
    env.settle().await;
    env.put_slots(&json!([slot("run-a", &monday(0, 3), 1)]))
        .await;
    env.settle().await;
    let offer = page_link(env.mails_to(&trio).await.last().unwrap(), "/o/");
    let (_, shown) = env.get_json(&offer).await;
    assert_eq!(shown["slots"].as_array().unwrap().len(), 3, "{shown}");
    let (status, declined) = env.click(&format!("{offer}/decline")).await;
    assert_eq!(
        (status, declined["status"].as_str()),
        (200, Some("declined"))
    );
    env.settle().await;
    for id in ["run-a", "run-b", "run-c"] {
        assert_eq!(env.slot_status(id).await.0, "free", "{id} is free again");
    }
    // The family keeps its place, and is never offered that run again.
    let offers = env
        .mails_to(&trio)
        .await
        .iter()
        .filter(|m| m.subject.starts_with("Terminangebot"))
        .count();
    assert_eq!(offers, 1);
}

#[tokio::test]
async fn persons_out_of_range_are_refused_by_field_and_store_nothing() {
    let env = TestEnv::spawn().await;
    for persons in [json!(0), json!(6), json!("drei"), json!(2.5)] {
        let body = json!({"email": env.email("family-bad"), "service": "id-card",
            "offices": ["bilk"], "windows": {"mon": [8]}, "persons": persons});
        let (status, answer) = env.post_json("/api/wishes", &body).await;
        assert_eq!(status, 422, "{persons}: {answer}");
        assert!(
            answer["fields"]["persons"]
                .as_str()
                .is_some_and(|m| m.contains("1 to 5")),
            "{answer}"
        );
    }
    assert!(env.mails_to(&env.email("family-bad")).await.is_empty());
    let (status, answer) = env
        .admin(
            Method::PUT,
            "/admin/slots",
            Some(json!([slot("too-many", &monday(0, 2), 1)
                .as_object()
                .unwrap()
                .clone()
                .into_iter()
                .chain([("persons".to_owned(), json!(21))])
                .collect::<serde_json::Map<_, _>>()])),
        )
        .await;
    assert!(status == 422 || status == 400, "{status}: {answer}");
    assert!(answer.to_string().contains("persons"), "{answer}");
    let (status, _) = env.admin(Method::GET, "/admin/slots/too-many", None).await;
    assert_eq!(status, 404, "nothing stored");
}
