//! Hostile and malformed input at the HTTP layer: whatever arrives, the answer is never a 5xx,
//! and security headers are always there.

use crate::helpers::{ADMIN_KEY, TestEnv};
use http_body_util::BodyExt;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tower::ServiceExt;

const REQUESTS: usize = 10_000;

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
        "/a/{t}",
        "/a/{t}/calendar.ics",
        "/a/{t}/return",
        "/a/{t}/earlier",
        "/admin/slots",
        "/admin/slots/{t}",
        "/admin/slots/{t}/release",
        "/admin/slots/{t}/earlier",
        "/admin/stats",
        "/admin/catalog",
        "/admin/events",
        "/admin/events?after={t}&limit={t}",
        "/admin/allocations/verify?from={t}&to={t}",
        "/api/openapi.json",
        "/api/challenge",
        "/assets/altcha/{t}",
        "/assets/altcha/init.js",
        "/barrierefreiheit",
        "/accessibility",
        "/_dev/mail",
        "/_dev/mail/{t}/attachment/{t}",
        "/staff",
        "/staff/sign-in",
        "/staff/sign-out",
        "/staff/overview",
        "/staff/slots",
        "/staff/slots?office={t}&id={t}",
        "/staff/slots/upload",
        "/staff/slots/release",
        "/staff/slots/withdraw",
        "/staff/support",
        "/staff/support/cancel",
        "/staff/audit",
        "/staff/allocations?from={t}&to={t}",
        "/staff/phone",
        "/staff/calls",
        "/staff/calls/answer",
        "/staff/sign-in/challenge",
        "/staff/{t}",
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
    match rng.random_range(0..10) {
        0 => Vec::new(),
        1 => (0..rng.random_range(0..2_000)).map(|_| rng.random()).collect(),
        2 => br#"{"email":"a@b.de","service":"id-card","offices":["bilk"],"windows":{"mon":[8]}}"#.to_vec(),
        3 => br#"[{"id":"x","office":"bilk","service":"id-card","start":"2030-01-01T08:00:00+01:00","minutes":15,"status":"free"}, 5]"#.to_vec(),
        4 => b"email=%ff%fe&offices=bilk&w=mon-99&w=sun-x&service=\xff".to_vec(),
        // Unknown fields, wrong types, unicode addresses.
        5 => br#"{"email":"j\u00fcrgen@m\u00fcller.de","service":"id-card","offices":["bilk"],"window":{"mon":[8]},"persons":99}"#.to_vec(),
        6 => br#"[{"id":"x","office":"bilk","service":"id-card","start":"2030-01-01T08:00:00+01:00","minutes":15,"status":"free","note":"x"}]"#.to_vec(),
        7 => br#"{"services":[],"offices":[],"extra":1}"#.to_vec(),
        // Proofs of work that are none: not base64, base64 of junk, a forged solution.
        8 if rng.random_bool(0.5) => {
            let proofs = ["%%%", "e30=", "eyJhbGdvcml0aG0iOiJTSEEtMjU2IiwiY2hhbGxlbmdlIjoiMDAiLCJudW1iZXIiOjEsInNhbHQiOiJ4P2V4cGlyZXM9OTk5OTk5OTk5OSYiLCJzaWduYXR1cmUiOiIwMCJ9", ""];
            let proof = proofs[rng.random_range(0..proofs.len())];
            format!(r#"{{"email":"a@b.de","service":"id-card","offices":["bilk"],"windows":{{"mon":[8]}},"altcha":"{proof}"}}"#).into_bytes()
        }
        // The console's forms: a CSRF value the cookies below may or may not carry, odd names.
        8 if rng.random_bool(0.5) => {
            let names = ["clerk%40x.de", "%ff%fe", "", "a%00b", &"x".repeat(300)];
            let name = names[rng.random_range(0..names.len())];
            format!("csrf=hostile-csrf&username={name}&password=Pass-word-1234&email={name}&wish={name}&id={name}").into_bytes()
        }
        // Just over the public limit (64 KiB), and over the admin one (1 MiB).
        8 => vec![b'['; 65 * 1024],
        _ => vec![b'{'; 1024 * 1024 + 1],
    }
}

#[tokio::test]
async fn ten_thousand_malformed_requests_never_get_a_server_error() {
    // The proof of work checked (and logged) but not enforced: every submission goes through
    // its check and on to the wish's.
    let env =
        TestEnv::spawn_with(|c| c.challenge.mode = shared::domain::ChallengeMode::Monitor).await;
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
        if rng.random_bool(0.3) {
            // The console's cookies: its sign-in form's value, forged or garbled sessions.
            let cookies = [
                "console-signin=hostile-csrf",
                "console-session=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
                "console-session=eyJhbGciOiJSUzI1NiIsImtpZCI6ImR1bW15In0.e30.AAAA",
                "console-session=%ff%fe; console-signin=",
                "console-session=a.b.c; console-signin=hostile-csrf",
                "console-signin=hostile-csrf; console-challenge=5b22746f7470222c2261222c2262225d",
                "console-signin=hostile-csrf; console-challenge=%zz",
            ];
            request = request.header("cookie", cookies[rng.random_range(0..cookies.len())]);
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

/// Public routes read at most 64 KiB (the admin routes 1 MiB), and a body that passes the limit
/// gets the JSON error shape; an unknown field is refused with `400` naming it, never ignored.
#[tokio::test]
async fn bodies_are_limited_and_unknown_fields_named() {
    let env = TestEnv::spawn().await;
    let post = |path: &'static str, body: Vec<u8>| {
        let env = &env;
        async move {
            let r = env
                .http
                .post(env.url(path))
                .header("content-type", "application/json")
                .bearer_auth(ADMIN_KEY)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (
                status,
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let mut big = br#"{"email":"a@b.de","service":"id-card","offices":["bilk"],"windows":{"mon":[8]},"language":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', 64 * 1024));
    big.extend(br#""}"#);
    let (status, body) = post("/api/wishes", big).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("64 KiB"), "{body}");
    assert!(body["fields"].is_object());

    let (status, body) = env
        .post_json(
            "/api/wishes",
            &serde_json::json!({"email": env.email("typo"), "service": "id-card", "offices": ["bilk"], "window": {"mon": [8]}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["fields"]["window"]
            .as_str()
            .unwrap()
            .contains("unknown field"),
        "{body}"
    );
    assert!(
        env.mails_to(&env.email("typo")).await.is_empty(),
        "nothing stored, nothing sent"
    );

    let row = |extra: &str| {
        format!(
            r#"{{"id":"lim-1","office":"bilk","service":"id-card","start":"2030-01-07T08:00:00+01:00","minutes":15,"status":"free"{extra}}}"#
        )
    };
    let (status, body) = env
        .admin(
            reqwest::Method::PUT,
            "/admin/slots",
            Some(
                serde_json::from_str(&format!("[{}, {}]", row(""), row(r#","statu":"x""#)))
                    .unwrap(),
            ),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["fields"]["[1].statu"].is_string(), "{body}");
    let (_, slot) = env
        .admin(reqwest::Method::GET, "/admin/slots/lim-1", None)
        .await;
    assert_eq!(slot["error"], "no such slot", "nothing stored: {slot}");

    // The slot batch may be far larger than a public body.
    let rows: Vec<String> = (0..900)
        .map(|i| row("").replace("lim-1", &format!("lim-{i}")))
        .collect();
    let batch = format!("[{}]", rows.join(","));
    assert!(batch.len() > 100 * 1024);
    let r = env
        .http
        .put(env.url("/admin/slots"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let mut catalog: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(local_runner::runner::repo_root().join("data/catalog.json"))
            .unwrap(),
    )
    .unwrap();
    catalog["offices"][0]["phone_number"] = serde_json::json!("0211 1");
    let (status, body) = env
        .admin(reqwest::Method::PUT, "/admin/catalog", Some(catalog))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["fields"]["catalog"]
            .as_str()
            .unwrap()
            .contains("phone_number"),
        "{body}"
    );
}
