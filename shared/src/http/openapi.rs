//! `GET /api/openapi.json`: the `OpenAPI` 3.1 document of the HTTP API (`shared/api/openapi.json`),
//! what a city's integrator reads first. The tests below keep it true to the routers: it names
//! exactly the routes they serve, each of them is routed, and every reference resolves; the
//! system tests check every JSON answer they get against its schema.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The document, as served.
pub const DOCUMENT: &str = include_str!("../../api/openapi.json");

pub(super) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}

#[cfg(test)]
mod tests {
    use super::DOCUMENT;
    use std::collections::BTreeSet;

    const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

    fn document() -> serde_json::Value {
        serde_json::from_str(DOCUMENT).expect("the OpenAPI document is JSON")
    }

    /// (METHOD, path) of every operation the document describes.
    fn documented() -> BTreeSet<(String, String)> {
        let doc = document();
        let mut ops = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                assert!(METHODS.contains(&method.as_str()), "{path}: {method}");
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
        ops
    }

    /// (METHOD, path) of every `.route("path", get(..).post(..))` in a router's source.
    fn routes_in(source: &str) -> BTreeSet<(String, String)> {
        let mut routes = BTreeSet::new();
        for part in source.split(".route(").skip(1) {
            let rest = part.trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue;
            };
            let (path, rest) = rest.split_once('"').unwrap();
            // The method router: up to the call that ends the `.route(…)`.
            let end = [".layer(", ".with_state(", ".route_layer(", "\n}"]
                .iter()
                .filter_map(|m| rest.find(m))
                .min()
                .unwrap_or(rest.len());
            for method in METHODS {
                let call = format!("{method}(");
                let named = rest[..end].match_indices(&call).any(|(at, _)| {
                    at == 0 || !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if named {
                    routes.insert((method.to_uppercase(), path.to_owned()));
                }
            }
        }
        routes
    }

    /// The staff console (`staff.rs`) is left out on purpose: its routes are pages for signed-in
    /// people behind a session cookie, not an interface for programs (`scripts/check-infra.sh`
    /// keeps them equal to the HTTP API's routes).
    #[test]
    fn the_document_names_exactly_the_routes_the_routers_serve() {
        assert!(
            documented()
                .iter()
                .all(|(_, path)| !path.starts_with("/staff")),
            "the console's pages are not part of the API document"
        );
        let mut served = BTreeSet::new();
        for source in [
            include_str!("citizen.rs"),
            include_str!("offers.rs"),
            include_str!("admin.rs"),
        ] {
            served.extend(routes_in(source));
        }
        assert!(served.len() >= 24, "{served:?}");
        let documented = documented();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty(),
            "served, not documented: {undocumented:?}"
        );
        assert!(unserved.is_empty(), "documented, not served: {unserved:?}");
    }

    #[test]
    fn the_route_reader_sees_every_method_of_a_route() {
        let source = r#"Router::new()
            .route("/a/{x}", get(show).post(act))
            .route(
                "/b",
                put(put_b),
            )
            .layer(x)"#;
        let found: Vec<_> = routes_in(source).into_iter().collect();
        let expected = [("GET", "/a/{x}"), ("POST", "/a/{x}"), ("PUT", "/b")];
        assert_eq!(
            found,
            expected.map(|(m, p)| (m.to_owned(), p.to_owned())).to_vec()
        );
    }

    #[tokio::test]
    async fn every_documented_operation_is_routed() {
        use axum::http::{Request, StatusCode};
        use tower::ServiceExt as _;
        let lookup = |k: &str| {
            Some(
                match k {
                    "PUBLIC_BASE_URL" => "http://127.0.0.1:3000",
                    "MAIL_FROM" => "termine@stadt.example",
                    _ => "unused",
                }
                .to_owned(),
            )
            .filter(|_| {
                [
                    "WISHES_TABLE",
                    "SLOTS_TABLE",
                    "EVENT_BUS_NAME",
                    "MAIL_FROM",
                    "PUBLIC_BASE_URL",
                ]
                .contains(&k)
            })
        };
        let config = crate::Config::from_lookup(lookup).unwrap();
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let deps = crate::app::Deps::new(config, &sdk, crate::app::Clock::default());
        // A route's own layer runs only for a request the router matched (path and method):
        // answering 418 there tells a routed request from the router's 404 and 405.
        let routed = |router: axum::Router| {
            router.route_layer(axum::middleware::from_fn(
                |_: axum::extract::Request, _: axum::middleware::Next| async {
                    StatusCode::IM_A_TEAPOT
                },
            ))
        };
        let routers = [
            routed(super::super::citizen_router(deps.clone())),
            routed(super::super::offer_router(deps.clone())),
            routed(super::super::admin_router(deps)),
        ];
        for (method, path) in documented() {
            let uri = path.replace("{token}", "t0k3n").replace("{id}", "bilk-1");
            let mut statuses = Vec::new();
            for router in &routers {
                let request = Request::builder()
                    .method(method.as_str())
                    .uri(&uri)
                    .body(axum::body::Body::empty())
                    .unwrap();
                statuses.push(router.clone().oneshot(request).await.unwrap().status());
            }
            assert!(
                statuses.contains(&StatusCode::IM_A_TEAPOT),
                "{method} {path}: {statuses:?}"
            );
        }
    }

    #[test]
    fn every_reference_resolves_and_every_operation_answers_something() {
        fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
            match v {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                        out.push(r);
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 20);
        for r in found {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("external ref {r}"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object();
                assert!(responses.is_some_and(|r| !r.is_empty()), "{method} {path}");
                assert!(op["summary"].is_string(), "{method} {path}: a summary");
            }
        }
    }
}
