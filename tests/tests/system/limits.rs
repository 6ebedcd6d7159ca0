//! Abuse limits and silent wishes: limits per address and per client; three offers in a row
//! left unanswered pause a wish until its owner confirms it again.

use crate::helpers::{TestEnv, next_local, page_link};
use chrono::Weekday;
use reqwest::Method;
use serde_json::json;

fn wish(email: &str) -> serde_json::Value {
    json!({"email": email, "service": "id-card", "offices": ["bilk"], "windows": {"mon": [8], "tue": [8], "wed": [8], "thu": [8], "fri": [12]}})
}

/// The address with a `+tag` before the @.
fn tagged(email: &str, tag: &str) -> String {
    let (local, domain) = email.split_once('@').unwrap();
    format!("{local}+{tag}@{domain}")
}

#[tokio::test]
async fn nobody_who_knows_an_address_can_lock_its_owner_out_or_flood_it_with_mails() {
    let env = TestEnv::spawn().await;
    let anna = env.email("anna");
    // Someone who knows Anna's address posts wishes for it, for every service, under
    // variants of it (case, +tags), again and again.
    let services = ["id-card", "passport", "change-of-address"];
    for round in 0..4 {
        for (i, service) in services.iter().enumerate() {
            let to = match (round + i) % 3 {
                0 => anna.clone(),
                1 => tagged(&anna, &format!("r{round}")),
                _ => anna.to_uppercase(),
            };
            let (status, body) = env
                .post_json(
                    "/api/wishes",
                    &json!({"email": to, "service": service, "offices": ["bilk"], "windows": {"mon": [8]}}),
                )
                .await;
            assert_eq!(status, 202, "{body}");
            let expected = if round < 2 {
                "sent"
            } else {
                "already_sent_today"
            };
            assert_eq!(body["mail"], expected, "round {round}: {body}");
        }
    }
    env.settle().await;
    let to_anna = |mails: Vec<local_runner::devmail::DevMail>| {
        let base = anna.split_once('@').unwrap();
        mails
            .into_iter()
            .filter(|m| {
                m.to.iter().any(|to| {
                    to.split_once('@')
                        .is_some_and(|(l, d)| d == base.1 && l.split('+').next() == Some(base.0))
                })
            })
            .collect::<Vec<_>>()
    };
    let flood = to_anna(env.system.mails().await.unwrap());
    assert_eq!(
        flood.len(),
        6,
        "two confirmation mails a day per service, whatever the variant"
    );

    // Anna leaves her own wish for an ID card: it replaces the pending one; no more mail today,
    // and the latest link she got for an ID card confirms her wish as she entered it.
    let (status, body) = env
        .post_json(
            "/api/wishes",
            &json!({"email": anna, "service": "id-card", "offices": ["bilk"], "windows": {"tue": [8], "thu": [8]}}),
        )
        .await;
    assert_eq!(
        (status, body["mail"].as_str()),
        (202, Some("already_sent_today")),
        "{body}"
    );
    env.settle().await;
    assert_eq!(to_anna(env.system.mails().await.unwrap()).len(), 6);
    let latest_id_card = flood
        .iter()
        .rev()
        .find(|m| m.subject.contains("Personalausweis"))
        .unwrap();
    let link = page_link(latest_id_card, "/w/");
    let (_, shown) = env.get_json(&link).await;
    assert_eq!(
        shown["id"], body["id"],
        "the link opens the wish Anna just left"
    );
    assert_eq!(shown["windows"], json!({"thu": [8], "tue": [8]}));
    let (status, confirmed) = env.click(&format!("{link}/confirm")).await;
    assert_eq!(
        (status, confirmed["status"].as_str()),
        (200, Some("waiting"))
    );
    assert_eq!(confirmed["windows"], json!({"thu": [8], "tue": [8]}));

    // A day later there is room for mails again.
    env.system.deps.clock.advance(24 * 60 + 1);
    let (_, body) = env
        .post_json(
            "/api/wishes",
            &json!({"email": tagged(&anna, "later"), "service": "passport", "offices": ["bilk"], "windows": {"mon": [8]}}),
        )
        .await;
    assert_eq!(body["mail"], "sent", "{body}");
}

#[tokio::test]
async fn an_address_may_hold_three_confirmed_wishes_and_pending_ones_do_not_count() {
    let env = TestEnv::spawn().await;
    let email = env.email("busy");
    let submit = |service: &'static str| {
        let (env, email) = (&env, email.clone());
        async move {
            env.post_json(
                "/api/wishes",
                &json!({"email": email, "service": service, "offices": ["bilk"], "windows": {"mon": [8]}}),
            )
            .await
        }
    };
    let confirm_latest = || async {
        let link = page_link(env.mails_to(&email).await.last().unwrap(), "/w/");
        env.click(&format!("{link}/confirm")).await
    };
    for service in ["id-card", "passport", "change-of-address"] {
        assert_eq!(submit(service).await.0, 202);
        assert_eq!(confirm_latest().await.1["status"], "waiting");
    }
    let (status, body) = submit("passport").await;
    assert_eq!(status, 422);
    let message = body["fields"]["email"].as_str().unwrap();
    assert!(message.contains("3 active wishes"), "{message}");
    assert_eq!(
        env.mails_to(&email).await.len(),
        6,
        "the refused wish sent no mail"
    );

    // Cancelling one makes room; two pending wishes then wait, and only one may be confirmed.
    let first = page_link(&env.mails_to(&email).await[0], "/w/");
    assert_eq!(
        env.click(&format!("{first}/cancel")).await.1["status"],
        "cancelled"
    );
    assert_eq!(submit("passport").await.0, 202);
    let passport = page_link(env.mails_to(&email).await.last().unwrap(), "/w/");
    assert_eq!(submit("id-card").await.0, 202);
    let address = page_link(env.mails_to(&email).await.last().unwrap(), "/w/");
    assert_ne!(passport, address);
    assert_eq!(
        env.click(&format!("{passport}/confirm")).await.1["status"],
        "waiting"
    );
    let (status, body) = env.click(&format!("{address}/confirm")).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["fields"]["email"]
            .as_str()
            .unwrap()
            .contains("3 active wishes")
    );
    assert_eq!(env.get_json(&address).await.1["status"], "pending");
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
        shared::app::submit_wish(&deps, &request("a"), None, Some("198.51.100.7"))
            .await
            .is_ok()
    );
    assert!(
        shared::app::submit_wish(&deps, &request("b"), None, Some("198.51.100.7"))
            .await
            .is_ok()
    );
    let third = shared::app::submit_wish(&deps, &request("c"), None, Some("198.51.100.7")).await;
    assert!(
        matches!(third, Err(shared::app::AppError::RateLimited)),
        "{third:?}"
    );
    assert!(
        shared::app::submit_wish(&deps, &request("d"), None, Some("198.51.100.8"))
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
        // Past the deadline: 24 waking hours, at most 42 real ones with quiet hours.
        env.system.deps.clock.advance(48 * 60);
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
