//! respond-offer: the offer page behind a mail's link and the three answers.

use super::dto::offer_json;
use super::{BODY_LIMIT, Link, error_response, page};
use crate::app::{self, AppError, Deps};
use crate::domain::{Language, Offer};
use crate::render::views::{self, OfferPage};
use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
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
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
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
    link: &Link,
    result: Result<(Offer, Option<Language>), AppError>,
    (title_key, choice): (Option<&str>, Option<&str>),
) -> Response {
    let json = link.wants_json();
    match result {
        Ok((offer, wish_lang)) => {
            let view = OfferPage {
                token: &link.token,
                lang: link.language(wish_lang),
                title_key,
                choice,
            };
            show_offer(&link.deps, &offer, view, json).await
        }
        Err(e) => error_response(&e, link.language(None), json),
    }
}

/// The offer behind the link with its wish's language (one read of each).
async fn offer_by_link(link: &Link) -> Result<(Offer, Option<Language>), AppError> {
    let (offer, wish, _) = app::offer_by_token(&link.deps, &link.token).await?;
    Ok((offer, wish.map(|w| w.language)))
}

/// An answer's result with the language of the offer's wish, for the page that shows it.
async fn answered(
    link: &Link,
    result: Result<Offer, AppError>,
) -> Result<(Offer, Option<Language>), AppError> {
    let offer = result?;
    let lang = app::wish_language(&link.deps, &offer).await;
    Ok((offer, lang))
}

/// `GET` of an answer's link: the offer with that one action to confirm (a GET changes nothing).
async fn offer_choice(link: Link, choice: &str) -> Response {
    let result = offer_by_link(&link).await;
    offer_answer(&link, result, (None, Some(choice))).await
}

async fn choose_accept(link: Link) -> Response {
    offer_choice(link, "accept").await
}

async fn choose_decline(link: Link) -> Response {
    offer_choice(link, "decline").await
}

async fn choose_cancel(link: Link) -> Response {
    offer_choice(link, "cancel").await
}

async fn offer_page(link: Link) -> Response {
    let result = offer_by_link(&link).await;
    offer_answer(&link, result, (None, None)).await
}

async fn accept_offer(link: Link) -> Response {
    let result = answered(&link, app::accept_offer(&link.deps, &link.token).await).await;
    offer_answer(&link, result, (None, None)).await
}

async fn decline_offer(link: Link) -> Response {
    let result = answered(&link, app::decline_offer(&link.deps, &link.token).await).await;
    offer_answer(&link, result, (None, None)).await
}

async fn cancel_from_offer(link: Link) -> Response {
    let done = app::cancel_from_offer(&link.deps, &link.token).await;
    let result = answered(&link, done).await;
    offer_answer(&link, result, (Some("wish_cancelled_title"), None)).await
}
