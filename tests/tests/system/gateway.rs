//! What API Gateway enforces, through the runner's gateway built from `infra/template.yaml`:
//! routes, the function each integration names, the invoke permissions, and the IAM
//! authorisation of the admin routes (SigV4 signed by the SDK's own signer).

use std::time::SystemTime;

use crate::helpers::TestEnv;
use local_runner::gateway::{ApiTable, IamCallers};
use local_runner::runner::{LOCAL_IAM_ACCESS_KEY, repo_root};

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    base
}

/// The real template with `from` replaced by `to` (which must occur), written apart.
fn mutated_template(from: &str, to: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo_root().join("infra/template.yaml")).unwrap();
    assert!(text.contains(from), "the template no longer holds {from:?}");
    let path = std::env::temp_dir().join(format!(
        "template-gateway-{}-{}.yaml",
        std::process::id(),
        to.len()
    ));
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, String) {
    let r = http.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn appointment_pages_reach_respond_offer_only_while_its_permission_covers_them() {
    let env = TestEnv::spawn().await;
    // Through the template as it deploys: respond-offer answers (its own 404 page).
    let (status, body) = get(&env.http, &env.url("/a/no-such-token")).await;
    assert_eq!(status, 404);
    assert!(
        body.contains("<html"),
        "respond-offer's page, not API Gateway's: {body}"
    );
    let (status, body) = get(&env.http, &env.url("/a/no-such-token/calendar.ics")).await;
    assert_eq!(status, 404, "{body}");
    assert!(!body.contains("Internal Server Error"), "{body}");

    // No route of its own: the $default route, submit-wish's 404 page.
    let (status, body) = get(&env.http, &env.url("/no/such/route")).await;
    assert_eq!(status, 404);
    assert!(body.contains("<footer>"), "{body}");
    let r = env
        .http
        .delete(env.url("/o/some-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "DELETE has no route on /o/{{token}}");

    // The permission narrowed as it was before the fix: every appointment route answers 500,
    // offers still work.
    let path = mutated_template("${HttpApi}/*/*/a/*\"", "${HttpApi}/*/*/o/*\"");
    let api = ApiTable::from_template(&path, env.system.api.values.clone()).unwrap();
    let _ = std::fs::remove_file(&path);
    let base = serve(env.system.try_router(&api).unwrap()).await;
    for p in [
        "/a/no-such-token",
        "/a/no-such-token/calendar.ics",
        "/a/no-such-token/return",
        "/a/no-such-token/earlier",
    ] {
        let (status, body) = get(&env.http, &format!("{base}{p}")).await;
        assert_eq!(
            (status, body.as_str()),
            (500, r#"{"message":"Internal Server Error"}"#),
            "{p}"
        );
    }
    let (status, body) = get(&env.http, &format!("{base}/o/no-such-token")).await;
    assert_eq!(status, 404, "{body}");

    // Without the $default route, an unknown path gets API Gateway's own answer.
    let path = mutated_template(
        "      RouteKey: $default\n",
        "      RouteKey: GET /not-routed\n",
    );
    let api = ApiTable::from_template(&path, env.system.api.values.clone()).unwrap();
    let _ = std::fs::remove_file(&path);
    let base = serve(env.system.try_router(&api).unwrap()).await;
    let (status, body) = get(&env.http, &format!("{base}/no/such/route")).await;
    assert_eq!((status, body.as_str()), (404, r#"{"message":"Not Found"}"#));
}

/// A request signed as the SDK signs it for `execute-api`.
fn signed(
    method: &str,
    url: &str,
    body: &[u8],
    access_key: &str,
    secret: &str,
) -> http::Request<Vec<u8>> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity =
        aws_credential_types::Credentials::new(access_key, secret, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-central-1")
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut request = http::Request::builder()
        .method(method)
        .uri(url)
        .header("host", url.split('/').nth(2).unwrap())
        .header("content-type", "application/json")
        .body(body.to_vec())
        .unwrap();
    let headers = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap()));
    let signable = SignableRequest::new(method, url, headers, SignableBody::Bytes(body)).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut request);
    request
}

async fn send(http: &reqwest::Client, request: http::Request<Vec<u8>>) -> (u16, String) {
    let request = reqwest::Request::try_from(request).unwrap();
    let r = http.execute(request).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn in_iam_mode_admin_routes_need_the_signature_of_a_caller_the_policy_allows() {
    let env = TestEnv::spawn_with(|c| c.admin = shared::config::AdminAuth::Iam).await;
    let url = env.url("/admin/stats");
    let forbidden = (403, r#"{"message":"Forbidden"}"#.to_owned());

    assert_eq!(get(&env.http, &url).await, forbidden, "unsigned");
    let r = env
        .http
        .get(&url)
        .bearer_auth(crate::helpers::ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a bearer key is no signature");
    let wrong = signed("GET", &url, b"", LOCAL_IAM_ACCESS_KEY, "not-the-secret");
    assert_eq!(send(&env.http, wrong).await, forbidden, "a wrong secret");

    let ok = signed(
        "GET",
        &url,
        b"",
        LOCAL_IAM_ACCESS_KEY,
        &env.system.iam_secret,
    );
    let (status, body) = send(&env.http, ok).await;
    assert_eq!(status, 200, "{body}");
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(stats.is_object(), "{body}");

    // A body is signed too: PUT /admin/slots with an empty batch.
    let put = signed(
        "PUT",
        &env.url("/admin/slots"),
        b"[]",
        LOCAL_IAM_ACCESS_KEY,
        &env.system.iam_secret,
    );
    let (status, body) = send(&env.http, put).await;
    assert_ne!(status, 403, "{body}");

    // The caller's policy narrowed to the slots: the stats are no longer allowed.
    let path = mutated_template(
        "${HttpApi}/*/*/admin/*\"\n\n  # ====",
        "${HttpApi}/*/*/admin/slots*\"\n\n  # ====",
    );
    let mut callers = IamCallers::new("eu-central-1");
    callers
        .add(
            &path,
            &env.system.api.values,
            "AdminApiInvokePolicy",
            "booking-system",
            LOCAL_IAM_ACCESS_KEY,
            &env.system.iam_secret,
        )
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let mut narrowed = env.system.clone();
    narrowed.iam_callers = std::sync::Arc::new(callers);
    let base = serve(narrowed.try_router(&narrowed.api).unwrap()).await;
    let url = format!("{base}/admin/stats");
    let request = signed(
        "GET",
        &url,
        b"",
        LOCAL_IAM_ACCESS_KEY,
        &env.system.iam_secret,
    );
    assert_eq!(
        send(&env.http, request).await,
        forbidden,
        "not allowed by the policy"
    );
}
