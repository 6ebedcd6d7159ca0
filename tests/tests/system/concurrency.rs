//! Deliveries arrive twice and at the same time (double clicks, retried events, concurrent
//! answers): the state changes once and each mail is sent once.

use crate::helpers::{TestEnv, next_local, page_link};
use chrono::Weekday;
use reqwest::Method;
use serde_json::json;
use tokio::task::JoinSet;

fn windows() -> serde_json::Value {
    json!({"mon": [8], "tue": [8], "wed": [8], "thu": [8], "fri": [12]})
}

async fn clicks(env: &TestEnv, urls: Vec<String>) -> Vec<(u16, serde_json::Value)> {
    let mut set = JoinSet::new();
    for url in urls {
        let http = env.http.clone();
        set.spawn(async move {
            let r = http
                .post(url)
                .header("accept", "application/json")
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        });
    }
    set.join_all().await
}

#[tokio::test]
async fn concurrent_duplicates_change_state_once_and_mail_once() {
    let env = TestEnv::spawn().await;
    let first = env.email("first");
    let second = env.email("second");
    env.confirmed_wish(&first, windows()).await;

    // Twenty simultaneous confirm clicks: one confirmation, one mail, one place in line.
    let (status, _) = env
        .post_json("/api/wishes", &json!({"email": second, "service": "id-card", "offices": ["bilk"], "windows": windows()}))
        .await;
    assert_eq!(status, 202);
    let link = page_link(&env.mails_to(&second).await[0], "/w/");
    let answers = clicks(&env, vec![format!("{link}/confirm"); 20]).await;
    assert!(
        answers
            .iter()
            .all(|(s, w)| *s == 200 && w["status"] == "waiting"),
        "{answers:?}"
    );
    assert_eq!(env.mails_to(&second).await.len(), 2);
    crate::helpers::assert_line_counts_match_entries(&env).await;

    // A slot is released, and the same SlotReleased event is delivered 20 more times at once.
    let wed = next_local(Weekday::Wed, 8, 0, 3);
    assert_eq!(env.put_slots(&json!([{"id": "dup", "office": "bilk", "service": "id-card", "start": wed, "minutes": 15, "status": "free"}])).await, ["created"]);
    let event = json!({"version": "0", "id": "x", "detail-type": "SlotReleased", "source": "terminagent", "account": "1",
        "time": "2024-01-01T00:00:00Z", "region": "eu-central-1", "resources": [],
        "detail": {"slot": {"id": "dup", "office": "bilk", "service": "id-card", "start": wed, "minutes": 15}}});
    let mut set = JoinSet::new();
    for _ in 0..20 {
        let deps = env.system.deps.clone();
        let event = event.clone();
        set.spawn(async move {
            shared::triggers::handle_match_event(&deps, &event)
                .await
                .map(|_| ())
        });
    }
    assert!(set.join_all().await.iter().all(Result::is_ok));
    env.settle().await;
    let first_mails = env.mails_to(&first).await;
    assert_eq!(first_mails.len(), 3, "one offer, to the first in line");
    assert_eq!(
        env.mails_to(&second).await.len(),
        2,
        "nothing for the second"
    );
    let offer = page_link(&first_mails[2], "/o/");

    // Ten accepts and ten declines race: exactly one of them wins, the rest see the outcome.
    let mut urls = vec![format!("{offer}/accept"); 10];
    urls.extend(vec![format!("{offer}/decline"); 10]);
    let answers = clicks(&env, urls).await;
    let outcome = env.get_json(&offer).await.1["status"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(outcome == "accepted" || outcome == "declined", "{outcome}");
    assert!(
        answers
            .iter()
            .all(|(s, o)| *s == 200 && o["status"] == outcome.as_str()),
        "{answers:?}"
    );
    env.settle().await;
    let first_mails = env.mails_to(&first).await;
    assert_eq!(first_mails.len(), 4, "one answer confirmed, once");
    let slot = env.admin(Method::GET, "/admin/slots/dup", None).await.1;
    let second_mails = env.mails_to(&second).await;
    if outcome == "accepted" {
        assert_eq!(slot["status"], "booked");
        assert_eq!(second_mails.len(), 2);
    } else {
        assert_eq!(
            slot["status"], "offered",
            "the declined slot went on to the second wish"
        );
        assert_eq!(second_mails.len(), 3);
    }
    let stats = env.admin(Method::GET, "/admin/stats", None).await.1;
    assert_eq!(stats["offers_open"], u64::from(outcome == "declined"));
}
