//! respond-offer: the offer page behind a mail's link and the three answers.

use super::dto::offer_json;
use super::{BODY_LIMIT, LangQuery, error_response, language, page, wants_json};
use crate::app::{self, AppError, Deps};
use crate::domain::Offer;
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

async fn offer_action(
    deps: Deps,
    token: String,
    q: LangQuery,
    headers: HeaderMap,
    action: for<'a> fn(&'a Deps, &'a str) -> futures_like::BoxFuture<'a, Result<Offer, AppError>>,
    title: Option<&'static str>,
) -> Response {
    let json = wants_json(&headers);
    match action(&deps, &token).await {
        Ok(offer) => {
            let wish_lang = app::wish_language(&deps, &offer).await;
            let lang = language(&q, wish_lang, &headers);
            let view = OfferPage {
                token: &token,
                lang,
                title_key: title,
                choice: None,
            };
            show_offer(&deps, &offer, view, json).await
        }
        Err(e) => error_response(&e, language(&q, None, &headers), json),
    }
}

mod futures_like {
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
}

async fn offer_choice(
    deps: Deps,
    token: String,
    q: LangQuery,
    headers: HeaderMap,
    choice: &'static str,
) -> Response {
    let json = wants_json(&headers);
    match app::offer_by_token(&deps, &token).await {
        Ok((offer, wish, _)) => {
            let lang = language(&q, wish.map(|w| w.language), &headers);
            let view = OfferPage {
                token: &token,
                lang,
                title_key: None,
                choice: Some(choice),
            };
            show_offer(&deps, &offer, view, json).await
        }
        Err(e) => error_response(&e, language(&q, None, &headers), json),
    }
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
    offer_action(
        deps,
        token,
        q,
        headers,
        |d, t| Box::pin(async move { app::offer_by_token(d, t).await.map(|(o, _, _)| o) }),
        None,
    )
    .await
}

async fn accept_offer(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    offer_action(
        deps,
        token,
        q,
        headers,
        |d, t| Box::pin(app::accept_offer(d, t)),
        None,
    )
    .await
}

async fn decline_offer(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    offer_action(
        deps,
        token,
        q,
        headers,
        |d, t| Box::pin(app::decline_offer(d, t)),
        None,
    )
    .await
}

async fn cancel_from_offer(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    offer_action(
        deps,
        token,
        q,
        headers,
        |d, t| Box::pin(app::cancel_from_offer(d, t)),
        Some("wish_cancelled_title"),
    )
    .await
}
