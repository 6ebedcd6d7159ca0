//! Hostile and malformed input at the HTTP layer: whatever arrives, the answer is never a 5xx,
//! and security headers are always there.

use crate::helpers::{ADMIN_KEY, TestEnv};
use http_body_util::BodyExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tower::ServiceExt;

const REQUESTS: usize = 2_000;

fn random_path(rng: &mut StdRng) -> String {
    let token: String = (0..rng.random_range(0..60))
        .map(|_| {
            let chars = b"ABCxyz019-_%./~";
            chars[rng.random_range(0..chars.len())] as char
        })
        .collect();
    let templates = [
        "/",
        "/api/offices",
        "/api/wishes",
        "/w/{t}",
        "/w/{t}/confirm",
        "/w/{t}/cancel",
        "/w/{t}/keep",
        "/o/{t}",
        "/o/{t}/accept",
        "/o/{t}/decline",
        "/o/{t}/cancel",
        "/admin/slots",
        "/admin/slots/{t}",
        "/admin/slots/{t}/release",
        "/admin/stats",
        "/admin/catalog",
        "/{t}",
    ];
    let mut path = templates[rng.random_range(0..templates.len())].replace("{t}", &token);
    if rng.random_bool(0.3) {
        path.push_str("?lang=");
        path.push_str(["en", "de", "xx", "%ff", ""][rng.random_range(0..5)]);
    }
    // Keep it a valid URI; invalid ones never reach the router.
    path.replace('%', "%25")
}

fn random_body(rng: &mut StdRng) -> Vec<u8> {
    match rng.random_range(0..6) {
        0 => Vec::new(),
        1 => (0..rng.random_range(0..2_000)).map(|_| rng.random()).collect(),
        2 => br#"{"email":"a@b.de","service":"id-card","offices":["bilk"],"windows":{"mon":[8]}}"#.to_vec(),
        3 => br#"[{"id":"x","office":"bilk","service":"id-card","start":"2030-01-01T08:00:00+01:00","minutes":15,"status":"free"}, 5]"#.to_vec(),
        4 => b"email=%ff%fe&offices=bilk&w=mon-99&w=sun-x&service=\xff".to_vec(),
        _ => vec![b'{'; 2 * 1024 * 1024],
    }
}

#[tokio::test]
async fn two_thousand_malformed_requests_never_get_a_server_error() {
    let env = TestEnv::spawn().await;
    let router = env.system.router();
    let mut rng = StdRng::seed_from_u64(20_261_125);
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..REQUESTS {
        let method = ["GET", "POST", "PUT", "DELETE", "PATCH"][rng.random_range(0..5)];
        let path = random_path(&mut rng);
        let content_type = [
            "application/json",
            "application/x-www-form-urlencoded",
            "text/plain",
            "application/json; charset=latin1",
            "",
        ][rng.random_range(0..5)];
        let mut request = http::Request::builder().method(method).uri(&path);
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        if rng.random_bool(0.5) {
            request = request.header("accept", "application/json");
        }
        if rng.random_bool(0.3) {
            request = request.header(
                "authorization",
                if rng.random_bool(0.5) {
                    format!("Bearer {ADMIN_KEY}")
                } else {
                    "Bearer nope".into()
                },
            );
        }
        let body = random_body(&mut rng);
        let request = request.body(axum::body::Body::from(body)).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        assert!(
            status < 500,
            "request {i}: {method} {path} ({content_type}) answered {status}"
        );
        assert_eq!(
            response
                .headers()
                .get("x-frame-options")
                .map(|v| v.to_str().unwrap()),
            Some("DENY"),
            "{path}"
        );
        let _ = response.into_body().collect().await;
        *statuses.entry(status).or_insert(0usize) += 1;
    }
    println!("{REQUESTS} malformed requests, statuses: {statuses:?}");
}
