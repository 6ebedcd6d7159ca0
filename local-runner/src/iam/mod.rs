//! IAM as AWS enforces it on the functions' own requests. Every function's SDK clients send to
//! this proxy, signed with the function's own access key; the proxy reads what each request
//! asks (action, resource, condition keys — [`requests`]) and evaluates it against that
//! function's role policy read from `infra/template.yaml` ([`roles`], [`policy`]). A request
//! the policy does not allow fails as AWS fails it — the service's `AccessDeniedException`
//! (SQS: `AccessDenied`) with AWS's wording — and never reaches the emulator; an allowed one is
//! forwarded unchanged to `DynamoDB` Local or moto.
//!
//! Every grant that allowed a request is written to a log (one line per function, statement
//! and action, once per process), so the test command can report the grants no test exercised
//! (`cargo run -p local-runner --bin iam-report`).

pub mod policy;
pub mod requests;
pub mod roles;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use policy::{Access, Decision, evaluate};
use requests::Layout;
use roles::Role;

/// The access key a function's clients sign with, from its code folder (`submit-wish` →
/// `LOCALFNSUBMITWISH`: `DynamoDB` Local accepts only letters and digits in a key).
#[must_use]
pub fn access_key(code: &str) -> String {
    let letters: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    format!("LOCALFN{letters}")
}

/// A request the policy refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// The function's code folder.
    pub function: String,
    pub action: String,
    pub resource: String,
    /// AWS's message, as the SDK's error shows it.
    pub message: String,
}

struct ProxyState {
    /// Access key → the function's role.
    roles: BTreeMap<String, Role>,
    layout: Mutex<Layout>,
    dynamodb: String,
    moto: String,
    mail: String,
    http: reqwest::Client,
    denials: Mutex<Vec<Denial>>,
    /// (function, statement, action) that allowed a request.
    used: Mutex<BTreeSet<(String, String, String)>>,
    used_log: Option<PathBuf>,
}

/// The running proxy.
#[derive(Clone)]
pub struct IamProxy {
    endpoint: String,
    state: Arc<ProxyState>,
}

impl IamProxy {
    /// Starts the proxy on a free loopback port, in front of `dynamodb`, `moto` and the SES
    /// moto `mail`.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start(
        roles: Vec<Role>,
        layout: Layout,
        dynamodb: &str,
        moto: &str,
        mail: &str,
        used_log: Option<PathBuf>,
    ) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(ProxyState {
            roles: roles
                .into_iter()
                .map(|r| (access_key(&r.code), r))
                .collect(),
            layout: Mutex::new(layout),
            dynamodb: dynamodb.to_owned(),
            moto: moto.to_owned(),
            mail: mail.to_owned(),
            http: reqwest::Client::builder().no_proxy().build()?,
            denials: Mutex::new(Vec::new()),
            used: Mutex::new(BTreeSet::new()),
            used_log,
        });
        let router = axum::Router::new()
            .fallback(proxy)
            .with_state(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "the IAM proxy stopped");
            }
        });
        Ok(Self { endpoint, state })
    }

    /// `http://127.0.0.1:<port>`: every service's endpoint for the functions' clients.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The requests refused so far.
    #[must_use]
    pub fn denials(&self) -> Vec<Denial> {
        self.state
            .denials
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }
}

/// The credential's access key and service (`Credential=KEY/date/region/SERVICE/aws4_request`).
fn credential(headers: &HeaderMap) -> Option<(String, String)> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?.split(',').next()?;
    let parts: Vec<&str> = credential.split('/').collect();
    Some(((*parts.first()?).to_owned(), (*parts.get(3)?).to_owned()))
}

fn denied(service: &str, message: &str) -> Response {
    let json = |type_: &str, content_type: &'static str| {
        let mut r = (
            StatusCode::BAD_REQUEST,
            serde_json::json!({"__type": type_, "message": message}).to_string(),
        )
            .into_response();
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static(content_type));
        r
    };
    match service {
        "dynamodb" => json(
            "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
            "application/x-amz-json-1.0",
        ),
        "sqs" => {
            let mut r = json(
                "com.amazonaws.sqs#AccessDenied",
                "application/x-amz-json-1.0",
            );
            r.headers_mut().insert(
                "x-amzn-query-error",
                HeaderValue::from_static("AccessDenied;Sender"),
            );
            r
        }
        "ses" => {
            let mut r = (
                StatusCode::FORBIDDEN,
                serde_json::json!({ "message": message }).to_string(),
            )
                .into_response();
            r.headers_mut().insert(
                "x-amzn-errortype",
                HeaderValue::from_static("AccessDeniedException"),
            );
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            r
        }
        _ => json("AccessDeniedException", "application/x-amz-json-1.1"),
    }
}

async fn proxy(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 32 * 1024 * 1024).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request too large").into_response();
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some((key, service)) = credential(&parts.headers) else {
        // The user pool's sign-in and its challenges are called unsigned (the SDK does not
        // sign them); AWS asks IAM nothing there.
        if let Some(op) = target.strip_prefix("AWSCognitoIdentityProviderService.")
            && requests::COGNITO_PUBLIC.contains(&op)
        {
            let op = op.to_owned();
            return forward(&state, "cognito-idp", &op, parts, body).await;
        }
        return denied("", "The request is not signed (no SigV4 credential)");
    };
    let Some(role) = state.roles.get(&key) else {
        return denied(
            &service,
            "The security token included in the request is invalid",
        );
    };
    let target = target.split('.').nth(1).unwrap_or_default().to_owned();
    let accesses = {
        let Ok(layout) = state.layout.lock() else {
            return denied(&service, "the proxy's state is poisoned");
        };
        match service.as_str() {
            "dynamodb" => layout.dynamodb(&target, &body),
            "sqs" => layout.sqs(&target, &body),
            "events" => layout.events(&target, &body),
            "cognito-idp" => layout.cognito(&target, &body),
            "ses" => layout.sesv2(parts.method.as_str(), parts.uri.path(), &body),
            other => Ok(vec![Access::new(&format!("{other}:{target}"), "*")]),
        }
    };
    let accesses = match accesses {
        Ok(a) => a,
        Err(requests::Unreadable(why)) => {
            return (StatusCode::BAD_REQUEST, why).into_response();
        }
    };
    let mut allowed_by = Vec::new();
    for access in &accesses {
        match evaluate(&role.statements, access) {
            Decision::Allowed(sid) => allowed_by.push((sid, access.action.clone())),
            decision => {
                let why = match decision {
                    Decision::Denied(sid) => format!("with an explicit deny in {sid}"),
                    _ => format!(
                        "because no identity-based policy allows the {} action",
                        access.action
                    ),
                };
                let message = format!(
                    "User: arn:aws:sts::{}:assumed-role/{}/{} is not authorized to perform: {} on resource: {} {why}",
                    role_account(&state),
                    role.role,
                    role.code,
                    access.action,
                    access.resource
                );
                tracing::warn!(function = %role.code, action = %access.action, resource = %access.resource, "IAM: AccessDenied");
                if let Ok(mut d) = state.denials.lock() {
                    d.push(Denial {
                        function: role.code.clone(),
                        action: access.action.clone(),
                        resource: access.resource.clone(),
                        message: message.clone(),
                    });
                }
                return denied(&service, &message);
            }
        }
    }
    record_use(&state, &role.code, allowed_by);
    forward(&state, &service, &target, parts, body).await
}

fn role_account(state: &ProxyState) -> String {
    state
        .layout
        .lock()
        .map(|l| l.account.clone())
        .unwrap_or_default()
}

fn record_use(state: &ProxyState, function: &str, grants: Vec<(String, String)>) {
    let Ok(mut used) = state.used.lock() else {
        return;
    };
    for (sid, action) in grants {
        if used.insert((function.to_owned(), sid.clone(), action.clone()))
            && let Some(path) = &state.used_log
            && let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        {
            let _ = writeln!(file, "{function} {sid} {action}");
        }
    }
}

async fn forward(
    state: &ProxyState,
    service: &str,
    target: &str,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> Response {
    let upstream = match service {
        "dynamodb" => &state.dynamodb,
        "ses" => &state.mail,
        _ => &state.moto,
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let mut request = state
        .http
        .request(parts.method.clone(), format!("{upstream}{path}"))
        .body(body.clone());
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("emulator unreachable: {e}"),
            )
                .into_response();
        }
    };
    let status = response.status();
    let headers = response.headers().clone();
    let Ok(bytes) = response.bytes().await else {
        return (StatusCode::BAD_GATEWAY, "emulator answer cut off").into_response();
    };
    if matches!(target, "GetShardIterator" | "GetRecords") {
        remember_iterators(state, target, &body, &bytes);
    }
    let mut out = Response::new(axum::body::Body::from(bytes));
    *out.status_mut() = status;
    for (name, value) in &headers {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}

/// `GetRecords` names only its iterator: the stream each iterator reads is kept from the
/// answers that hand them out.
fn remember_iterators(state: &ProxyState, target: &str, request: &[u8], answer: &[u8]) {
    let (Ok(request), Ok(answer)) = (
        serde_json::from_slice::<serde_json::Value>(request),
        serde_json::from_slice::<serde_json::Value>(answer),
    ) else {
        return;
    };
    let Ok(mut layout) = state.layout.lock() else {
        return;
    };
    let stream = if target == "GetShardIterator" {
        request["StreamArn"].as_str().map(str::to_owned)
    } else {
        request["ShardIterator"]
            .as_str()
            .and_then(|i| layout.iterators.remove(i))
    };
    let next = answer["ShardIterator"]
        .as_str()
        .or_else(|| answer["NextShardIterator"].as_str());
    if let (Some(stream), Some(next)) = (stream, next) {
        layout.iterators.insert(next.to_owned(), stream);
    }
}
