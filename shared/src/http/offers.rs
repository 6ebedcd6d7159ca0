//! respond-offer: the offer page behind a mail's link and the three answers.

use super::dto::offer_json;
use super::{PUBLIC_BODY_LIMIT, Visit, error_response, page};
use crate::app::{self, AppError, Deps};
use crate::domain::{Language, Offer};
use crate::render::views::{self, OfferPage};
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::StatusCode;
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
