//! The console's pages for people without email: entering a wish taken by phone or at the
//! counter (`/staff/phone`) and the call list of their offers (`/staff/calls`), where the clerk
//! records the answer.

use super::dto::form_to_request;
use super::staff::{Session, StaffDeps, staff_page};
use super::staff_pages::field;
use crate::app;
use crate::domain::persons::MAX_PERSONS;
use crate::domain::phone::{CallAnswer, PhoneWishDraft};
use crate::domain::{FieldErrors, OfferId};
use crate::render::staff as views;
use crate::render::texts;
use crate::render::views::{add_field_errors, form_context};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

/// `GET /staff/phone`: the form.
pub(super) async fn phone_page(State(staff): State<StaffDeps>, session: Session) -> Response {
    let values = json!({"offices": [], "windows": []});
    phone_answer(
        &staff,
        &session,
        StatusCode::OK,
        values,
        &FieldErrors::default(),
        None,
    )
    .await
}

/// `POST /staff/phone` (`csrf`, the citizen form's `service`, `offices`, `w`, and `persons`,
/// `name`, `phone`): the wish is entered, confirmed; every bad field is named (422) and nothing
/// is stored.
pub(super) async fn enter(
    State(staff): State<StaffDeps>,
    session: Session,
    body: Bytes,
) -> Response {
    let Some(fields) = session.checked_form(&body) else {
        return session.csrf_refused();
    };
    let (wish, mut values) = form_to_request(&body);
    let get = |name: &str| {
        fields
            .iter()
            .any(|(k, _)| k == name)
            .then(|| field(&fields, name))
    };
    let draft = PhoneWishDraft {
        wish,
        name: get("name"),
        phone: get("phone"),
        persons: get("persons"),
    };
    values["name"] = json!(draft.name);
    values["phone"] = json!(draft.phone);
    values["persons"] = json!(draft.persons);
    match app::enter_phone_wish(&staff.deps, &session.member.name, &draft).await {
        Ok(wish) => {
            let name = wish.contact.phone().map_or("", |p| p.name.as_ref());
            let notice = texts(session.lang).fill("staff_phone_entered", &[("name", name)]);
            let values = json!({"offices": [], "windows": []});
            let errors = FieldErrors::default();
            phone_answer(
                &staff,
                &session,
                StatusCode::OK,
                values,
                &errors,
                Some(notice),
            )
            .await
        }
        Err(app::AppError::Invalid(errors)) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            phone_answer(&staff, &session, status, values, &errors, None).await
        }
        Err(e) => {
            tracing::error!(error = %e, "phone wish not entered");
            super::staff::unavailable(session.lang)
        }
    }
}

async fn phone_answer(
    staff: &StaffDeps,
    session: &Session,
    status: StatusCode,
    values: Value,
    errors: &FieldErrors,
    notice: Option<String>,
) -> Response {
    let lang = session.lang;
    let Ok(catalog) = staff.deps.catalog().await else {
        return super::staff::unavailable(lang);
    };
    let mut ctx = form_context(&catalog, lang);
    ctx["values"] = values;
    add_field_errors(&mut ctx, errors, lang);
    ctx["persons"] = json!((1..=MAX_PERSONS).collect::<Vec<_>>());
    ctx["title"] = json!(texts(lang).get("staff_phone_title"));
    ctx["notice"] = json!(notice);
    ctx["staff"] = session.nav();
    staff_page(status, "staff_phone.html", lang, ctx)
}

/// `GET /staff/calls`: the call list (each wish shown is in the audit log first).
pub(super) async fn calls(State(staff): State<StaffDeps>, session: Session) -> Response {
    calls_answer(&staff, &session, StatusCode::OK, None, None).await
}

async fn calls_answer(
    staff: &StaffDeps,
    session: &Session,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let lang = session.lang;
    let deps = &staff.deps;
    let (catalog, calls) = match (
        deps.catalog().await,
        app::call_list(deps, &session.member.name).await,
    ) {
        (Ok(c), Ok(calls)) => (c, calls),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "call list unavailable");
            return super::staff::unavailable(lang);
        }
    };
    let mut ctx = views::calls(&calls, &catalog, lang);
    ctx["staff"] = session.nav();
    ctx["notice"] = json!(notice);
    ctx["error"] = json!(error);
    staff_page(status, "staff_calls.html", lang, ctx)
}

/// `POST /staff/calls/answer` (`csrf`, `offer`, `answer`: `accepted`, `declined` or
/// `not_reached`): the person's answer, through the citizen's own accept and decline.
pub(super) async fn answer(
    State(staff): State<StaffDeps>,
    session: Session,
    body: Bytes,
) -> Response {
    let Some(fields) = session.checked_form(&body) else {
        return session.csrf_refused();
    };
    let t = texts(session.lang);
    let get = |name: &str| field(&fields, name).trim().to_owned();
    let refuse = |status, key: &str| {
        let error = Some(t.get(key).to_owned());
        calls_answer(&staff, &session, status, None, error)
    };
    let Some(answer) = CallAnswer::parse(&get("answer")) else {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "staff_calls_no_answer").await;
    };
    let Ok(offer) = OfferId::parse(&get("offer")) else {
        return refuse(StatusCode::NOT_FOUND, "staff_calls_no_offer").await;
    };
    let deps = &staff.deps;
    match app::record_answer(deps, &session.member.name, &offer, answer).await {
        Ok(app::Recorded::Done(_, wish)) => {
            let key = match answer {
                CallAnswer::Accepted => "staff_calls_done_accepted",
                CallAnswer::Declined => "staff_calls_done_declined",
                CallAnswer::NotReached => "staff_calls_done_not_reached",
            };
            let name = wish.contact.phone().map_or("", |p| p.name.as_ref());
            let notice = Some(t.fill(key, &[("name", name)]));
            calls_answer(&staff, &session, StatusCode::OK, notice, None).await
        }
        Ok(app::Recorded::NotOpen(_)) => refuse(StatusCode::CONFLICT, "staff_calls_not_open").await,
        Err(app::AppError::NotFound) => refuse(StatusCode::NOT_FOUND, "staff_calls_no_offer").await,
        Err(e) => {
            tracing::error!(error = %e, "answer not recorded");
            super::staff::unavailable(session.lang)
        }
    }
}
