//! respond-offer: the offer page behind a mail's link and the three answers; the booked
//! appointment's page, its calendar file and giving it back.

use super::dto::{appointment_json, offer_json};
use super::{PUBLIC_BODY_LIMIT, Visit, error_response, page};
use crate::app::{self, AppError, Deps};
use crate::domain::{Language, Offer};
use crate::render::views::{self, OfferPage};
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Routes of the respond-offer function.
pub fn offer_router(deps: Deps) -> Router {
    Router::new()
        .route("/o/{token}", get(offer_page))
        .route("/o/{token}/accept", get(choose_accept).post(accept_offer))
        .route(
            "/o/{token}/decline",
            get(choose_decline).post(decline_offer),
        )
        .route(
            "/o/{token}/cancel",
            get(choose_cancel).post(cancel_from_offer),
        )
        .route("/a/{token}", get(appointment_page))
        .route("/a/{token}/calendar.ics", get(appointment_calendar))
        .route(
            "/a/{token}/earlier",
            get(choose_earlier).post(look_for_earlier),
        )
        .route(
            "/a/{token}/return",
            get(choose_return).post(return_appointment),
        )
        .layer(DefaultBodyLimit::max(PUBLIC_BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            super::origin::CloudFront::of(&deps.config),
            super::origin::only_through_cloudfront,
        ))
        .with_state(deps)
}

/// The offer page as JSON or HTML ([`views::offer_page`]).
async fn show_offer(deps: &Deps, offer: &Offer, view: OfferPage<'_>, json: bool) -> Response {
    let now = deps.clock.now();
    if json {
        return Json(offer_json(offer, now)).into_response();
    }
    let catalog = match deps.catalog().await {
        Ok(c) => c,
        Err(e) => return error_response(&e, view.lang, false),
    };
    page(
        StatusCode::OK,
        view.lang,
        views::offer_page(offer, &catalog, view, now),
    )
}

/// The offer page after a use case on its link, in the wish's language unless the query asks
/// for another; `title_key` names what was done, `choice` the one action to confirm.
async fn offer_answer(
    visit: &Visit,
    token: &str,
    result: Result<(Offer, Option<Language>), AppError>,
    (title_key, choice): (Option<&str>, Option<&str>),
) -> Response {
    let json = visit.wants_json();
    match result {
        Ok((offer, wish_lang)) => {
            let view = OfferPage {
                token,
                lang: visit.language(wish_lang),
                title_key,
                choice,
            };
            show_offer(&visit.deps, &offer, view, json).await
        }
        Err(e) => error_response(&e, visit.language(None), json),
    }
}

/// The offer behind the link with its wish's language (one read of each).
async fn offer_by_link(visit: &Visit, token: &str) -> Result<(Offer, Option<Language>), AppError> {
    let (offer, wish, _) = app::offer_by_token(&visit.deps, token).await?;
    Ok((offer, wish.map(|w| w.language)))
}

/// An answer's result with the language of the offer's wish, for the page that shows it.
async fn answered(
    visit: &Visit,
    result: Result<Offer, AppError>,
) -> Result<(Offer, Option<Language>), AppError> {
    let offer = result?;
    let lang = app::wish_language(&visit.deps, &offer).await;
    Ok((offer, lang))
}

/// `GET` of an answer's link: the offer with that one action to confirm (a GET changes nothing).
async fn offer_choice(visit: Visit, token: &str, choice: &str) -> Response {
    let result = offer_by_link(&visit, token).await;
    offer_answer(&visit, token, result, (None, Some(choice))).await
}

async fn choose_accept(visit: Visit, Path(token): Path<String>) -> Response {
    offer_choice(visit, &token, "accept").await
}

async fn choose_decline(visit: Visit, Path(token): Path<String>) -> Response {
    offer_choice(visit, &token, "decline").await
}

async fn choose_cancel(visit: Visit, Path(token): Path<String>) -> Response {
    offer_choice(visit, &token, "cancel").await
}

async fn offer_page(visit: Visit, Path(token): Path<String>) -> Response {
    let result = offer_by_link(&visit, &token).await;
    offer_answer(&visit, &token, result, (None, None)).await
}

async fn accept_offer(visit: Visit, Path(token): Path<String>) -> Response {
    let result = answered(&visit, app::accept_offer(&visit.deps, &token).await).await;
    offer_answer(&visit, &token, result, (None, None)).await
}

async fn decline_offer(visit: Visit, Path(token): Path<String>) -> Response {
    let result = answered(&visit, app::decline_offer(&visit.deps, &token).await).await;
    offer_answer(&visit, &token, result, (None, None)).await
}

async fn cancel_from_offer(visit: Visit, Path(token): Path<String>) -> Response {
    let done = app::cancel_from_offer(&visit.deps, &token).await;
    let result = answered(&visit, done).await;
    offer_answer(&visit, &token, result, (Some("wish_cancelled_title"), None)).await
}

/// An appointment as its page shows it: the offer, its wish's language, and whether the wish
/// looks for an earlier one.
struct Shown {
    offer: Offer,
    lang: Option<Language>,
    looking: bool,
}

impl Shown {
    fn new(offer: Offer, wish: Option<&crate::domain::Wish>) -> Self {
        let looking = wish.is_some_and(|w| w.in_line() && w.holding() == Some(&offer.id));
        Self {
            lang: wish.map(|w| w.language),
            offer,
            looking,
        }
    }
}

/// The appointment page (or its JSON) after `result`, in the wish's language unless the query
/// asks for another.
async fn appointment_answer(
    visit: &Visit,
    token: &str,
    result: Result<Shown, AppError>,
    (title_key, choice): (Option<&str>, Option<&str>),
) -> Response {
    let json = visit.wants_json();
    let shown = match result {
        Ok(found) => found,
        Err(e) => return error_response(&e, visit.language(None), json),
    };
    let Some(status) = shown.offer.appointment(visit.deps.clock.now()) else {
        return error_response(&AppError::NotFound, visit.language(None), json);
    };
    let looking = shown.looking && status == crate::domain::offer::AppointmentStatus::Booked;
    if json {
        return Json(appointment_json(&shown.offer, status, looking)).into_response();
    }
    let lang = visit.language(shown.lang);
    let catalog = match visit.deps.catalog().await {
        Ok(c) => c,
        Err(e) => return error_response(&e, lang, false),
    };
    let view = OfferPage {
        token,
        lang,
        title_key,
        choice,
    };
    page(
        StatusCode::OK,
        lang,
        views::appointment_page(&shown.offer, (status, looking), &catalog, view),
    )
}

/// The appointment behind the link with its wish (one read of each).
async fn appointment_by_link(visit: &Visit, token: &str) -> Result<Shown, AppError> {
    let (offer, wish, _) = app::appointment_by_token(&visit.deps, token).await?;
    Ok(Shown::new(offer, wish.as_ref()))
}

async fn appointment_page(visit: Visit, Path(token): Path<String>) -> Response {
    let result = appointment_by_link(&visit, &token).await;
    appointment_answer(&visit, &token, result, (None, None)).await
}

/// `GET /a/{token}/return`: asks before giving the appointment back (a link changes nothing).
async fn choose_return(visit: Visit, Path(token): Path<String>) -> Response {
    let result = appointment_by_link(&visit, &token).await;
    appointment_answer(&visit, &token, result, (None, Some("return"))).await
}

async fn return_appointment(visit: Visit, Path(token): Path<String>) -> Response {
    let result = answered(&visit, app::return_appointment(&visit.deps, &token).await).await;
    let result = result.map(|(offer, lang)| Shown {
        offer,
        lang,
        looking: false,
    });
    appointment_answer(&visit, &token, result, (None, None)).await
}

/// `GET /a/{token}/earlier`: asks before looking for an earlier appointment.
async fn choose_earlier(visit: Visit, Path(token): Path<String>) -> Response {
    let result = appointment_by_link(&visit, &token).await;
    appointment_answer(&visit, &token, result, (None, Some("earlier"))).await
}

async fn look_for_earlier(visit: Visit, Path(token): Path<String>) -> Response {
    let result = app::look_for_earlier(&visit.deps, &token)
        .await
        .map(|(offer, wish)| Shown::new(offer, wish.as_ref()));
    appointment_answer(&visit, &token, result, (None, None)).await
}

/// `GET /a/{token}/calendar.ics`: the appointment for a calendar (its cancellation once given
/// back), in the wish's language.
async fn appointment_calendar(visit: Visit, Path(token): Path<String>) -> Response {
    use crate::domain::offer::AppointmentStatus;
    use crate::mails::ics;
    let (offer, wish, _) = match app::appointment_by_token(&visit.deps, &token).await {
        Ok(found) => found,
        Err(e) => return error_response(&e, visit.language(None), visit.wants_json()),
    };
    let lang = visit.language(wish.map(|w| w.language));
    let catalog = match visit.deps.catalog().await {
        Ok(c) => c,
        Err(e) => return error_response(&e, lang, false),
    };
    let method = match offer.appointment(visit.deps.clock.now()) {
        Some(AppointmentStatus::Returned) => ics::Method::Cancel,
        _ => ics::Method::Publish,
    };
    let base = visit.deps.config.public_base_url.as_str();
    let page = format!("{base}/a/{token}");
    let body = ics::appointment(&offer, &catalog, lang, (base, &page), method);
    (
        [
            (header::CONTENT_TYPE, method.content_type()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"termin.ics\"",
            ),
        ],
        body,
    )
        .into_response()
}
