//! The sample events in `events/` are real Lambda payloads: each is answered by its function's
//! handler, in-process, against the emulators.

use crate::helpers::TestEnv;
use http_body_util::BodyExt;
use shared::config::AdminAuth;
use tower::ServiceExt;

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

    let (status, _) = answer(
        shared::http::offer_router(deps.clone()),
        include_str!("../../../events/respond-offer-page.json"),
    )
    .await;
    assert_eq!(status, 404);

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
