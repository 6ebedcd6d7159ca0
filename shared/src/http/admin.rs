//! admin-api: the booking system's and the clerks' routes (IAM in AWS, a bearer key locally).

use super::dto::slot_json;
use super::dto::{SLOT_FIELDS, SlotInput, unknown_fields, wish_request_json};
use super::{ADMIN_BODY_LIMIT, Visit, error_response, json_error, page};
use crate::app::{self, AppError, Deps, SlotsPut};
use crate::config::AdminAuth;
use crate::domain::allocation::{Period, Problem};
use crate::domain::catalog::CatalogError;
use crate::domain::time::rfc3339;
use crate::domain::{Catalog, Language, SlotId, SlotStatus};
use crate::render::views;
use crate::store::UpsertOutcome;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;

/// Routes of the admin-api function.
pub fn admin_router(deps: Deps) -> Router {
    Router::new()
        .route("/admin/slots", put(put_slots))
        .route("/admin/slots/{id}", get(get_slot).delete(withdraw_slot))
        .route("/admin/slots/{id}/release", post(release_slot))
        .route(
            "/admin/slots/{id}/earlier",
            post(earlier_for_direct_booking),
        )
        .route("/admin/stats", get(stats))
        .route("/admin/events", get(events))
        .route("/admin/allocations/verify", get(verify_allocations))
        .route("/admin/catalog", put(put_catalog))
        .route("/admin/lines/recount", post(recount_lines))
        .layer(middleware::from_fn_with_state(deps.clone(), admin_auth))
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        .with_state(deps)
}

async fn admin_auth(State(deps): State<Deps>, request: Request, next: Next) -> Response {
    let allowed = match &deps.config.admin {
        AdminAuth::Bearer(secret) => request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|k| secret.matches(k.trim())),
        AdminAuth::Iam => iam_caller(&request),
    };
    if !allowed {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"error": "missing or wrong credentials", "fields": {}})),
        )
            .into_response();
    }
    next.run(request).await
}

/// API Gateway puts the verified IAM identity into the request context; without one the route
/// was not IAM-protected and we refuse.
fn iam_caller(request: &Request) -> bool {
    use lambda_http::request::RequestContext;
    match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.iam.as_ref())
            .is_some_and(|iam| iam.user_arn.is_some() || iam.caller_id.is_some()),
        _ => false,
    }
}

/// `PUT /admin/slots`: every row is checked first; one bad row and nothing is written.
async fn put_slots(State(deps): State<Deps>, body: Bytes) -> Response {
    let not_slots = |e: &dyn std::fmt::Display| {
        json_error(
            StatusCode::BAD_REQUEST,
            &format!("body must be a JSON array of slots: {e}"),
            json!({}),
        )
    };
    let values: Vec<serde_json::Value> = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return not_slots(&e),
    };
    let mut unknown = std::collections::BTreeMap::new();
    for (i, row) in values.iter().enumerate() {
        if let Some(object) = row.as_object() {
            unknown.extend(unknown_fields(object, &SLOT_FIELDS, &format!("[{i}].")));
        }
    }
    if !unknown.is_empty() {
        return json_error(StatusCode::BAD_REQUEST, "unknown fields", json!(unknown));
    }
    let rows: Vec<SlotInput> = match serde_json::from_value(serde_json::Value::Array(values)) {
        Ok(r) => r,
        Err(e) => return not_slots(&e),
    };
    let rows: Vec<_> = rows.iter().map(SlotInput::row).collect();
    match app::put_slots(&deps, &rows).await {
        Ok(SlotsPut::Invalid(rows)) => {
            let mut errors = serde_json::Map::new();
            for (i, e) in rows {
                for (field, fe) in e.iter() {
                    errors.insert(format!("[{i}].{field}"), json!(fe.message));
                }
            }
            json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid slots; nothing was stored",
                json!(errors),
            )
        }
        Ok(SlotsPut::Stored(results)) => {
            let count = |o: UpsertOutcome| results.iter().filter(|(_, r)| *r == o).count();
            Json(json!({
                "created": count(UpsertOutcome::Created),
                "updated": count(UpsertOutcome::Updated),
                "unchanged": count(UpsertOutcome::Unchanged),
                "conflicts": count(UpsertOutcome::Conflict),
                "slots": results.iter().map(|(id, r)| json!({"id": id, "result": r})).collect::<Vec<_>>(),
            }))
            .into_response()
        }
        Err(e) => error_response(&e, Language::En, true),
    }
}

fn no_such_slot() -> Response {
    json_error(StatusCode::NOT_FOUND, "no such slot", json!({}))
}

/// The slot a route names; an id that is not one is a slot that does not exist.
struct SlotPath(SlotId);

impl axum::extract::FromRequestParts<Deps> for SlotPath {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        deps: &Deps,
    ) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, deps)
            .await
            .map_err(IntoResponse::into_response)?;
        SlotId::parse(&id).map(SlotPath).map_err(|_| no_such_slot())
    }
}

/// `409` with the slot as it is.
fn slot_conflict(error: &str, slot: &crate::domain::Slot) -> Response {
    let body = json!({"error": error, "slot": slot_json(slot)});
    (StatusCode::CONFLICT, Json(body)).into_response()
}

async fn get_slot(State(deps): State<Deps>, SlotPath(id): SlotPath) -> Response {
    match app::get_slot(&deps, &id).await {
        Ok(Some(s)) => Json(slot_json(&s)).into_response(),
        Ok(None) => no_such_slot(),
        Err(e) => error_response(&e, Language::En, true),
    }
}

async fn release_slot(State(deps): State<Deps>, SlotPath(id): SlotPath) -> Response {
    match app::release_slot(&deps, &id).await {
        Ok(Some(s)) if s.status == SlotStatus::Free || s.status == SlotStatus::Offered => {
            Json(slot_json(&s)).into_response()
        }
        Ok(Some(s)) => slot_conflict("slot is not booked", &s),
        Ok(None) => no_such_slot(),
        Err(e) => error_response(&e, Language::En, true),
    }
}

/// The fields of `POST /admin/slots/{id}/earlier`: a wish as a citizen leaves it, without the
/// service (the slot's) and the proof of work.
const EARLIER_FIELDS: [&str; 5] = ["email", "offices", "windows", "language", "persons"];

/// `POST /admin/slots/{id}/earlier`: the booking system booked this slot directly and its
/// citizen would take an earlier one (an addition to the contract, see
/// `docs/contract-notes.md`). `201 {wish, appointment, status}`.
async fn earlier_for_direct_booking(
    State(deps): State<Deps>,
    SlotPath(id): SlotPath,
    body: Bytes,
) -> Response {
    let shape = "a JSON object {email, offices, windows, language, persons}";
    let request = match wish_request_json(&body, &EARLIER_FIELDS, shape) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    match app::earlier_for_direct_booking(&deps, &id, request.draft()).await {
        Ok(app::DirectEarlier::Started { wish, appointment }) => (
            StatusCode::CREATED,
            Json(json!({"wish": wish, "appointment": appointment, "status": "waiting"})),
        )
            .into_response(),
        Ok(app::DirectEarlier::Refused(why)) => {
            json_error(StatusCode::CONFLICT, &why.to_string(), json!({}))
        }
        Err(AppError::NotFound) => no_such_slot(),
        Err(e) => error_response(&e, Language::En, true),
    }
}

/// `DELETE /admin/slots/{id}`: the office takes the slot back (an addition to the contract, see
/// `docs/contract-notes.md`).
async fn withdraw_slot(State(deps): State<Deps>, SlotPath(id): SlotPath) -> Response {
    match app::withdraw_slot(&deps, &id).await {
        Ok(app::Withdrawal::Removed) => StatusCode::NO_CONTENT.into_response(),
        Ok(app::Withdrawal::Booked(s)) => {
            slot_conflict("slot is booked: cancel the booking (release) first", &s)
        }
        Ok(app::Withdrawal::NotFound) => no_such_slot(),
        Err(e) => error_response(&e, Language::En, true),
    }
}

/// `GET /admin/events?after={cursor}&limit={n}`: the domain events in commit order.
async fn events(State(deps): State<Deps>, Query(q): Query<FeedQuery>) -> Response {
    // A limit that is not a whole number is out of range, and said so.
    let limit = q
        .limit
        .as_deref()
        .map(|l| l.trim().parse::<u16>().unwrap_or(0));
    match app::events_feed(&deps, q.after.as_deref(), limit).await {
        Ok(page) => {
            let events: Vec<_> = page
                .events
                .iter()
                .map(|e| {
                    json!({"cursor": e.cursor, "type": e.name, "time": rfc3339(e.time), "detail": e.detail})
                })
                .collect();
            Json(json!({"events": events, "next": page.next})).into_response()
        }
        Err(e) => error_response(&e, Language::En, true),
    }
}

/// `GET /admin/allocations/verify?from=YYYY-MM-DD&to=YYYY-MM-DD`: the allocation record of the
/// period walked and replayed (an addition to the contract, see `docs/contract-notes.md`).
/// `200` with the report whether or not it found problems (`ok` says which); a bad period is
/// `422` with the field named.
async fn verify_allocations(State(deps): State<Deps>, Query(q): Query<PeriodQuery>) -> Response {
    let today = deps.clock.now().date_naive();
    let period = match q.period(today) {
        Ok(p) => p,
        Err(fields) => {
            return json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid period",
                json!(fields),
            );
        }
    };
    match app::verify_allocations(&deps, period).await {
        Ok(report) => Json(allocation_report_json(&report)).into_response(),
        Err(e) => error_response(&e, Language::En, true),
    }
}

/// The period of a verification, as a query gives it (`from`, `to`; blank for the default).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct PeriodQuery {
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
}

impl PeriodQuery {
    pub(crate) fn period(
        &self,
        today: chrono::NaiveDate,
    ) -> Result<Period, std::collections::BTreeMap<String, String>> {
        Period::parse(self.from.as_deref(), self.to.as_deref(), today)
    }
}

/// The report as JSON: `{from, to, ok, records, lines, findings: [{line, seq, problem, detail,
/// through?}], expired_starts: [{line, seq}]}`.
fn allocation_report_json(report: &app::AllocationReport) -> serde_json::Value {
    let findings: Vec<_> = report
        .findings
        .iter()
        .map(|f| {
            let mut v = json!({"line": f.line, "seq": f.seq, "problem": f.problem.kind(),
                               "detail": f.problem.to_string()});
            if let Problem::Missing { through } = f.problem {
                v["through"] = json!(through);
            }
            v
        })
        .collect();
    let expired: Vec<_> = report
        .expired_starts
        .iter()
        .map(|(line, seq)| json!({"line": line, "seq": seq}))
        .collect();
    json!({
        "from": report.period.from.to_string(),
        "to": report.period.to.to_string(),
        "ok": report.is_clean(),
        "records": report.records,
        "lines": report.lines,
        "findings": findings,
        "expired_starts": expired,
    })
}

#[derive(Debug, serde::Deserialize)]
struct FeedQuery {
    after: Option<String>,
    limit: Option<String>,
}

#[derive(serde::Deserialize)]
struct RecountQuery {
    after: Option<String>,
    office: Option<String>,
    service: Option<String>,
}

/// How long one `POST /admin/lines/recount` works before it answers where to go on (well within
/// API Gateway's 29 seconds).
const RECOUNT_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

/// `POST /admin/lines/recount?after={line}&office={id}&service={id}`: the lines' counts
/// recounted from their entries (of one office or service if given), as many lines as fit in
/// ten seconds (an addition to the contract, see `docs/contract-notes.md`). `200 {lines,
/// entries, corrected, next}`; call again with `after=next` until `next` is `null`.
async fn recount_lines(State(deps): State<Deps>, Query(q): Query<RecountQuery>) -> Response {
    let filter = app::LineFilter {
        after: q.after.as_deref(),
        office: q.office.as_deref(),
        service: q.service.as_deref(),
    };
    match app::recount_lines(&deps, &filter, RECOUNT_BUDGET).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => error_response(&e, Language::En, true),
    }
}

/// `GET /admin/stats`: JSON for programs; a page for a clerk's browser (`Accept: text/html`).
async fn stats(visit: Visit) -> Response {
    let (deps, headers) = (&visit.deps, &visit.headers);
    let stats = match app::stats(deps).await {
        Ok(s) => s,
        Err(e) => return error_response(&e, Language::En, true),
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !accept.contains("text/html") || accept.contains("application/json") {
        return Json(stats).into_response();
    }
    let lang = visit.language(None);
    let catalog = deps.catalog().await.ok();
    page(
        StatusCode::OK,
        lang,
        views::stats_page(&stats, catalog.as_deref(), lang),
    )
}

async fn put_catalog(State(deps): State<Deps>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    match Catalog::from_json(&text) {
        Ok(c) => match app::update_catalog(&deps, c).await {
            Ok(moved) => Json(json!({"status": "stored", "wishes_moved": moved})).into_response(),
            Err(e) => error_response(&e, Language::En, true),
        },
        Err(e) => catalog_refused(&e),
    }
}

/// The answer to a catalogue that cannot be used: 400 for a body that is not one, 422 for one
/// that breaks a rule — with the field concerned where the rule names one.
fn catalog_refused(e: &CatalogError) -> Response {
    match e {
        // A field the catalogue does not have (a typo) is named, like in every other body.
        CatalogError::Json(e) if e.to_string().starts_with("unknown field") => json_error(
            StatusCode::BAD_REQUEST,
            "unknown fields",
            json!({"catalog": e.to_string()}),
        ),
        CatalogError::ControlCharacter { field } => json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid catalogue; nothing was stored",
            json!({ field: "must not contain control characters (line breaks, tabs and the like)" }),
        ),
        e => json_error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string(), json!({})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_catalogue_text_with_a_control_character_is_refused_on_its_field() {
        let mut catalog: serde_json::Value =
            serde_json::from_str(include_str!("../../../data/catalog.json")).unwrap();
        catalog["offices"][1]["name"] = json!("Bürgerbüro\r\nBcc: x");
        let e = Catalog::from_json(&catalog.to_string()).unwrap_err();
        let response = catalog_refused(&e);
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            body["fields"]["offices[1].name"]
                .as_str()
                .is_some_and(|m| m.contains("control characters")),
            "{body}"
        );
    }
}
