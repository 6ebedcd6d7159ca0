//! The sample events in `events/` are real Lambda payloads: each is answered by its function's
//! handler, in-process, against the emulators.

use crate::helpers::{TestEnv, next_local, page_link, parse_time};
use http_body_util::BodyExt;
use shared::config::AdminAuth;
use tower::ServiceExt;

/// The token in `events/respond-offer-page.json`: well-formed, but no offer has it.
const SAMPLE_OFFER_TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

async fn answer(router: axum::Router, event: &str) -> (u16, serde_json::Value) {
    let request = lambda_http::request::from_str(event).unwrap();
    let response = router.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn sample_http_events_are_answered_by_their_functions() {
    let env = TestEnv::spawn().await;
    let deps = env.system.deps.clone();

    let (status, offices) = answer(
        shared::http::citizen_router(deps.clone()),
        include_str!("../../../events/submit-wish-offices.json"),
    )
    .await;
    assert_eq!(status, 200);
    let bilk = offices
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == "bilk")
        .unwrap();
    assert!(
        bilk["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "Applying for an ID card"),
        "English names with ?lang=en"
    );

    // The console's sign-in page: HTML, with its form's CSRF cookie.
    let request =
        lambda_http::request::from_str(include_str!("../../../events/staff-sign-in-page.json"))
            .unwrap();
    let response = shared::http::staff_router(env.system.staff_deps())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("console-signin=")
    );
    let page = response.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&page).contains("Staff sign-in"));

    // The offer page event carries a placeholder token: as it is, no offer has it.
    let sample = include_str!("../../../events/respond-offer-page.json");
    let sample_path = format!("/o/{SAMPLE_OFFER_TOKEN}");
    let parsed: serde_json::Value = serde_json::from_str(sample).unwrap();
    assert_eq!(
        (
            parsed["rawPath"].as_str(),
            parsed["requestContext"]["http"]["path"].as_str()
        ),
        (Some(sample_path.as_str()), Some(sample_path.as_str()))
    );
    let (status, _) = answer(shared::http::offer_router(deps.clone()), sample).await;
    assert_eq!(status, 404);
    // With a real offer's token in its place, it opens that offer.
    let email = env.email("sample");
    env.confirmed_wish(&email, serde_json::json!({"wed": [8]}))
        .await;
    let start = next_local(chrono::Weekday::Wed, 8, 30, 3);
    assert_eq!(
        env.put_slots(
            &serde_json::json!([{"id": "sample-wed", "office": "bilk", "service": "id-card",
            "start": start, "minutes": 15, "status": "free"}])
        )
        .await,
        ["created"]
    );
    env.settle().await;
    let mails = env.mails_to(&email).await;
    let link = page_link(
        mails
            .iter()
            .find(|m| m.subject.starts_with("Terminangebot"))
            .expect("an offer mail"),
        "/o/",
    );
    let token = link.rsplit('/').next().unwrap();
    let (status, offer) = answer(
        shared::http::offer_router(deps.clone()),
        &sample.replace(SAMPLE_OFFER_TOKEN, token),
    )
    .await;
    assert_eq!(status, 200, "{offer}");
    assert_eq!(
        (
            offer["status"].as_str(),
            offer["slot"]["id"].as_str(),
            offer["slot"]["office"].as_str(),
            offer["slot"]["minutes"].as_u64()
        ),
        (Some("open"), Some("sample-wed"), Some("bilk"), Some(15)),
        "{offer}"
    );
    assert_eq!(
        parse_time(offer["slot"]["start"].as_str().unwrap()),
        parse_time(&start),
        "{offer}"
    );
    assert_eq!(
        offer,
        env.get_json(&link).await.1,
        "the same as the link shows"
    );

    // In AWS the admin routes trust API Gateway's IAM check, visible in the request context.
    let mut iam = deps.clone();
    iam.config.admin = AdminAuth::Iam;
    let event = include_str!("../../../events/admin-stats-iam.json");
    let (status, stats) = answer(shared::http::admin_router(iam.clone()), event).await;
    assert_eq!(status, 200);
    assert!(stats["queues"].is_array());
    let unsigned = event.replace("\"authorizer\"", "\"not-an-authorizer\"");
    assert_eq!(
        answer(shared::http::admin_router(iam), &unsigned).await.0,
        401
    );
}
