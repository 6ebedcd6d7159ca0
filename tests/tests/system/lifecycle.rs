//! The rest of the lifecycle: maximum age, the office withdrawing a slot, English mails.

use crate::helpers::{TestEnv, next_local, page_link};
use chrono::Weekday;
use reqwest::Method;
use serde_json::json;

fn windows() -> serde_json::Value {
    json!({"mon": [8], "tue": [8], "wed": [8], "thu": [8], "fri": [12]})
}

#[tokio::test]
async fn an_old_wish_is_reminded_can_be_kept_and_otherwise_expires() {
    let env = TestEnv::spawn().await;
    let anna = env.email("anna");
    let wish_link = env.confirmed_wish(&anna, windows()).await;
    assert_eq!(env.system.rescan().await.unwrap()["wishes_reminded"], 0);

    // 83 days later: a week before the 90-day limit, the reminder goes out, once.
    env.system.deps.clock.advance(83 * 24 * 60 + 1);
    assert_eq!(env.system.rescan().await.unwrap()["wishes_reminded"], 1);
    assert_eq!(env.system.rescan().await.unwrap()["wishes_reminded"], 0);
    let mails = env.mails_to(&anna).await;
    assert_eq!(mails.len(), 3);
    assert!(
        mails[2].subject.starts_with("Noch interessiert?"),
        "{}",
        mails[2].subject
    );
    let fresh_link = mails[2]
        .links
        .iter()
        .find(|l| l.contains("/w/"))
        .unwrap()
        .clone();
    assert_ne!(
        fresh_link, wish_link,
        "a fresh link is minted for the reminder"
    );
    let page = env
        .http
        .get(&fresh_link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(
        page.contains("/keep"),
        "the wish page offers to keep the wish"
    );

    // She keeps it: the age starts again, her place stays, a confirmation is mailed.
    let (_, kept) = env.click(&format!("{fresh_link}/keep")).await;
    assert_eq!(kept["status"], "waiting");
    assert_eq!(
        env.click(&format!("{fresh_link}/keep")).await.1["status"],
        "waiting"
    );
    assert_eq!(
        env.mails_to(&anna).await.len(),
        4,
        "keeping twice mails once"
    );
    // Her entries were written again with their new time to live, not counted twice.
    crate::helpers::assert_line_counts_match_entries(&env).await;

    // Another 83 days: reminded again; she does not answer; a week later the wish ends.
    env.system.deps.clock.advance(83 * 24 * 60 + 1);
    assert_eq!(env.system.rescan().await.unwrap()["wishes_reminded"], 1);
    env.system.deps.clock.advance(7 * 24 * 60);
    assert_eq!(env.system.rescan().await.unwrap()["wishes_expired"], 1);
    // The expired wish left its lines, and its counts with it.
    crate::helpers::assert_line_counts_match_entries(&env).await;
    let mails = env.mails_to(&anna).await;
    assert_eq!(mails.len(), 6);
    assert!(
        mails[5].subject.starts_with("Terminwunsch beendet"),
        "{}",
        mails[5].subject
    );
    // Links live 120 days; every later mail carries a fresh one, and the last one shows the end.
    let last_link = mails[5].links.iter().find(|l| l.contains("/w/")).unwrap();
    assert_eq!(env.get_json(last_link).await.1["status"], "expired");
    assert!(
        mails[5]
            .headers
            .iter()
            .all(|(k, _)| k != "List-Unsubscribe"),
        "an ended wish has nothing to unsubscribe from"
    );
}

#[tokio::test]
async fn the_office_withdraws_an_offered_slot_and_the_wish_keeps_waiting() {
    let env = TestEnv::spawn().await;
    let anna = env.email("anna");
    let wish_link = env.confirmed_wish(&anna, windows()).await;
    let tue = next_local(Weekday::Tue, 8, 15, 3);
    assert_eq!(env.put_slots(&json!([{"id": "bilk-tue", "office": "bilk", "service": "id-card", "start": tue, "minutes": 15, "status": "free"}])).await, ["created"]);
    env.settle().await;
    let offer_link = page_link(&env.mails_to(&anna).await[2], "/o/");
    assert!(
        env.mails_to(&anna).await[2]
            .links
            .iter()
            .any(|l| l.contains("/w/")),
        "the offer mail links the wish too"
    );

    let r = env
        .http
        .delete(env.url("/admin/slots/bilk-tue"))
        .bearer_auth(crate::helpers::ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        env.admin(Method::GET, "/admin/slots/bilk-tue", None)
            .await
            .0,
        404
    );
    assert_eq!(env.get_json(&offer_link).await.1["status"], "withdrawn");
    assert_eq!(env.get_json(&wish_link).await.1["status"], "waiting");
    let mails = env.mails_to(&anna).await;
    assert_eq!(mails.len(), 4);
    assert!(
        mails[3].subject.contains("zurückgezogen"),
        "{}",
        mails[3].subject
    );
    // Accepting the withdrawn offer changes nothing.
    assert_eq!(
        env.click(&format!("{offer_link}/accept")).await.1["status"],
        "withdrawn"
    );
    let r = env
        .http
        .delete(env.url("/admin/slots/bilk-tue"))
        .bearer_auth(crate::helpers::ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_wish_in_english_gets_english_mails_and_pages() {
    let env = TestEnv::spawn().await;
    let tom = env.email("tom");
    let (status, _) = env
        .post_json(
            "/api/wishes",
            &json!({"email": tom, "service": "passport", "offices": ["bilk", "altstadt"], "windows": {"sat": [10], "mon": [9]}, "language": "en"}),
        )
        .await;
    assert_eq!(status, 202);
    let optin = &env.mails_to(&tom).await[0];
    assert!(
        optin
            .subject
            .starts_with("Please confirm your appointment wish: Applying for a passport"),
        "{}",
        optin.subject
    );
    let link = page_link(optin, "/w/");
    env.click(&format!("{link}/confirm")).await;
    let page = env
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("lang=\"en\"") && page.contains("Your appointment wish"));
    // Saturday 10:00 exists only at Altstadt.
    let sat = next_local(Weekday::Sat, 10, 0, 3);
    assert_eq!(env.put_slots(&json!([{"id": "alt-sat", "office": "altstadt", "service": "passport", "start": sat, "minutes": 20, "status": "free"}])).await, ["created"]);
    env.settle().await;
    let offer = &env.mails_to(&tom).await[2];
    assert!(
        offer
            .subject
            .starts_with("Appointment offer: Bürgerbüro Altstadt, Sat "),
        "{}",
        offer.subject
    );
    assert!(offer.text.contains("Please answer by"));
}

/// A wish cancelled before it was confirmed keeps nothing for 30 days: its data goes within the
/// 24 hours an unconfirmed wish lives anyway.
#[tokio::test]
async fn a_pending_wish_cancelled_is_deleted_within_a_day() {
    let env = TestEnv::spawn().await;
    let email = env.email("second-thoughts");
    let (status, submitted) = env
        .post_json(
            "/api/wishes",
            &json!({"email": email, "service": "id-card", "offices": ["bilk"], "windows": windows()}),
        )
        .await;
    assert_eq!(status, 202);
    let link = page_link(&env.mails_to(&email).await[0], "/w/");
    let (status, wish) = env.click(&format!("{link}/cancel")).await;
    assert_eq!((status, wish["status"].as_str()), (200, Some("cancelled")));
    let item = env
        .system
        .clients
        .dynamodb
        .get_item()
        .table_name(&env.system.infra.wishes_table)
        .key(
            shared::store::keys::PK,
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "{}{}",
                shared::store::keys::WISH_PREFIX,
                submitted["id"].as_str().unwrap()
            )),
        )
        .key(
            shared::store::keys::SK,
            aws_sdk_dynamodb::types::AttributeValue::S(shared::store::keys::WISH_SK.into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the cancelled wish, until its TTL");
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    let limit = (env.system.deps.clock.now() + chrono::Duration::hours(24)).timestamp();
    assert!(
        expires <= limit,
        "expires {expires}, more than a day after the cancel ({limit})"
    );
}
