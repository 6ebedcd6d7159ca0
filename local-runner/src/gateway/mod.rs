//! API Gateway in front of the functions, as `infra/template.yaml` declares it — the same file
//! that deploys. A request reaches a function only along a route of the template's HTTP API, to
//! the function the route's integration names, and only if one of that function's Lambda
//! permissions has a `SourceArn` matching the way API Gateway invokes it; it is handed over as
//! a payload 2.0 event through `lambda_http`'s own adapter (what `lambda_http::run` in each
//! function's `main.rs` runs), and the function's answer comes back the way API Gateway reads it
//! (one value per header, cookies apart, base64 bodies decoded).
//!
//! What API Gateway answers itself, this answers alike: `404 {"message":"Not Found"}` for no
//! route, `403 {"message":"Forbidden"}` for an IAM route without a valid signature of an allowed
//! caller, `500 {"message":"Internal Server Error"}` for a function it may not invoke (the
//! reason goes to the runner's log), `413` over the 10 MB request limit, and `500` for an answer
//! over Lambda's 6 MB.

mod payload;
pub mod sigv4;
pub mod table;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Result, bail};
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use lambda_http::{Adapter, Context, LambdaEvent, Service as _};

pub use payload::{IamIdentity, gateway_error};
pub use sigv4::IamCallers;
pub use table::{ApiTable, ApiValues, PermissionDef, RouteDef, arn_like};

/// API Gateway's limit on a request's size.
pub const REQUEST_LIMIT: usize = 10 * 1024 * 1024;
/// Lambda's limit on a synchronous invocation's answer.
pub const RESPONSE_LIMIT: usize = 6 * 1024 * 1024;

/// How IAM-authorised routes are let through.
#[derive(Clone)]
pub enum IamRoutes {
    /// As the local default: the route's function checks its own bearer key (`ADMIN_KEY`);
    /// API Gateway's IAM check is not made.
    Open,
    /// As in AWS: a `SigV4` signature of a known caller whose policy allows `execute-api:Invoke`
    /// on the route, else 403; the caller's identity goes into the request context.
    Signed(Arc<IamCallers>),
}

/// The HTTP API with the functions behind it.
#[derive(Clone)]
pub struct Gateway {
    table: Arc<ApiTable>,
    /// Logical id of each function → its router, as its `main.rs` serves it.
    handlers: Arc<BTreeMap<String, Router>>,
    iam: IamRoutes,
    requests: Arc<AtomicU64>,
}

impl Gateway {
    /// The gateway of `table`, with `handler` giving the router each function's code serves
    /// (by the folder its code is built from: `submit-wish`, …).
    ///
    /// # Errors
    /// When a function a route reaches has no handler here.
    pub fn new(
        table: ApiTable,
        mut handler: impl FnMut(&str) -> Option<Router>,
        iam: IamRoutes,
    ) -> Result<Self> {
        let mut handlers = BTreeMap::new();
        for (function, code) in &table.functions {
            let Some(router) = handler(code) else {
                bail!("{function} (functions/{code}) has routes but no handler in the runner");
            };
            handlers.insert(function.clone(), router);
        }
        Ok(Self {
            table: Arc::new(table),
            handlers: Arc::new(handlers),
            iam,
            requests: Arc::new(AtomicU64::new(0)),
        })
    }

    #[must_use]
    pub fn table(&self) -> &ApiTable {
        &self.table
    }

    /// Every request to [`Gateway::handle`].
    pub fn router(self) -> Router {
        Router::new().fallback(handle).with_state(self)
    }
}

async fn handle(State(gateway): State<Gateway>, request: Request) -> Response {
    let source_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "127.0.0.1".to_owned(), |c| c.0.ip().to_string());
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, REQUEST_LIMIT).await else {
        return gateway_error(StatusCode::PAYLOAD_TOO_LARGE);
    };
    let table = &gateway.table;
    let method = parts.method.as_str();
    let path = parts.uri.path();
    let Some((route, params)) = table.route(method, path) else {
        return gateway_error(StatusCode::NOT_FOUND);
    };
    let identity = match (&gateway.iam, route.iam) {
        (IamRoutes::Signed(callers), true) => {
            let arn = table.source_arn(method, path, route);
            match callers.verify(&parts, &body, &arn, chrono::Utc::now()) {
                Ok(identity) => Some(identity),
                Err(reason) => {
                    tracing::info!(route = %route.key(), %reason, "API Gateway: IAM authorisation refused");
                    return gateway_error(StatusCode::FORBIDDEN);
                }
            }
        }
        _ => None,
    };
    let arn = table.source_arn(method, path, route);
    if table.permission(route, &arn).is_none() {
        tracing::error!(
            route = %route.key(),
            function = %route.function,
            source_arn = %arn,
            "API Gateway may not invoke the function: no Lambda permission's SourceArn matches"
        );
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let Some(handler) = gateway.handlers.get(&route.function) else {
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let n = gateway.requests.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("local-{n:012x}");
    let caller = payload::Caller {
        source_ip: &source_ip,
        iam: identity.as_ref(),
        request_id: &request_id,
        now: chrono::Utc::now(),
    };
    let event = payload::event(&parts, &body, route, &params, &table.values, &caller);
    // As the runtime does: the invocation's JSON, read as lambda_http reads it.
    let event = match serde_json::to_vec(&event) {
        Ok(bytes) if bytes.len() <= RESPONSE_LIMIT => bytes,
        Ok(_) => {
            tracing::error!(route = %route.key(), "the event is over Lambda's 6 MB");
            return gateway_error(StatusCode::INTERNAL_SERVER_ERROR);
        }
        Err(_) => return gateway_error(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let event: lambda_http::request::LambdaRequest = match serde_json::from_slice(&event) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "lambda_http cannot read the payload 2.0 event");
            return gateway_error(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let mut context = Context::default();
    context.request_id = request_id;
    // The adapter is not `Send` (it names the response type by reference); its future is.
    let invocation = {
        let mut adapter = Adapter::from(handler.clone());
        adapter.call(LambdaEvent::new(event, context))
    };
    let Ok(answer) = invocation.await;
    match serde_json::to_vec(&answer) {
        Ok(bytes) if bytes.len() <= RESPONSE_LIMIT => payload::response(&bytes),
        Ok(bytes) => {
            tracing::error!(route = %route.key(), bytes = bytes.len(), "the answer is over Lambda's 6 MB");
            gateway_error(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Err(_) => gateway_error(StatusCode::INTERNAL_SERVER_ERROR),
    }
}
