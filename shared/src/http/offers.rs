//! respond-offer: the offer page behind a mail's link and the three answers.

use super::dto::offer_json;
use super::{BODY_LIMIT, LangQuery, error_response, language, page, wants_json};
use crate::app::{self, AppError, Deps};
use crate::domain::{Language, Offer};
use crate::render::views::{self, OfferPage};
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
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
    deps: &Deps,
    token: &str,
    q: &LangQuery,
    headers: &HeaderMap,
    result: Result<(Offer, Option<Language>), AppError>,
    (title_key, choice): (Option<&str>, Option<&str>),
) -> Response {
    let json = wants_json(headers);
    match result {
        Ok((offer, wish_lang)) => {
            let view = OfferPage {
                token,
                lang: language(q, wish_lang, headers),
                title_key,
                choice,
            };
            show_offer(deps, &offer, view, json).await
        }
        Err(e) => error_response(&e, language(q, None, headers), json),
    }
}

/// The offer behind the link with its wish's language (one read of each).
async fn offer_by_link(deps: &Deps, token: &str) -> Result<(Offer, Option<Language>), AppError> {
    let (offer, wish, _) = app::offer_by_token(deps, token).await?;
    Ok((offer, wish.map(|w| w.language)))
}

/// An answer's result with the language of the offer's wish, for the page that shows it.
async fn answered(
    deps: &Deps,
    result: Result<Offer, AppError>,
) -> Result<(Offer, Option<Language>), AppError> {
    let offer = result?;
    let lang = app::wish_language(deps, &offer).await;
    Ok((offer, lang))
}

async fn offer_choice(
    deps: Deps,
    token: String,
    q: LangQuery,
    headers: HeaderMap,
    choice: &str,
) -> Response {
    let result = offer_by_link(&deps, &token).await;
    offer_answer(&deps, &token, &q, &headers, result, (None, Some(choice))).await
}

async fn choose_accept(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    offer_choice(deps, token, q, headers, "accept").await
}

async fn choose_decline(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    offer_choice(deps, token, q, headers, "decline").await
}

async fn choose_cancel(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    offer_choice(deps, token, q, headers, "cancel").await
}

async fn offer_page(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let result = offer_by_link(&deps, &token).await;
    offer_answer(&deps, &token, &q, &headers, result, (None, None)).await
}

async fn accept_offer(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let result = answered(&deps, app::accept_offer(&deps, &token).await).await;
    offer_answer(&deps, &token, &q, &headers, result, (None, None)).await
}

async fn decline_offer(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let result = answered(&deps, app::decline_offer(&deps, &token).await).await;
    offer_answer(&deps, &token, &q, &headers, result, (None, None)).await
}

async fn cancel_from_offer(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let result = answered(&deps, app::cancel_from_offer(&deps, &token).await).await;
    let title = Some("wish_cancelled_title");
    offer_answer(&deps, &token, &q, &headers, result, (title, None)).await
}
