//! The wish page's rough expected wait: slots entering a line are counted by slot-release (from
//! the stream, as in AWS) and turned into "about N weeks" on the page of a wish in that line.

use crate::helpers::{TestEnv, next_local, page_link};
use chrono::Weekday;
use reqwest::Method;
use serde_json::json;

const UNKNOWN_DE: &str = "Wie lange es dauert, können wir noch nicht schätzen";
const UNKNOWN_SOME_DE: &str = "Für die übrigen Zeiten können wir noch nicht schätzen";

async fn page(env: &TestEnv, link: &str) -> String {
    env.http
        .get(env.url(link))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_wish_page_estimates_the_wait_from_slots_released_in_its_line() {
    let env = TestEnv::spawn().await;
    let anna = env.email("anna");
    let ben = env.email("ben");
    env.confirmed_wish(&anna, json!({"mon": [8]})).await;
    let ben_link = env
        .confirmed_wish(&ben, json!({"mon": [8], "tue": [8]}))
        .await;

    // No slot has entered either line yet: no estimate, said once.
    let before = page(&env, &ben_link).await;
    assert!(
        before.contains("1 Wunsch vor Ihrem – Bürgerbüro Bilk, Montag 8"),
        "{before}"
    );
    assert!(
        before.contains("Kein Wunsch vor Ihrem – Bürgerbüro Bilk, Dienstag 8"),
        "{before}"
    );
    assert_eq!(before.matches(UNKNOWN_DE).count(), 1, "{before}");
    assert!(!before.contains("rechnen wir grob"), "{before}");

    // Three slots enter the Monday 8–9 line: two new free ones and a released booking. The first
    // goes to Anna, the second to Ben, the third stays free.
    let slots: Vec<_> = [0, 15, 30]
        .iter()
        .map(|m| {
            json!({"id": format!("mon-{m}"), "office": "bilk", "service": "id-card",
                "start": next_local(Weekday::Mon, 8, *m, 3), "minutes": 15,
                "status": if *m == 30 { "booked" } else { "free" }})
        })
        .collect();
    assert_eq!(
        env.put_slots(&json!(slots)).await,
        ["created", "created", "created"]
    );
    let (status, _) = env
        .admin(Method::POST, "/admin/slots/mon-30/release", None)
        .await;
    assert_eq!(status, 200);
    env.settle().await;

    // Ben is behind one wish; 3 releases in 28 days: 2 × 28 / 3 ≈ 19 days ≈ 3 weeks. His Tuesday
    // line saw nothing, which the page says once.
    let after = page(&env, &ben_link).await;
    assert!(
        after.contains("Nach den frei gewordenen Terminen der letzten 28 Tage rechnen wir grob mit einem Angebot in etwa 3 Wochen."),
        "{after}"
    );
    assert_eq!(after.matches("rechnen wir grob").count(), 1, "{after}");
    assert!(after.contains(UNKNOWN_SOME_DE), "{after}");
    assert!(!after.contains(UNKNOWN_DE), "{after}");
    let english = page(&env, &format!("{ben_link}?lang=en")).await;
    assert!(
        english.contains("Judging by the appointments released in the last 28 days, we roughly expect an offer within about 3 weeks."),
        "{english}"
    );

    // A declined slot comes back free but has not entered the line again: still 3 releases.
    let offer = page_link(
        env.mails_to(&anna)
            .await
            .iter()
            .find(|m| m.subject.starts_with("Terminangebot"))
            .unwrap(),
        "/o/",
    );
    let (_, declined) = env.click(&format!("{offer}/decline")).await;
    assert_eq!(declined["status"], "declined");
    env.settle().await;
    let slot_id = declined["slot"]["id"].as_str().unwrap();
    let (_, slot) = env
        .admin(Method::GET, &format!("/admin/slots/{slot_id}"), None)
        .await;
    assert_eq!(slot["status"], "free", "nobody else could take it");
    assert!(page(&env, &ben_link).await.contains("in etwa 3 Wochen"));

    // The release counters are statistics of their own: the clerks' queue list is unchanged.
    let (_, stats) = env.admin(Method::GET, "/admin/stats", None).await;
    let queues = stats["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 1, "{stats}");
    assert_eq!(
        (queues[0]["office"].as_str(), queues[0]["waiting"].as_i64()),
        (Some("bilk"), Some(2))
    );

    // Four weeks later (the runner's clock) the releases have left the window.
    env.system.deps.clock.advance(29 * 24 * 60);
    let later = page(&env, &ben_link).await;
    assert_eq!(later.matches(UNKNOWN_DE).count(), 1, "{later}");
    assert!(!later.contains("rechnen wir grob"), "{later}");
}
