//! The console's pages behind the sign-in ([`super::staff::Session`]): the overview, the slots
//! (upload, find, list, release, withdraw), the support look-up and cancel, the audit log, the
//! allocation record's verification.

use super::staff::{Session, StaffDeps, staff_page};
use crate::app;
use crate::domain::slot_file::RowError;
use crate::domain::staff::Role;
use crate::domain::{Email, Language, OfficeId, PhoneNumber, SlotId, SlotStatus, Wish, WishId};
use crate::render::staff as views;
use crate::render::texts;
use crate::store::UpsertOutcome;
use axum::body::Bytes;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

/// `GET /staff/overview`: per office and service the line and the offers' outcomes, and per
/// office when the waiting wishes want their appointments.
pub(super) async fn overview(State(staff): State<StaffDeps>, session: Session) -> Response {
    let deps = &staff.deps;
    let (catalog, overview) = match (deps.catalog().await, app::staff_overview(deps).await) {
        (Ok(c), Ok(o)) => (c, o),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "overview unavailable");
            return super::staff::unavailable(session.lang);
        }
    };
    let mut ctx = views::overview(&overview, &catalog, session.lang);
    ctx["staff"] = session.nav();
    staff_page(StatusCode::OK, "staff_overview.html", session.lang, ctx)
}

/// What the slots page shows besides its forms.
#[derive(Default)]
pub(super) struct SlotsView {
    /// `?office=`: that office's free slots.
    office: Option<String>,
    /// `?id=`: that slot.
    id: Option<String>,
    /// What the action before did, or why not.
    notice: Option<String>,
    errors: Vec<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct SlotsQuery {
    office: Option<String>,
    id: Option<String>,
}

/// `GET /staff/slots`: upload a file, find a slot, list an office's free slots.
pub(super) async fn slots(
    State(staff): State<StaffDeps>,
    session: Session,
    Query(q): Query<SlotsQuery>,
) -> Response {
    let view = SlotsView {
        office: q.office.filter(|o| !o.trim().is_empty()),
        id: q.id.filter(|i| !i.trim().is_empty()),
        ..SlotsView::default()
    };
    slots_answer(&staff, &session, StatusCode::OK, view).await
}

async fn slots_answer(
    staff: &StaffDeps,
    session: &Session,
    status: StatusCode,
    view: SlotsView,
) -> Response {
    let deps = &staff.deps;
    let lang = session.lang;
    let t = texts(lang);
    let Ok(catalog) = deps.catalog().await else {
        return super::staff::unavailable(lang);
    };
    let mut listed = None;
    if let Some(office) = view.office.as_deref().and_then(|o| OfficeId::parse(o).ok()) {
        match app::free_slots_of(deps, &office, 100).await {
            Ok(slots) => listed = Some(slots),
            Err(e) => {
                tracing::error!(error = %e, "free slots unavailable");
                return super::staff::unavailable(lang);
            }
        }
    }
    let mut found = None;
    let mut not_found = false;
    if let Some(id) = view.id.as_deref() {
        match SlotId::parse(id.trim()) {
            Ok(id) => match app::get_slot(deps, &id).await {
                Ok(Some(slot)) => found = Some(slot),
                Ok(None) => not_found = true,
                Err(e) => {
                    tracing::error!(error = %e, "slot unavailable");
                    return super::staff::unavailable(lang);
                }
            },
            Err(_) => not_found = true,
        }
    }
    let mut ctx = views::slots(
        &catalog,
        lang,
        &views::SlotsModel {
            office: view.office.as_deref(),
            listed: listed.as_deref(),
            found: found.as_ref(),
            not_found,
        },
    );
    ctx["staff"] = session.nav();
    ctx["notice"] = json!(view.notice);
    ctx["errors"] = json!(view.errors);
    ctx["error_title"] = json!(t.get("staff_upload_refused"));
    staff_page(status, "staff_slots.html", lang, ctx)
}

/// `POST /staff/slots/upload` (multipart: `csrf`, `file`): the booking system's export.
pub(super) async fn upload(
    State(staff): State<StaffDeps>,
    session: Session,
    mut form: Multipart,
) -> Response {
    let t = texts(session.lang);
    let (mut csrf, mut file) = (None, None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let file_name = field.file_name().unwrap_or_default().to_owned();
                let Ok(bytes) = field.bytes().await else {
                    return bad_upload(&staff, &session, t.get("staff_upload_unreadable")).await;
                };
                match name.as_str() {
                    "csrf" => csrf = Some(String::from_utf8_lossy(&bytes).into_owned()),
                    "file" => file = Some((file_name, bytes)),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return bad_upload(&staff, &session, t.get("staff_upload_unreadable")).await,
        }
    }
    if !csrf.is_some_and(|c| session.csrf_matches(&c)) {
        return session.csrf_refused();
    }
    let Some((file_name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return bad_upload(&staff, &session, t.get("staff_upload_missing")).await;
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return bad_upload(&staff, &session, t.get("staff_upload_not_text")).await;
    };
    match app::upload_slots(&staff.deps, &file_name, text).await {
        Ok(app::Upload::Stored(results)) => {
            let count = |o: UpsertOutcome| results.iter().filter(|(_, r)| *r == o).count();
            let notice = t.fill(
                "staff_upload_stored",
                &[
                    ("created", &count(UpsertOutcome::Created).to_string()),
                    ("updated", &count(UpsertOutcome::Updated).to_string()),
                    ("unchanged", &count(UpsertOutcome::Unchanged).to_string()),
                    ("conflicts", &count(UpsertOutcome::Conflict).to_string()),
                ],
            );
            tracing::info!(rows = results.len(), "slot file stored");
            let view = SlotsView {
                notice: Some(notice),
                ..SlotsView::default()
            };
            slots_answer(&staff, &session, StatusCode::OK, view).await
        }
        Ok(app::Upload::Invalid(errors)) => {
            let errors = errors.iter().map(|e| row_error(e, session.lang)).collect();
            let view = SlotsView {
                errors,
                ..SlotsView::default()
            };
            slots_answer(&staff, &session, StatusCode::UNPROCESSABLE_ENTITY, view).await
        }
        Err(e) => {
            tracing::error!(error = %e, "slot file not stored");
            super::staff::unavailable(session.lang)
        }
    }
}

/// A row problem as the page says it: "Zeile 3, start: …".
fn row_error(e: &RowError, lang: Language) -> String {
    let t = texts(lang);
    let line = e.line.to_string();
    match &e.field {
        Some(field) => t.fill(
            "staff_row_error_field",
            &[("line", &line), ("field", field), ("message", &e.message)],
        ),
        None => t.fill(
            "staff_row_error",
            &[("line", &line), ("message", &e.message)],
        ),
    }
}

async fn bad_upload(staff: &StaffDeps, session: &Session, why: &str) -> Response {
    let view = SlotsView {
        errors: vec![why.to_owned()],
        ..SlotsView::default()
    };
    slots_answer(staff, session, StatusCode::UNPROCESSABLE_ENTITY, view).await
}

/// `POST /staff/slots/release` (`csrf`, `id`): a booked slot was cancelled; it goes to the
/// queue (as `POST /admin/slots/{id}/release`).
pub(super) async fn release(
    State(staff): State<StaffDeps>,
    session: Session,
    body: Bytes,
) -> Response {
    slot_action(&staff, &session, &body, SlotAction::Release).await
}

/// `POST /staff/slots/withdraw` (`csrf`, `id`): the office takes the slot back (as
/// `DELETE /admin/slots/{id}`).
pub(super) async fn withdraw(
    State(staff): State<StaffDeps>,
    session: Session,
    body: Bytes,
) -> Response {
    slot_action(&staff, &session, &body, SlotAction::Withdraw).await
}

#[derive(Clone, Copy)]
enum SlotAction {
    Release,
    Withdraw,
}

async fn slot_action(
    staff: &StaffDeps,
    session: &Session,
    body: &Bytes,
    action: SlotAction,
) -> Response {
    let Some(fields) = session.checked_form(body) else {
        return session.csrf_refused();
    };
    let t = texts(session.lang);
    let raw = fields
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    let Ok(id) = SlotId::parse(&raw) else {
        let view = SlotsView {
            errors: vec![t.get("staff_slot_not_found").to_owned()],
            ..SlotsView::default()
        };
        return slots_answer(staff, session, StatusCode::NOT_FOUND, view).await;
    };
    let deps = &staff.deps;
    let (status, key) = match action {
        SlotAction::Release => match app::release_slot(deps, &id).await {
            Ok(Some(s)) if s.status != SlotStatus::Booked => {
                (StatusCode::OK, "staff_slot_released")
            }
            Ok(Some(_)) => (StatusCode::CONFLICT, "staff_slot_not_booked"),
            Ok(None) => (StatusCode::NOT_FOUND, "staff_slot_not_found"),
            Err(e) => {
                tracing::error!(error = %e, "release failed");
                return super::staff::unavailable(session.lang);
            }
        },
        SlotAction::Withdraw => match app::withdraw_slot(deps, &id).await {
            Ok(app::Withdrawal::Removed) => (StatusCode::OK, "staff_slot_withdrawn"),
            Ok(app::Withdrawal::Booked(_)) => (StatusCode::CONFLICT, "staff_slot_booked"),
            Ok(app::Withdrawal::NotFound) => (StatusCode::NOT_FOUND, "staff_slot_not_found"),
            Err(e) => {
                tracing::error!(error = %e, "withdrawal failed");
                return super::staff::unavailable(session.lang);
            }
        },
    };
    let message = t.fill(key, &[("id", id.as_ref())]);
    let view = if status == StatusCode::OK {
        SlotsView {
            id: matches!(action, SlotAction::Release).then(|| id.as_ref().to_owned()),
            notice: Some(message),
            ..SlotsView::default()
        }
    } else {
        SlotsView {
            id: Some(id.as_ref().to_owned()),
            errors: vec![message],
            ..SlotsView::default()
        }
    };
    slots_answer(staff, session, status, view).await
}

/// `GET /staff/support`: the look-up form.
pub(super) async fn support(State(staff): State<StaffDeps>, session: Session) -> Response {
    support_answer(&staff, &session, StatusCode::OK, SupportView::default()).await
}

#[derive(Default)]
struct SupportView {
    found: Option<Vec<(Wish, Vec<app::Place>)>>,
    notice: Option<String>,
    error: Option<String>,
}

async fn support_answer(
    staff: &StaffDeps,
    session: &Session,
    status: StatusCode,
    view: SupportView,
) -> Response {
    let lang = session.lang;
    let Ok(catalog) = staff.deps.catalog().await else {
        return super::staff::unavailable(lang);
    };
    let mut ctx = views::support(view.found.as_deref(), &catalog, lang);
    ctx["staff"] = session.nav();
    ctx["notice"] = json!(view.notice);
    ctx["error"] = json!(view.error);
    staff_page(status, "staff_support.html", lang, ctx)
}

/// `POST /staff/support` (`csrf`, `email` or `phone`): the wishes of an address, or of a number
/// a wish was taken by phone for; each look recorded in the audit log.
pub(super) async fn support_lookup(
    State(staff): State<StaffDeps>,
    session: Session,
    body: Bytes,
) -> Response {
    let Some(fields) = session.checked_form(&body) else {
        return session.csrf_refused();
    };
    let t = texts(session.lang);
    let refuse = |key: &str| SupportView {
        error: Some(t.get(key).to_owned()),
        ..SupportView::default()
    };
    let (email, phone) = (field(&fields, "email"), field(&fields, "phone"));
    let (deps, actor) = (&staff.deps, session.member.name.as_str());
    let found = match (email.trim(), phone.trim()) {
        ("", "") => Err("staff_support_nothing"),
        ("", phone) => match PhoneNumber::parse(phone) {
            Ok(number) => Ok(app::support_lookup_phone(deps, actor, &number).await),
            Err(_) => Err("staff_support_bad_phone"),
        },
        (email, _) => match Email::parse(email) {
            Ok(email) => Ok(app::support_lookup(deps, actor, &email).await),
            Err(_) => Err("staff_support_bad_email"),
        },
    };
    match found {
        Err(key) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            support_answer(&staff, &session, status, refuse(key)).await
        }
        Ok(Ok(found)) => {
            let view = SupportView {
                found: Some(found),
                ..SupportView::default()
            };
            support_answer(&staff, &session, StatusCode::OK, view).await
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "support look-up failed");
            super::staff::unavailable(session.lang)
        }
    }
}

/// `POST /staff/support/cancel` (`csrf`, `wish`): the citizen's cancel, on their request.
pub(super) async fn support_cancel(
    State(staff): State<StaffDeps>,
    session: Session,
    body: Bytes,
) -> Response {
    let Some(fields) = session.checked_form(&body) else {
        return session.csrf_refused();
    };
    let t = texts(session.lang);
    let not_found = || SupportView {
        error: Some(t.get("staff_support_no_wish").to_owned()),
        ..SupportView::default()
    };
    let Ok(id) = WishId::parse(field(&fields, "wish").trim()) else {
        return support_answer(&staff, &session, StatusCode::NOT_FOUND, not_found()).await;
    };
    match app::support_cancel(&staff.deps, &session.member.name, &id).await {
        Ok((wish, changed)) => {
            let key = match (changed, wish.contact.phone()) {
                (true, None) => "staff_support_cancelled",
                (true, Some(_)) => "staff_support_cancelled_phone",
                (false, _) => "staff_support_not_cancelled",
            };
            let view = SupportView {
                notice: Some(t.get(key).to_owned()),
                ..SupportView::default()
            };
            support_answer(&staff, &session, StatusCode::OK, view).await
        }
        Err(app::AppError::NotFound) => {
            support_answer(&staff, &session, StatusCode::NOT_FOUND, not_found()).await
        }
        Err(e) => {
            tracing::error!(error = %e, "support cancel failed");
            super::staff::unavailable(session.lang)
        }
    }
}

/// `GET /staff/audit` (supervisors): who looked at or changed which wish, when.
pub(super) async fn audit(State(staff): State<StaffDeps>, session: Session) -> Response {
    if let Some(refused) = session.refusal_below(Role::Supervisor) {
        return refused;
    }
    match app::audit_log(&staff.deps).await {
        Ok(entries) => {
            let mut ctx = views::audit(&entries, session.lang);
            ctx["staff"] = session.nav();
            staff_page(StatusCode::OK, "staff_audit.html", session.lang, ctx)
        }
        Err(e) => {
            tracing::error!(error = %e, "audit log unavailable");
            super::staff::unavailable(session.lang)
        }
    }
}

/// `GET /staff/allocations` (supervisors): the allocation record of a period walked and replayed
/// — the period's form, and with `from` or `to` given, the verification's findings. Reads no
/// personal data (the record names wishes by pseudonym), so it writes no audit entry.
pub(super) async fn allocations(
    State(staff): State<StaffDeps>,
    session: Session,
    Query(q): Query<super::admin::PeriodQuery>,
) -> Response {
    if let Some(refused) = session.refusal_below(Role::Supervisor) {
        return refused;
    }
    let deps = &staff.deps;
    let today = deps.clock.now().date_naive();
    let entered = (
        q.from.clone().unwrap_or_default(),
        q.to.clone().unwrap_or_default(),
    );
    let asked = q.from.is_some() || q.to.is_some();
    let (status, errors, report) = match q.period(today) {
        Err(errors) => (StatusCode::UNPROCESSABLE_ENTITY, errors, None),
        Ok(_) if !asked => (StatusCode::OK, std::collections::BTreeMap::new(), None),
        Ok(period) => match app::verify_allocations(deps, period).await {
            Ok(report) => (
                StatusCode::OK,
                std::collections::BTreeMap::new(),
                Some(report),
            ),
            Err(e) => {
                tracing::error!(error = %e, "allocation record unavailable");
                return super::staff::unavailable(session.lang);
            }
        },
    };
    let (from, to) = if asked || !errors.is_empty() {
        entered
    } else {
        let p = q.period(today).ok();
        (
            p.map(|p| p.from.to_string()).unwrap_or_default(),
            p.map(|p| p.to.to_string()).unwrap_or_default(),
        )
    };
    let mut ctx = views::allocations((&from, &to), &errors, report.as_ref(), session.lang);
    ctx["staff"] = session.nav();
    staff_page(status, "staff_allocations.html", session.lang, ctx)
}

/// The value of the form field `name` (empty when absent).
pub(super) fn field(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}
