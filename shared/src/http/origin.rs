//! The public routers (and the staff console) behind the optional CloudFront distribution with AWS WAF (`infra/`,
//! `UseEdge`). CloudFront adds the stack's secret to every request it forwards
//! (`X-Origin-Verify`); with `ORIGIN_SECRET` set, a request without it came to the API's own URL
//! around the WAF and is refused with 403. Only a request that carries it may name its viewer
//! (`CloudFront-Viewer-Address`): anyone could send that header to the API directly.

use super::{LangQuery, json_error, language, page, wants_json};
use crate::config::{Config, Secret};
use crate::render::texts;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;

/// The header CloudFront sends the secret in (the distribution's origin custom header).
const ORIGIN_VERIFY: &str = "X-Origin-Verify";
/// The viewer's `ip:port` as CloudFront saw it (forwarded by the origin request policy).
const VIEWER_ADDRESS: &str = "CloudFront-Viewer-Address";

/// The layer's state: the secret and the public address a refusal names; none without
/// `ORIGIN_SECRET`, and then every request passes.
#[derive(Clone)]
pub(crate) struct CloudFront(Option<Arc<Gate>>);

struct Gate {
    secret: Secret,
    public_base_url: String,
}

impl CloudFront {
    pub(crate) fn of(config: &Config) -> Self {
        Self(config.origin_secret.clone().map(|secret| {
            Arc::new(Gate {
                secret,
                public_base_url: config.public_base_url.clone(),
            })
        }))
    }
}

/// The viewer of a request that came through CloudFront, for `ClientAddr`: `None` when
/// CloudFront named none (API Gateway's `sourceIp` is then CloudFront's own address, shared by
/// many viewers, and must not be counted as one client).
#[derive(Clone)]
pub(crate) struct Viewer(pub(crate) Option<String>);

/// Serves a request only when it came through CloudFront (with `ORIGIN_SECRET` set), and
/// tells `ClientAddr` its viewer.
pub(crate) async fn only_through_cloudfront(
    State(CloudFront(gate)): State<CloudFront>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(gate) = gate else {
        return next.run(request).await;
    };
    let headers = request.headers();
    let genuine = headers
        .get(ORIGIN_VERIFY)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| gate.secret.matches(v));
    if !genuine {
        tracing::info!("request that did not come through CloudFront refused");
        let query = Query::<LangQuery>::try_from_uri(request.uri())
            .map_or_else(|_| LangQuery::default(), |Query(q)| q);
        return refused(&gate.public_base_url, &query, headers);
    }
    let viewer = headers
        .get(VIEWER_ADDRESS)
        .and_then(|v| v.to_str().ok())
        .and_then(viewer_ip)
        .map(|ip| ip.to_string());
    request.extensions_mut().insert(Viewer(viewer));
    next.run(request).await
}

/// 403 in the usual shapes, naming the address that serves the pages.
fn refused(public_base_url: &str, query: &LangQuery, headers: &HeaderMap) -> Response {
    if wants_json(headers) {
        return json_error(
            StatusCode::FORBIDDEN,
            &format!("this address does not serve requests itself; use {public_base_url}"),
            json!({}),
        );
    }
    let lang = language(query, None, headers);
    let t = texts(lang);
    // No link home: it would lead to this address again.
    page(
        StatusCode::FORBIDDEN,
        lang,
        json!({"title": t.get("direct_call_title"),
            "paragraphs": [t.fill("direct_call_intro", &[("url", public_base_url)])]}),
    )
}

/// The address in a `CloudFront-Viewer-Address` value: the IP, a colon and the port, an IPv6
/// address unbracketed (`198.51.100.10:46532`, `2001:db8::1:443`).
fn viewer_ip(value: &str) -> Option<IpAddr> {
    let (ip, port) = value.trim().rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let ip = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip);
    ip.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{Clock, Deps};
    use crate::http::{ClientAddr, admin_router, citizen_router, offer_router, staff_router};
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt as _;

    /// `events/submit-wish-through-cloudfront.json` carries this secret.
    const SECRET: &str = "sample-origin-secret-0123456789abcdef";

    fn deps(origin_secret: Option<&str>) -> Deps {
        let lookup = |k: &str| {
            match k {
                "WISHES_TABLE" | "SLOTS_TABLE" | "EVENT_BUS_NAME" => Some("unused"),
                "MAIL_FROM" => Some("termine@stadt.example"),
                "PUBLIC_BASE_URL" => Some("https://termine.stadt.example"),
                "ORIGIN_SECRET" => origin_secret,
                _ => None,
            }
            .map(str::to_owned)
        };
        let config = Config::from_lookup(lookup).unwrap();
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        Deps::new(config, &sdk, Clock::default())
    }

    /// The sample: `GET /barrierefreiheit` as CloudFront forwards it, from API Gateway's
    /// `sourceIp` 198.51.100.7 (a CloudFront edge) for the viewer 203.0.113.50.
    fn through_cloudfront() -> axum::http::Request<lambda_http::Body> {
        lambda_http::request::from_str(include_str!(
            "../../../events/submit-wish-through-cloudfront.json"
        ))
        .unwrap()
    }

    /// The same request sent to the API's own URL: no secret, whatever else it claims.
    fn direct(accept: &str) -> axum::http::Request<lambda_http::Body> {
        let mut request = through_cloudfront();
        request.headers_mut().remove(ORIGIN_VERIFY);
        request
            .headers_mut()
            .insert("accept", accept.parse().unwrap());
        request
    }

    /// A router that answers the `ClientAddr` it was given, behind the same layer as the public
    /// routers.
    fn client_echo(deps: &Deps) -> Router {
        Router::new()
            .route(
                "/barrierefreiheit",
                get(|ClientAddr(client): ClientAddr| async move {
                    client.unwrap_or_else(|| "unknown".into())
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                CloudFront::of(&deps.config),
                only_through_cloudfront,
            ))
    }

    async fn answer(
        router: Router,
        request: axum::http::Request<lambda_http::Body>,
    ) -> (StatusCode, String) {
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        // As a browser shows it: minijinja escapes the slashes of a URL in a text.
        let text = String::from_utf8(body.to_vec()).unwrap();
        (status, text.replace("&#x2f;", "/"))
    }

    #[tokio::test]
    async fn with_the_secret_a_request_that_did_not_come_through_cloudfront_is_refused() {
        let deps = deps(Some(SECRET));
        let (status, body) = answer(citizen_router(deps.clone()), direct("application/json")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body,
            json!({"error": "this address does not serve requests itself; use https://termine.stadt.example", "fields": {}})
        );
        let (status, body) = answer(citizen_router(deps.clone()), direct("text/html")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            body.contains("Please open https://termine.stadt.example instead."),
            "{body}"
        );

        let mut wrong = through_cloudfront();
        let almost = format!("{}x", &SECRET[..SECRET.len() - 1]);
        wrong
            .headers_mut()
            .insert(ORIGIN_VERIFY, almost.parse().unwrap());
        let (status, _) = answer(citizen_router(deps.clone()), wrong).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let mut offer = direct("text/html");
        *offer.uri_mut() = "/o/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            .parse()
            .unwrap();
        let (status, body) = answer(offer_router(deps.clone()), offer).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("https://termine.stadt.example"), "{body}");

        // The admin routes are signed for the API's own host and never pass CloudFront.
        let mut admin = direct("application/json");
        *admin.uri_mut() = "/admin/stats".parse().unwrap();
        let (status, _) = answer(admin_router(deps.clone()), admin).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "no IAM identity, not 403");

        let (status, body) = answer(citizen_router(deps), through_cloudfront()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// The console's routes, as the public ones: a sign-in around the edge (and its WAF) is
    /// refused with the secret set; through it, or without an edge, the page is served.
    #[tokio::test]
    async fn with_the_secret_the_console_is_served_only_through_cloudfront() {
        let staff = |deps: Deps| {
            let conf = aws_sdk_cognitoidentityprovider::Config::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .build();
            let settings = crate::identity::PoolSettings::from_lookup(|k| match k {
                "STAFF_USER_POOL_ID" => Some("eu-central-1_abc".into()),
                "STAFF_CLIENT_ID" => Some("c1".into()),
                _ => None,
            })
            .unwrap();
            staff_router(crate::http::StaffDeps::new(
                deps,
                aws_sdk_cognitoidentityprovider::Client::from_conf(conf),
                settings,
            ))
        };
        let to_sign_in = |mut request: axum::http::Request<lambda_http::Body>| {
            *request.uri_mut() = "/staff/sign-in?lang=en".parse().unwrap();
            request
        };
        let with = deps(Some(SECRET));
        let (status, body) = answer(staff(with.clone()), to_sign_in(direct("text/html"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("https://termine.stadt.example"), "{body}");
        let (status, body) = answer(staff(with), to_sign_in(through_cloudfront())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = answer(staff(deps(None)), to_sign_in(direct("text/html"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    #[tokio::test]
    async fn behind_cloudfront_the_client_is_the_viewer_and_without_the_secret_that_header_counts_for_nothing()
     {
        let with = deps(Some(SECRET));
        let (status, client) = answer(client_echo(&with), through_cloudfront()).await;
        assert_eq!((status, client.as_str()), (StatusCode::OK, "203.0.113.50"));

        let mut unnamed = through_cloudfront();
        unnamed.headers_mut().remove(VIEWER_ADDRESS);
        let (_, client) = answer(client_echo(&with), unnamed).await;
        assert_eq!(client, "unknown", "never CloudFront's own address");

        // No distribution configured: the header is anyone's to forge.
        let without = deps(None);
        let (status, client) = answer(client_echo(&without), direct("text/html")).await;
        assert_eq!((status, client.as_str()), (StatusCode::OK, "198.51.100.7"));
        let (_, client) = answer(client_echo(&without), through_cloudfront()).await;
        assert_eq!(client, "198.51.100.7");
    }

    #[test]
    fn a_viewer_address_loses_its_port() {
        let cases = [
            ("198.51.100.10:46532", Some("198.51.100.10")),
            ("2001:db8::1:443", Some("2001:db8::1")),
            ("2001:DB8:0:0:0:0:0:1:51000", Some("2001:db8::1")),
            ("[2001:db8::1]:443", Some("2001:db8::1")),
            (" 192.0.2.1:1 ", Some("192.0.2.1")),
            ("198.51.100.10", None),
            ("2001:db8::1", None),
            ("198.51.100.10:", None),
            ("198.51.100.10:65536", None),
            ("localhost:80", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(
                viewer_ip(value).map(|ip| ip.to_string()).as_deref(),
                expected,
                "{value:?}"
            );
        }
    }
}
