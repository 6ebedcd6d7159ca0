//! The OpenAPI document: served where an integrator looks for it, and true to what the API
//! answers (every JSON answer of the system tests is checked against it by the helpers).

use crate::helpers::{TestEnv, assert_matches_openapi};
use serde_json::json;

#[tokio::test]
async fn the_openapi_document_is_served_and_the_answers_of_a_whole_flow_match_it() {
    let env = TestEnv::spawn().await;
    let r = env
        .http
        .get(env.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/admin/events"]["get"].is_object());

    // Each answer below is checked against the document by the helpers; a few by hand too.
    let (status, offices) = env.get_json("/api/offices").await;
    assert_eq!(status, 200);
    assert_matches_openapi("GET", "/api/offices", 200, Some(&offices));
    let (status, _) = env
        .post_json(
            "/api/wishes",
            &json!({"email": "nope", "service": "id-card"}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = env.get_json("/w/no-such-token").await;
    assert_eq!(status, 404);
    let (status, _) = env.get_json("/o/no-such-token").await;
    assert_eq!(status, 404);
    let page = env
        .confirmed_wish(&env.email("openapi"), json!({"mon": [8]}))
        .await;
    let (status, wish) = env.get_json(&page).await;
    assert_eq!((status, wish["status"].as_str()), (200, Some("waiting")));
    let monday = crate::helpers::next_local(chrono::Weekday::Mon, 8, 15, 3);
    env.put_slots(
        &json!([{"id": "openapi-mon", "office": "bilk", "service": "id-card",
        "start": monday, "minutes": 15, "status": "free"}]),
    )
    .await;
    let offer = env.mails_to(&env.email("openapi")).await;
    let offer_page = crate::helpers::page_link(offer.last().unwrap(), "/o/");
    let (status, _) = env.get_json(&offer_page).await;
    assert_eq!(status, 200);
    let (status, accepted) = env.click(&format!("{offer_page}/accept")).await;
    assert_eq!(
        (status, accepted["status"].as_str()),
        (200, Some("accepted"))
    );
    for path in [
        "/admin/slots/openapi-mon",
        "/admin/stats",
        "/admin/events?limit=5",
    ] {
        let (status, _) = env.admin(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}");
    }
    let (status, _) = env
        .admin(
            reqwest::Method::POST,
            "/admin/slots/openapi-mon/release",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = env
        .admin(reqwest::Method::GET, "/admin/slots/no-such-slot", None)
        .await;
    assert_eq!(status, 404);

    // The check itself refuses what the document does not say.
    let refused = std::panic::catch_unwind(|| {
        assert_matches_openapi("GET", "/admin/stats", 200, Some(&json!({"queues": "many"})));
    });
    assert!(refused.is_err(), "a wrong body is refused");
    let refused = std::panic::catch_unwind(|| {
        assert_matches_openapi("GET", "/api/offices", 418, None);
    });
    assert!(refused.is_err(), "an undocumented status is refused");
}
