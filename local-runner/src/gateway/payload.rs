//! An HTTP request as API Gateway hands it to a function (the HTTP API's payload format 2.0),
//! and the function's answer as API Gateway turns it back into an HTTP response.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::table::{ApiValues, RouteDef};

/// Who signed an IAM-authorised request, as API Gateway puts it into the request context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IamIdentity {
    pub access_key: String,
    pub account: String,
    pub user_arn: String,
    pub user_id: String,
}

/// What API Gateway knows of the caller besides the request.
pub struct Caller<'a> {
    pub source_ip: &'a str,
    pub iam: Option<&'a IamIdentity>,
    pub request_id: &'a str,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Content types API Gateway passes as text; any other body arrives base64-encoded.
fn is_text(content_type: &str) -> bool {
    let t = content_type.split(';').next().unwrap_or("").trim();
    t.starts_with("text/")
        || matches!(
            t,
            "application/json"
                | "application/x-www-form-urlencoded"
                | "application/xml"
                | "application/javascript"
        )
        || t.ends_with("+json")
        || t.ends_with("+xml")
}

/// The payload 2.0 event of a request on `route`.
#[must_use]
pub fn event(
    parts: &Parts,
    body: &Bytes,
    route: &RouteDef,
    params: &BTreeMap<String, String>,
    values: &ApiValues,
    caller: &Caller<'_>,
) -> Value {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == axum::http::header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            );
            continue;
        }
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = parts.uri.query().unwrap_or("");
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(k.into_owned())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }
    let host = headers
        .get("host")
        .cloned()
        .unwrap_or_else(|| "localhost".to_owned());
    let content_type = headers.get("content-type").map_or("", String::as_str);
    let (body, base64) = if body.is_empty() {
        (Value::Null, false)
    } else {
        match std::str::from_utf8(body) {
            Ok(text) if is_text(content_type) => (Value::String(text.to_owned()), false),
            _ => (
                Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
                true,
            ),
        }
    };
    let method = parts.method.as_str();
    let mut context = json!({
        "accountId": values.account,
        "apiId": values.api_id,
        "domainName": host,
        "domainPrefix": host.split('.').next().unwrap_or(&host),
        "http": {
            "method": method,
            "path": parts.uri.path(),
            "protocol": "HTTP/1.1",
            "sourceIp": caller.source_ip,
            "userAgent": headers.get("user-agent").cloned().unwrap_or_default(),
        },
        "requestId": caller.request_id,
        "routeKey": route.key(),
        "stage": "$default",
        "time": caller.now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
        "timeEpoch": caller.now.timestamp_millis(),
    });
    if let Some(iam) = caller.iam {
        context["authorizer"] = json!({"iam": {
            "accessKey": iam.access_key,
            "accountId": iam.account,
            "callerId": iam.user_id,
            "principalOrgId": null,
            "userArn": iam.user_arn,
            "userId": iam.user_id,
        }});
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": base64,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params);
    }
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

/// The function's payload 2.0 answer.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    status_code: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    cookies: Vec<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
}

/// An answer API Gateway gives itself (`{"message": …}`), as it words them.
#[must_use]
pub fn gateway_error(status: StatusCode) -> Response {
    let message = match status {
        StatusCode::NOT_FOUND => "Not Found",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
        _ => "Internal Server Error",
    };
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// The HTTP response API Gateway makes of the function's serialized answer; an answer it cannot
/// read is its 500.
#[must_use]
pub fn response(answer: &[u8]) -> Response {
    let Ok(answer) = serde_json::from_slice::<Answer>(answer) else {
        tracing::error!("the function's answer is not a payload 2.0 response");
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let body = match (answer.body, answer.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(text), false) => text.into_bytes(),
        (Some(text), true) => {
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text) else {
                tracing::error!("the function's base64 body does not decode");
                return gateway_error(StatusCode::INTERNAL_SERVER_ERROR);
            };
            bytes
        }
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(answer.status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
    for cookie in answer.cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(axum::http::header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_pass_as_text_only_for_text_types() {
        assert!(is_text("application/json"));
        assert!(is_text("text/html; charset=utf-8"));
        assert!(is_text("application/x-www-form-urlencoded"));
        assert!(!is_text("multipart/form-data; boundary=x"));
        assert!(!is_text(""));
    }

    #[test]
    fn the_event_carries_cookies_apart_query_joined_and_binary_bodies_in_base64() {
        let request = axum::http::Request::post("/o/tok/accept?a=1&a=2&b=x%20y")
            .header("host", "127.0.0.1:3000")
            .header("cookie", "s=1; t=2")
            .header("content-type", "multipart/form-data; boundary=z")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let route = RouteDef {
            logical_id: "R".into(),
            method: "POST".into(),
            path: "/o/{token}/accept".into(),
            iam: false,
            function: "F".into(),
        };
        let values = ApiValues {
            partition: "aws".into(),
            region: "eu-central-1".into(),
            account: "000000000000".into(),
            api_id: "local".into(),
        };
        let params = BTreeMap::from([("token".to_owned(), "tok".to_owned())]);
        let caller = Caller {
            source_ip: "10.0.0.1",
            iam: None,
            request_id: "r1",
            now: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        };
        let e = event(
            &parts,
            &Bytes::from_static(b"\xff\x00"),
            &route,
            &params,
            &values,
            &caller,
        );
        assert_eq!(e["cookies"], json!(["s=1", "t=2"]));
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["queryStringParameters"], json!({"a": "1,2", "b": "x y"}));
        assert_eq!(e["rawQueryString"], "a=1&a=2&b=x%20y");
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "/wA=");
        assert_eq!(e["routeKey"], "POST /o/{token}/accept");
        assert_eq!(e["requestContext"]["http"]["sourceIp"], "10.0.0.1");
        assert_eq!(e["pathParameters"]["token"], "tok");
        let parsed: lambda_http::request::LambdaRequest = serde_json::from_value(e).unwrap();
        let request: lambda_http::Request = parsed.into();
        assert_eq!(request.uri().path(), "/o/tok/accept");
        assert_eq!(request.headers()["cookie"], "s=1; t=2");
    }

    #[test]
    fn answers_keep_one_value_per_header_and_every_cookie() {
        let r = response(
            br#"{"statusCode":201,"headers":{"content-type":"text/plain"},"cookies":["a=1","b=2"],"body":"aGk=","isBase64Encoded":true}"#,
        );
        assert_eq!(r.status(), StatusCode::CREATED);
        let cookies: Vec<_> = r.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(
            gateway_error(StatusCode::NOT_FOUND).status(),
            StatusCode::NOT_FOUND
        );
    }
}
