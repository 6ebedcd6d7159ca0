//! The proof of work on submissions (ALTCHA): solved once, never twice; enforced, monitored or
//! off; and what a browser without JavaScript is told.

use crate::helpers::TestEnv;
use base64::Engine as _;
use serde_json::{Value, json};
use shared::domain::ChallengeMode;

fn wish(email: &str) -> Value {
    json!({"email": email, "service": "id-card", "offices": ["bilk"], "windows": {"mon": [8], "fri": [12]}})
}

fn with_proof(mut wish: Value, proof: &str) -> Value {
    wish["altcha"] = json!(proof);
    wish
}

async fn spawn(mode: ChallengeMode) -> TestEnv {
    TestEnv::spawn_with(|c| {
        c.challenge.mode = mode;
        c.challenge.max_number = 5_000;
    })
    .await
}

/// Posts `wish`, expects the proof refused, and answers what `fields.altcha` says.
async fn refused(env: &TestEnv, wish: &Value) -> String {
    let (status, body) = env.post_json("/api/wishes", wish).await;
    assert_eq!(status, 403, "{body}");
    body["fields"]["altcha"].as_str().unwrap().to_owned()
}

/// A challenge from the API, solved as the widget solves it: the payload it sends.
async fn solved(env: &TestEnv) -> String {
    let (status, c) = env.get_json("/api/challenge").await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["algorithm"], "SHA-256");
    assert_eq!(c["maxnumber"], 5_000);
    let number = altcha_lib_rs::solve_challenge(
        c["challenge"].as_str().unwrap(),
        c["salt"].as_str().unwrap(),
        None,
        Some(5_000),
        0,
    )
    .unwrap();
    let payload = json!({"algorithm": "SHA-256", "challenge": c["challenge"], "number": number,
        "salt": c["salt"], "signature": c["signature"], "took": 250});
    base64::engine::general_purpose::STANDARD.encode(payload.to_string())
}

#[tokio::test]
async fn an_enforced_proof_of_work_is_taken_once_and_a_replay_is_refused() {
    let env = spawn(ChallengeMode::Enforce).await;
    let (anna, bob) = (env.email("anna"), env.email("bob"));

    // Without a proof: refused, nothing stored, no mail.
    assert!(
        refused(&env, &wish(&bob))
            .await
            .contains("GET /api/challenge")
    );

    // A wish with a typo keeps its proof: the fields are checked first.
    let proof = solved(&env).await;
    let mut typo = with_proof(wish(&anna), &proof);
    typo["offices"] = json!(["bilkk"]);
    let (status, body) = env.post_json("/api/wishes", &typo).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = env
        .post_json("/api/wishes", &with_proof(wish(&anna), &proof))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(env.mails_to(&anna).await.len(), 1, "anna's confirmation");

    // The same solution again, for another address: refused.
    assert!(
        refused(&env, &with_proof(wish(&bob), &proof))
            .await
            .contains("already used")
    );

    // A forged one: the number changed.
    let engine = base64::engine::general_purpose::STANDARD;
    let mut forged: Value =
        serde_json::from_slice(&engine.decode(solved(&env).await).unwrap()).unwrap();
    forged["number"] = json!(forged["number"].as_u64().unwrap() ^ 1);
    let forged = engine.encode(forged.to_string());
    assert!(
        refused(&env, &with_proof(wish(&bob), &forged))
            .await
            .contains("does not solve")
    );

    // One solved too long ago: expired (the clock the deadlines use).
    let old = solved(&env).await;
    env.system.deps.clock.advance(31);
    assert!(
        refused(&env, &with_proof(wish(&bob), &old))
            .await
            .contains("expired")
    );
    assert!(env.mails_to(&bob).await.is_empty(), "nothing reached bob");

    // A fresh solution works for bob.
    let (status, body) = env
        .post_json("/api/wishes", &with_proof(wish(&bob), &solved(&env).await))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(env.mails_to(&bob).await.len(), 1);
}

#[tokio::test]
async fn without_javascript_the_enforced_form_says_why_and_which_office_takes_the_wish() {
    let env = spawn(ChallengeMode::Enforce).await;
    let form = env.http.get(env.url("/?lang=en")).send().await.unwrap();
    let csp = form.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("worker-src 'self'"),
        "{csp}"
    );
    let html = form.text().await.unwrap();
    assert!(
        html.contains(r#"<script type="module" src="/assets/altcha/init.js"></script>"#),
        "{}",
        &html[..1200]
    );
    assert!(html.contains("<altcha-widget challenge=\"/api/challenge\" name=\"altcha\""));
    let noscript = &html[html.find("<noscript>").unwrap()..html.find("</noscript>").unwrap()];
    assert!(
        noscript.contains("This form needs JavaScript"),
        "{noscript}"
    );
    assert!(
        noscript.contains(r#"<a href="tel:02118991">0211 89-91</a>"#),
        "{noscript}"
    );
    assert!(noscript.contains("Bürgerbüro Bilk"));

    // The form sent without the widget's field: back, as filled in, saying why and whom to call.
    let anna = env.email("anna");
    let body = format!(
        "email={}&service=id-card&offices=bilk&w=mon-8&language=en",
        form_urlencoded::byte_serialize(anna.as_bytes()).collect::<String>()
    );
    let r = env
        .http
        .post(env.url("/api/wishes?lang=en"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    let summary = &html[html.find(r#"id="error-summary""#).unwrap()..];
    let summary = &summary[..summary.find("</ul>").unwrap()];
    assert!(
        summary.contains("JavaScript may be switched off"),
        "{summary}"
    );
    assert!(
        html.contains(&format!(r#"value="{anna}""#)),
        "the address is kept"
    );
    assert!(
        html.contains(r#"value="mon-8" checked"#),
        "the windows are kept"
    );
    let error = &html[html.find(r#"id="altcha-error""#).unwrap()..];
    assert!(
        error.contains("tel:02118991"),
        "the numbers next to the error"
    );
    assert!(env.mails_to(&anna).await.is_empty());

    // The widget's files come from here, cacheable; nothing else under their path.
    for (file, kind) in [
        ("init.js", "text/javascript"),
        ("altcha.js", "text/javascript"),
        ("sha.js", "text/javascript"),
        ("de.js", "text/javascript"),
        ("altcha.css", "text/css"),
    ] {
        let r = env
            .http
            .get(env.url(&format!("/assets/altcha/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{file}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert_eq!(r.headers()["cache-control"], "public, max-age=86400");
        assert!(!r.bytes().await.unwrap().is_empty());
    }
    for other in ["/assets/altcha/../init.js", "/assets/altcha/main.js"] {
        let r = env.http.get(env.url(other)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{other}");
    }
}

#[tokio::test]
async fn a_monitored_proof_is_checked_but_never_refuses_and_off_asks_for_none() {
    let env = spawn(ChallengeMode::Monitor).await;
    let html = env.get_html("/").await;
    assert!(html.contains("<altcha-widget"), "the form solves it");
    assert!(!html.contains("<noscript>"), "and works without JavaScript");
    let (status, body) = env
        .post_json("/api/wishes", &wish(&env.email("anna")))
        .await;
    assert_eq!(status, 202, "no proof, still taken: {body}");
    let proof = solved(&env).await;
    for name in ["bob", "carla"] {
        let (status, body) = env
            .post_json("/api/wishes", &with_proof(wish(&env.email(name)), &proof))
            .await;
        assert_eq!(status, 202, "a replay only shows in the log: {body}");
    }

    let env = spawn(ChallengeMode::Off).await;
    let html = env.get_html("/").await;
    assert!(!html.contains("altcha"), "no widget, no script");
    assert!(!html.contains("<script"));
    let (status, body) = env
        .post_json("/api/wishes", &with_proof(wish(&env.email("anna")), "junk"))
        .await;
    assert_eq!(status, 202, "{body}");
}
