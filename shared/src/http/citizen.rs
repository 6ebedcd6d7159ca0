//! submit-wish: the form, the offices, wish submission and the wish's page and actions.

use super::dto::{
    WISH_FIELDS, form_proof, form_to_request, offices_json, wish_json, wish_request_json,
};
use super::{LangQuery, PUBLIC_BODY_LIMIT, Visit, error_response, language, page};
use crate::app::{self, AppError, Deps};
use crate::domain::{Catalog, ChallengeMode, FieldErrors, Language, Wish};
use crate::render::views::{self, add_field_errors, form_context};
use crate::render::{self, texts};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

/// Routes of the submit-wish function.
pub fn citizen_router(deps: Deps) -> Router {
    Router::new()
        .route("/", get(form_page))
        .route("/barrierefreiheit", get(accessibility_statement))
        .route("/accessibility", get(accessibility_statement_en))
        .route("/statistik", get(statistics_page))
        .route("/statistics", get(statistics_page_en))
        .route("/api/statistics", get(statistics_json))
        .route("/api/offices", get(list_offices))
        .route("/api/challenge", get(challenge))
        .route("/assets/altcha/{file}", get(widget_file))
        .route("/api/openapi.json", get(super::openapi::openapi))
        .route("/api/wishes", post(post_wish))
        .route("/w/{token}", get(wish_page))
        .route("/w/{token}/confirm", get(wish_page).post(confirm_wish))
        .route("/w/{token}/cancel", post(cancel_wish))
        .route("/w/{token}/keep", post(keep_wish))
        .layer(DefaultBodyLimit::max(PUBLIC_BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            super::origin::CloudFront::of(&deps.config),
            super::origin::only_through_cloudfront,
        ))
        .with_state(deps)
}

/// `GET /barrierefreiheit`: the accessibility statement, German unless `?lang=en` or the
/// browser asks for English.
async fn accessibility_statement(visit: Visit) -> Response {
    statement_page(&visit.deps, visit.language(None))
}

/// `GET /accessibility`: the same statement, English unless `?lang=de`.
async fn accessibility_statement_en(visit: Visit) -> Response {
    statement_page(&visit.deps, visit.language(Some(Language::En)))
}

fn statement_page(deps: &Deps, lang: Language) -> Response {
    let lang_switch = match lang {
        Language::De => "/accessibility?lang=en",
        Language::En => "/barrierefreiheit?lang=de",
    };
    let ctx = json!({
        "title": texts(lang).get("a11y_title"),
        "contact": deps.config.accessibility_contact.as_ref(),
        "lang_switch": lang_switch,
    });
    match render::render("accessibility.html", lang, ctx) {
        Ok(html) => (StatusCode::OK, Html(html)).into_response(),
        Err(e) => error_response(&AppError::Render(e), lang, false),
    }
}

/// How long browsers and caches in between may keep the statistics: together with the
/// process's own [`app::STATISTICS_MAX_AGE`] well within the contract's hour.
const STATISTICS_CACHE: &str = "public, max-age=300";

/// `GET /statistik`: the public statistics, German unless `?lang=en` or the browser asks for
/// English.
async fn statistics_page(visit: Visit) -> Response {
    statistics_html(&visit, visit.language(None)).await
}

/// `GET /statistics`: the same page, English unless `?lang=de`.
async fn statistics_page_en(visit: Visit) -> Response {
    statistics_html(&visit, visit.language(Some(Language::En))).await
}

async fn statistics_html(visit: &Visit, lang: Language) -> Response {
    let lang_switch = match lang {
        Language::De => "/statistics?lang=en",
        Language::En => "/statistik?lang=de",
    };
    let (stats, catalog) = match statistics_with_catalog(&visit.deps).await {
        Ok(found) => found,
        Err(e) => return error_response(&e, lang, false),
    };
    let ctx = views::statistics_page(&stats, &catalog, lang, lang_switch);
    match render::render("statistics.html", lang, ctx) {
        Ok(html) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, STATISTICS_CACHE)],
            Html(html),
        )
            .into_response(),
        Err(e) => error_response(&AppError::Render(e), lang, false),
    }
}

async fn statistics_with_catalog(
    deps: &Deps,
) -> Result<
    (
        std::sync::Arc<crate::domain::public_stats::PublicStats>,
        std::sync::Arc<Catalog>,
    ),
    AppError,
> {
    let stats = app::public_statistics(deps).await?;
    Ok((stats, deps.catalog().await?))
}

/// `GET /api/statistics`: the public statistics as JSON (`{updated_at, groups: […]}`).
async fn statistics_json(visit: Visit) -> Response {
    match app::public_statistics(&visit.deps).await {
        Ok(stats) => (
            [(header::CACHE_CONTROL, STATISTICS_CACHE)],
            Json(stats.as_ref()),
        )
            .into_response(),
        Err(e) => error_response(&e, visit.language(None), true),
    }
}

async fn list_offices(visit: Visit) -> Response {
    let lang = visit.language(None);
    match visit.deps.catalog().await {
        Ok(c) => Json(offices_json(&c, lang)).into_response(),
        Err(e) => error_response(&e, lang, true),
    }
}

/// `GET /api/challenge`: a proof-of-work challenge (ALTCHA's JSON), for the form's widget and
/// for API clients; fresh on every call, never cached.
async fn challenge(State(deps): State<Deps>) -> Response {
    match app::new_challenge(&deps) {
        Ok(c) => Json(c).into_response(),
        Err(e) => error_response(&e, Language::En, true),
    }
}

/// The widget's files (npm `altcha`, see `scripts/vendor-altcha.sh`), compiled in: served from
/// here, so no third party learns of a visit. Cached for a day; a new version changes the files
/// under the same names, so they are not marked immutable.
async fn widget_file(Path(file): Path<String>) -> Response {
    let (body, kind): (&'static [u8], &str) = match file.as_str() {
        "init.js" => (
            include_bytes!("../../assets/altcha/init.js"),
            "text/javascript",
        ),
        "altcha.js" => (
            include_bytes!("../../assets/altcha/altcha.js"),
            "text/javascript",
        ),
        "de.js" => (
            include_bytes!("../../assets/altcha/de.js"),
            "text/javascript",
        ),
        "sha.js" => (
            include_bytes!("../../assets/altcha/sha.js"),
            "text/javascript",
        ),
        "altcha.css" => (include_bytes!("../../assets/altcha/altcha.css"), "text/css"),
        _ => return error_response(&AppError::NotFound, Language::En, false),
    };
    (
        [
            (header::CONTENT_TYPE, format!("{kind}; charset=utf-8")),
            (header::CACHE_CONTROL, "public, max-age=86400".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// The form, with the field errors: `errors` (field → English message), `error_codes` (field →
/// stable code, for texts that say it in the page's language) and `error_texts` (field → a
/// sentence already in the page's language, where the code alone cannot say it).
/// With the proof of work asked for, the page carries the widget; enforced, it also says how to
/// leave a wish without JavaScript.
fn render_form(
    c: &Catalog,
    lang: Language,
    challenge: ChallengeMode,
    status: StatusCode,
    values: serde_json::Value,
    errors: &FieldErrors,
    said: &[(&str, String)],
) -> Response {
    let mut ctx = form_context(c, lang);
    ctx["challenge"] = json!((challenge != ChallengeMode::Off).then_some(challenge.as_str()));
    ctx["values"] = values;
    add_field_errors(&mut ctx, errors, lang);
    for (field, text) in said {
        ctx["error_texts"][*field] = json!(text);
    }
    ctx["title"] = json!(texts(lang).get("form_title"));
    match render::render("form.html", lang, ctx) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => error_response(&AppError::Render(e), lang, false),
    }
}

async fn form_page(visit: Visit) -> Response {
    let lang = visit.language(None);
    match visit.deps.catalog().await {
        Ok(c) => render_form(
            &c,
            lang,
            visit.deps.config.challenge.mode,
            StatusCode::OK,
            json!({"offices": [], "windows": []}),
            &FieldErrors::default(),
            &[],
        ),
        Err(e) => error_response(&e, lang, false),
    }
}

/// The caller's network address: behind CloudFront (`ORIGIN_SECRET`) the viewer's address it
/// names, else API Gateway's `sourceIp` in Lambda, the socket's peer locally.
pub struct ClientAddr(pub(crate) Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        use lambda_http::request::RequestContext;
        if let Some(super::origin::Viewer(viewer)) = parts.extensions.get() {
            return Ok(Self(viewer.clone()));
        }
        if let Some(RequestContext::ApiGatewayV2(ctx)) = parts.extensions.get::<RequestContext>()
            && let Some(ip) = &ctx.http.source_ip
        {
            return Ok(Self(Some(ip.clone())));
        }
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Self(peer))
    }
}

/// The answer to a form the submission refused: the form again, as filled in, saying why on the
/// field concerned — a wrong field, the address (and how to go on), the proof of work (and,
/// without JavaScript, how else) — or the error page.
async fn form_refused(
    deps: &Deps,
    lang: Language,
    values: serde_json::Value,
    e: AppError,
) -> Response {
    let mode = deps.config.challenge.mode;
    let (status, errors, said) = match e {
        AppError::Invalid(errors) => (StatusCode::UNPROCESSABLE_ENTITY, errors, Vec::new()),
        AppError::Address(refusal) => {
            let status = match refusal {
                app::AddressRefusal::Suppressed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                app::AddressRefusal::MailsUsedUp { .. } => StatusCode::TOO_MANY_REQUESTS,
            };
            let said = vec![("email", super::refusal_text(refusal, lang))];
            (status, refusal.field_errors(), said)
        }
        AppError::Challenge(refusal) => {
            let mut errors = FieldErrors::default();
            errors.add("altcha", refusal.code(), refusal.message());
            (StatusCode::FORBIDDEN, errors, Vec::new())
        }
        e => return error_response(&e, lang, false),
    };
    match deps.catalog().await {
        Ok(c) => render_form(&c, lang, mode, status, values, &errors, &said),
        Err(e) => error_response(&e, lang, false),
    }
}

async fn post_wish(
    State(deps): State<Deps>,
    Query(q): Query<LangQuery>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        let request = match wish_request_json(&body, &WISH_FIELDS, "a JSON wish object") {
            Ok(r) => r,
            Err(refused) => return *refused,
        };
        let proof = request.proof();
        return match app::submit_wish(&deps, &request.draft(), proof.as_deref(), client.as_deref())
            .await
        {
            Ok(s) => (
                StatusCode::ACCEPTED,
                Json(json!({"id": s.wish.id, "status": s.wish.status.as_str(),
                    "mail": if s.mailed { "sent" } else { "already_sent_today" }})),
            )
                .into_response(),
            Err(e) => error_response(&e, Language::En, true),
        };
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let (request, values) = form_to_request(&body);
        // The page speaks the form's language (`?lang` on its action); the mails the chosen one.
        let lang = q
            .lang
            .as_deref()
            .and_then(Language::parse)
            .unwrap_or_else(|| {
                request
                    .language
                    .as_deref()
                    .and_then(Language::parse)
                    .unwrap_or_else(|| language(&q, None, &headers))
            });
        let t = texts(lang);
        let proof = form_proof(&body);
        return match app::submit_wish(&deps, &request, proof.as_deref(), client.as_deref()).await {
            Ok(s) => {
                let first = if s.mailed {
                    "submitted_intro"
                } else {
                    "submitted_no_mail"
                };
                page(
                    StatusCode::ACCEPTED,
                    lang,
                    json!({"title": t.get("submitted_title"), "paragraphs": [t.get(first), t.get("submitted_next")]}),
                )
            }
            Err(e) => form_refused(&deps, lang, values, e).await,
        };
    }
    (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Json(json!({"error": "send application/json or application/x-www-form-urlencoded", "fields": {}})),
    )
        .into_response()
}

async fn show_wish(
    deps: &Deps,
    wish: &Wish,
    token: &str,
    lang: Language,
    json: bool,
    title_key: Option<&str>,
) -> Response {
    if json {
        return Json(wish_json(wish)).into_response();
    }
    let catalog = match deps.catalog().await {
        Ok(c) => c,
        Err(e) => return error_response(&e, lang, false),
    };
    // The page shows without the places when they cannot be read (a throttled count).
    let places = app::places_in_line(deps, wish).await.unwrap_or_default();
    page(
        StatusCode::OK,
        lang,
        views::wish_page(wish, &places, &catalog, token, lang, title_key),
    )
}

/// The wish page after a use case on its link: in the wish's language unless the query asks for
/// another, titled after what was done (`title_key`).
async fn wish_answer(
    visit: &Visit,
    token: &str,
    result: Result<Wish, AppError>,
    title_key: Option<&str>,
) -> Response {
    let json = visit.wants_json();
    match result {
        Ok(wish) => {
            let lang = visit.language(Some(wish.language));
            show_wish(&visit.deps, &wish, token, lang, json, title_key).await
        }
        Err(e) => error_response(&e, visit.language(None), json),
    }
}

async fn wish_page(visit: Visit, Path(token): Path<String>) -> Response {
    let result = app::wish_by_token(&visit.deps, &token)
        .await
        .map(|(w, _)| w);
    wish_answer(&visit, &token, result, None).await
}

async fn confirm_wish(visit: Visit, Path(token): Path<String>) -> Response {
    let result = app::confirm_wish(&visit.deps, &token).await;
    wish_answer(&visit, &token, result, Some("wish_confirmed_title")).await
}

async fn keep_wish(visit: Visit, Path(token): Path<String>) -> Response {
    let result = app::keep_wish(&visit.deps, &token).await;
    wish_answer(&visit, &token, result, Some("wish_kept_title")).await
}

async fn cancel_wish(visit: Visit, Path(token): Path<String>) -> Response {
    let result = app::cancel_by_link(&visit.deps, &token).await;
    wish_answer(&visit, &token, result, Some("wish_cancelled_title")).await
}
