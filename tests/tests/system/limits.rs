//! Abuse limits and silent wishes: limits per address and per client; three offers in a row
//! left unanswered pause a wish until its owner confirms it again.

use crate::helpers::{TestEnv, next_local, page_link};
use chrono::Weekday;
use reqwest::Method;
use serde_json::json;

fn wish(email: &str) -> serde_json::Value {
    json!({"email": email, "service": "id-card", "offices": ["bilk"], "windows": {"mon": [8], "tue": [8], "wed": [8], "thu": [8], "fri": [12]}})
}

#[tokio::test]
async fn an_address_may_hold_three_active_wishes_and_five_submissions_an_hour() {
    let env = TestEnv::spawn().await;
    let email = env.email("busy");
    for _ in 0..3 {
        assert_eq!(env.post_json("/api/wishes", &wish(&email)).await.0, 202);
    }
    let (status, body) = env.post_json("/api/wishes", &wish(&email)).await;
    assert_eq!(status, 422);
    assert!(
        body["fields"]["email"]
            .as_str()
            .unwrap()
            .contains("3 active wishes")
    );
    assert_eq!(
        env.mails_to(&email).await.len(),
        3,
        "the refused wish sent no mail"
    );

    // Cancelling one makes room; the fifth submission within the hour is the last.
    let first = page_link(&env.mails_to(&email).await[0], "/w/");
    assert_eq!(
        env.click(&format!("{first}/cancel")).await.1["status"],
        "cancelled"
    );
    assert_eq!(env.post_json("/api/wishes", &wish(&email)).await.0, 202);
    let second = page_link(&env.mails_to(&email).await[1], "/w/");
    env.click(&format!("{second}/cancel")).await;
    assert_eq!(env.post_json("/api/wishes", &wish(&email)).await.0, 202);
    let third = page_link(&env.mails_to(&email).await[2], "/w/");
    env.click(&format!("{third}/cancel")).await;
    let (status, body) = env.post_json("/api/wishes", &wish(&email)).await;
    assert_eq!(status, 429, "{body}");

    // An hour later the address may submit again.
    env.system.deps.clock.advance(61);
    assert_eq!(env.post_json("/api/wishes", &wish(&email)).await.0, 202);
}

#[tokio::test]
async fn one_client_is_limited_per_hour_whatever_the_addresses() {
    let env = TestEnv::spawn().await;
    let mut deps = env.system.deps.clone();
    deps.config.limits.requests_per_client_hour = 2;
    let request = |name: &str| -> shared::domain::WishDraft {
        serde_json::from_value::<shared::http::WishRequest>(wish(&env.email(name)))
            .unwrap()
            .draft()
    };
    assert!(
        shared::app::submit_wish(&deps, &request("a"), Some("198.51.100.7"))
            .await
            .is_ok()
    );
    assert!(
        shared::app::submit_wish(&deps, &request("b"), Some("198.51.100.7"))
            .await
            .is_ok()
    );
    let third = shared::app::submit_wish(&deps, &request("c"), Some("198.51.100.7")).await;
    assert!(
        matches!(third, Err(shared::app::AppError::RateLimited)),
        "{third:?}"
    );
    assert!(
        shared::app::submit_wish(&deps, &request("d"), Some("198.51.100.8"))
            .await
            .is_ok(),
        "another client is not affected"
    );
    assert!(env.mails_to(&env.email("c")).await.is_empty());
}

#[tokio::test]
async fn three_unanswered_offers_in_a_row_pause_the_wish_until_it_is_confirmed_again() {
    let env = TestEnv::spawn().await;
    let anna = env.email("anna");
    env.confirmed_wish(&anna, wish(&anna)["windows"].clone())
        .await;
    for (i, day) in [Weekday::Mon, Weekday::Tue, Weekday::Wed]
        .into_iter()
        .enumerate()
    {
        let start = next_local(day, 8, 0, 10);
        let id = format!("s{i}");
        assert_eq!(env.put_slots(&json!([{"id": id, "office": "bilk", "service": "id-card", "start": start, "minutes": 15, "status": "free"}])).await, ["created"]);
        env.settle().await;
        assert_eq!(
            env.admin(Method::GET, &format!("/admin/slots/{id}"), None)
                .await
                .1["status"],
            "offered"
        );
        env.system.deps.clock.advance(25 * 60);
        assert_eq!(env.system.rescan().await.unwrap()["offers_expired"], 1);
        env.settle().await;
    }
    let mails = env.mails_to(&anna).await;
    // opt-in, confirmed, then (offer, expired) ×2, then offer and the pause notice.
    assert_eq!(mails.len(), 8);
    assert!(
        mails[7].subject.contains("pausiert"),
        "{}",
        mails[7].subject
    );
    let link = page_link(&mails[7], "/w/");
    assert_eq!(env.get_json(&link).await.1["status"], "paused");

    // A new slot is not offered to a paused wish.
    let thu = next_local(Weekday::Thu, 8, 0, 10);
    assert_eq!(env.put_slots(&json!([{"id": "s3", "office": "bilk", "service": "id-card", "start": thu, "minutes": 15, "status": "free"}])).await, ["created"]);
    env.settle().await;
    assert_eq!(
        env.admin(Method::GET, "/admin/slots/s3", None).await.1["status"],
        "free"
    );

    // She confirms again: waiting with her old place; the rescan offers her the free slot.
    assert_eq!(
        env.click(&format!("{link}/confirm")).await.1["status"],
        "waiting"
    );
    assert_eq!(
        env.click(&format!("{link}/confirm")).await.1["status"],
        "waiting"
    );
    assert_eq!(env.system.rescan().await.unwrap()["offers_made"], 1);
    let mails = env.mails_to(&anna).await;
    assert_eq!(
        mails.len(),
        10,
        "one confirmation of the resumption, then the offer"
    );
    assert!(mails[9].subject.starts_with("Terminangebot"));
}
