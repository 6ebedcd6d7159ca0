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

/// Someone who knows an address posts wishes for it, for every service, under variants of it,
/// again and again: at most two confirmation mails a day per service reach its owner, whatever
/// the variant; each link confirms the wish its mail was sent for; a different wish for a
/// service whose mails are used up is refused for the day, saying from when (rather than
/// slipped under a link the owner already holds); the owner's own wish goes through the next day.
#[tokio::test]
async fn nobody_who_knows_an_address_can_flood_it_or_change_what_its_links_confirm() {
    let env = TestEnv::spawn().await;
    let anna = env.email("anna");
    let services = ["id-card", "passport", "change-of-address"];
    let mut ids = std::collections::BTreeSet::new();
    let mut refused = 0;
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
            match (status, body["mail"].as_str()) {
                (202, Some("sent")) => {
                    ids.insert(body["id"].as_str().unwrap().to_owned());
                }
                // Only the very same wish again gets no mail: it is the pending wish it repeats.
                (202, Some("already_sent_today")) => {
                    assert!(ids.contains(body["id"].as_str().unwrap()), "{body}");
                }
                (429, _) => {
                    assert!(body["fields"]["email"].is_string(), "{body}");
                    refused += 1;
                }
                other => panic!("round {round}, {service}: {other:?} {body}"),
            }
        }
    }
    assert!(refused > 0);
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
    // Each link opens the wish its mail was sent for (every one of them for Monday 8–9).
    for mail in &flood {
        let (_, shown) = env.get_json(&page_link(mail, "/w/")).await;
        assert!(ids.contains(shown["id"].as_str().unwrap()), "{shown}");
        assert_eq!(shown["windows"], json!({"mon": [8]}));
        assert_eq!(shown["status"], "pending");
    }

    // Anna's own, different ID-card wish: today's mails for it are used up, so it is refused,
    // saying from when, and no link she holds confirms it instead.
    let hers = json!({"email": anna, "service": "id-card", "offices": ["bilk"], "windows": {"tue": [8], "thu": [8]}});
    let (status, body) = env.post_json("/api/wishes", &hers).await;
    assert_eq!(status, 429, "{body}");
    let said = body["fields"]["email"].as_str().unwrap();
    assert!(said.contains("send this one again after"), "{said}");
    env.settle().await;
    assert_eq!(to_anna(env.system.mails().await.unwrap()).len(), 6);

    // A day later there is room for mails again: her wish, with a mail and a link of its own.
    env.system.deps.clock.advance(24 * 60 + 1);
    let (status, body) = env.post_json("/api/wishes", &hers).await;
    assert_eq!(
        (status, body["mail"].as_str()),
        (202, Some("sent")),
        "{body}"
    );
    assert!(!ids.contains(body["id"].as_str().unwrap()));
    let link = page_link(env.mails_to(&anna).await.last().unwrap(), "/w/");
    let (status, confirmed) = env.click(&format!("{link}/confirm")).await;
    assert_eq!(
        (status, confirmed["status"].as_str()),
        (200, Some("waiting"))
    );
    assert_eq!(confirmed["id"], body["id"]);
    assert_eq!(confirmed["windows"], json!({"thu": [8], "tue": [8]}));
}

/// A submission never changes what a link already sent confirms: a later wish for the same
/// address and service (under a `+tag` variant or the address itself) is a wish of its own,
/// with its own id and link; once the day's confirmation mails are used up, a different wish is
/// refused rather than slipped under an earlier link; only the very same wish again keeps the
/// pending one's id.
#[tokio::test]
async fn a_later_submission_never_changes_what_an_earlier_link_confirms() {
    let env = TestEnv::spawn().await;
    let anna = env.email("anna");
    let variant = tagged(&anna, "x");
    let submit = |email: &str, windows: serde_json::Value| {
        let body =
            json!({"email": email, "service": "id-card", "offices": ["bilk"], "windows": windows});
        let env = &env;
        async move { env.post_json("/api/wishes", &body).await }
    };
    // Anna leaves her wish; her mail links it.
    let (status, hers) = submit(&anna, json!({"tue": [8]})).await;
    assert_eq!(
        (status, hers["mail"].as_str()),
        (202, Some("sent")),
        "{hers}"
    );
    let link = page_link(&env.mails_to(&anna).await[0], "/w/");

    // Someone leaves another wish for the same service under a variant of her address.
    let (status, other) = submit(&variant, json!({"fri": [12]})).await;
    assert_eq!(
        (status, other["mail"].as_str()),
        (202, Some("sent")),
        "{other}"
    );
    assert_ne!(other["id"], hers["id"], "a wish of its own");
    let (_, shown) = env.get_json(&link).await;
    assert_eq!(shown["id"], hers["id"]);
    assert_eq!(
        shown["windows"],
        json!({"tue": [8]}),
        "her link shows her wish"
    );

    // The day's two mails for the address and service are sent: a different wish is refused,
    // on its address, saying how to go on; nothing is stored or sent.
    let (status, refused) = submit(&anna, json!({"wed": [8]})).await;
    assert_eq!(status, 429, "{refused}");
    let said = refused["fields"]["email"].as_str().unwrap();
    assert!(said.contains("confirm the wish in one of them"), "{said}");
    // The form says so in its language, on the address.
    let page = env
        .http
        .post(env.url("/api/wishes?lang=de"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "email={}&service=id-card&offices=bilk&w=wed-8&language=de",
            anna.replace('@', "%40")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    let html = page.text().await.unwrap().replace('\u{a0}', " ");
    assert!(html.contains("bestätigen Sie ihn mit ihrem Link"), "{html}");
    // The very same wish again is that wish: its id, no mail of its own.
    let (status, again) = submit(&anna, json!({"tue": [8]})).await;
    assert_eq!(
        (status, again["mail"].as_str()),
        (202, Some("already_sent_today")),
        "{again}"
    );
    assert_eq!(again["id"], hers["id"]);
    env.settle().await;
    assert_eq!(env.sent_to(&anna).await.len(), 1);

    // Her link confirms what she left.
    let (status, confirmed) = env.click(&format!("{link}/confirm")).await;
    assert_eq!(
        (status, confirmed["status"].as_str()),
        (200, Some("waiting"))
    );
    assert_eq!(confirmed["id"], hers["id"]);
    assert_eq!(confirmed["windows"], json!({"tue": [8]}));
    // The other wish waits for its own link, unchanged.
    let other_link = page_link(&env.mails_to(&variant).await[0], "/w/");
    let (_, shown) = env.get_json(&other_link).await;
    assert_eq!(
        (&shown["id"], shown["status"].as_str(), &shown["windows"]),
        (&other["id"], Some("pending"), &json!({"fri": [12]}))
    );
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
