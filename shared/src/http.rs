//! The HTTP edge: one axum router per function, served by `lambda_http` in AWS and directly by
//! the local runner. Pages for people (HTML), the same data as JSON for programs.

use crate::app::{self, AppError, Deps};
use crate::config::AdminAuth;
use crate::domain::slot::SlotInput;
use crate::domain::wait::RELEASE_WINDOW_DAYS;
use crate::domain::wish::{CLOSED_NAMED, windows_map};
use crate::domain::{
    Catalog, ExpectedWait, FieldErrors, Language, Offer, OfferStatus, SlotId, Weekday, Window,
    Wish, WishRequest, WishStatus,
};
use crate::render::{self, texts};
use crate::store::{UpsertOutcome, format_time};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// Largest request body we read: a wish is a few hundred bytes, a slot batch a few hundred kB.
const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug, Default, Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

fn other_language(lang: Language) -> Language {
    match lang {
        Language::De => Language::En,
        Language::En => Language::De,
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// `?lang=` first, then the wish's own language, then the browser's `Accept-Language`.
fn language(query: &LangQuery, wish: Option<Language>, headers: &HeaderMap) -> Language {
    if let Some(l) = query.lang.as_deref().and_then(Language::parse) {
        return l;
    }
    if let Some(l) = wish {
        return l;
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let first = accept
        .split(',')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if first.starts_with("en") {
        Language::En
    } else {
        Language::De
    }
}

/// Security headers on every answer: no framing, no referrer (links carry tokens), a strict CSP.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn page(status: StatusCode, lang: Language, ctx: serde_json::Value) -> Response {
    match render::render("page.html", lang, ctx) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page not rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Maps a use-case error to an answer; details are logged, never shown.
fn error_response(e: &AppError, lang: Language, json: bool) -> Response {
    let t = texts(lang);
    let (status, title, intro) = match e {
        AppError::NotFound => (StatusCode::NOT_FOUND, "not_found_title", "not_found_intro"),
        AppError::Invalid(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_errors",
            "form_errors",
        ),
        AppError::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited_title",
            "rate_limited_intro",
        ),
        AppError::NotConfigured(_) | AppError::Unavailable(_) => {
            tracing::error!(error = %e, "request failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "error_title",
                "error_intro",
            )
        }
    };
    if json {
        let fields = match e {
            AppError::Invalid(f) => f.messages(),
            _ => BTreeMap::new(),
        };
        let error = match e {
            AppError::NotFound => "not found",
            AppError::Invalid(_) => "invalid input",
            AppError::RateLimited => "too many requests; try again later",
            _ => "temporarily unavailable",
        };
        return (status, Json(json!({"error": error, "fields": fields}))).into_response();
    }
    page(
        status,
        lang,
        json!({"title": t.get(title), "paragraphs": [t.get(intro)], "home": true}),
    )
}

/// What every function's router gets at the edge: a 404 page for unknown paths, the body limit
/// and the security headers — on every answer, the fallback's included.
pub fn edge(router: Router) -> Router {
    router
        .fallback(unknown_path)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(security_headers))
}

async fn unknown_path(Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    error_response(
        &AppError::NotFound,
        language(&q, None, &headers),
        wants_json(&headers),
    )
}

// ---- citizen: form and wishes ---------------------------------------------------------------

/// Routes of the submit-wish function.
pub fn citizen_router(deps: Deps) -> Router {
    Router::new()
        .route("/", get(form_page))
        .route("/barrierefreiheit", get(accessibility_statement))
        .route("/accessibility", get(accessibility_statement_en))
        .route("/api/offices", get(list_offices))
        .route("/api/wishes", post(post_wish))
        .route("/w/{token}", get(wish_page))
        .route("/w/{token}/confirm", get(wish_page).post(confirm_wish))
        .route("/w/{token}/cancel", post(cancel_wish))
        .route("/w/{token}/keep", post(keep_wish))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(deps)
}

/// `GET /barrierefreiheit`: the accessibility statement, German unless `?lang=en` or the
/// browser asks for English.
async fn accessibility_statement(
    State(deps): State<Deps>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    statement_page(&deps, language(&q, None, &headers))
}

/// `GET /accessibility`: the same statement, English unless `?lang=de`.
async fn accessibility_statement_en(
    State(deps): State<Deps>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    statement_page(&deps, language(&q, Some(Language::En), &headers))
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
        Err(e) => error_response(&AppError::Unavailable(e.to_string()), lang, false),
    }
}

async fn list_offices(
    State(deps): State<Deps>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(&q, None, &headers);
    match deps.catalog().await {
        Ok(c) => Json(offices_json(&c, lang)).into_response(),
        Err(e) => error_response(&e, lang, true),
    }
}

fn offices_json(c: &Catalog, lang: Language) -> serde_json::Value {
    json!(c
        .offices
        .iter()
        .map(|o| json!({
            "id": o.id,
            "name": o.name,
            "address": o.address,
            "services": o.services.iter().filter_map(|s| c.service(s)).map(|s| json!({"id": s.id, "name": s.name.get(lang)})).collect::<Vec<_>>(),
            "opening_hours": o.opening_hours,
        }))
        .collect::<Vec<_>>())
}

/// What the form shows: services, offices, and per weekday the hours at least one office is open.
fn form_context(c: &Catalog, lang: Language) -> serde_json::Value {
    let t = texts(lang);
    let days: Vec<serde_json::Value> = Weekday::ALL
        .iter()
        .filter_map(|d| {
            let hours: Vec<u8> = (0u8..24)
                .filter(|h| c.offices.iter().any(|o| o.is_open(*d, *h)))
                .collect();
            (!hours.is_empty())
                .then(|| json!({"key": d.key(), "name": t.weekday(*d), "hours": hours}))
        })
        .collect();
    json!({
        "services": c.services.iter().map(|s| json!({"id": s.id, "name": s.name.get(lang)})).collect::<Vec<_>>(),
        "offices": c.offices.iter().map(|o| {
            let hours = o
                .opening_hours
                .iter()
                .map(|(d, ranges)| {
                    let r = ranges.iter().map(|[a, b]| format!("{a}–{b}")).collect::<Vec<_>>().join(", ");
                    format!("{} {r}", t.weekday(*d))
                })
                .collect::<Vec<_>>()
                .join("; ");
            let missing: Vec<&str> = c.services.iter().filter(|s| !o.offers(&s.id)).map(|s| s.name.get(lang)).collect();
            json!({
                "id": o.id, "name": o.name, "address": o.address,
                "hours": t.fill("form_office_hours", &[("hours", &hours)]),
                "note": (!missing.is_empty()).then(|| t.fill("form_office_services_missing", &[("services", &missing.join(", "))])),
            })
        }).collect::<Vec<_>>(),
        "days": days,
    })
}

/// The form, with the field errors: `errors` (field → English message), `error_codes` (field →
/// stable code, for texts that say it in the page's language) and `error_texts` (field → a
/// sentence already in the page's language, where the code alone cannot say it).
fn render_form(
    c: &Catalog,
    lang: Language,
    status: StatusCode,
    values: serde_json::Value,
    errors: &FieldErrors,
) -> Response {
    let mut ctx = form_context(c, lang);
    ctx["values"] = values;
    ctx["error_codes"] = json!(
        errors
            .iter()
            .map(|(k, v)| (k.clone(), v.code))
            .collect::<BTreeMap<_, _>>()
    );
    ctx["error_texts"] = json!(localized_errors(errors, lang));
    ctx["errors"] = json!(errors.messages());
    ctx["title"] = json!(texts(lang).get("form_title"));
    match render::render("form.html", lang, ctx) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => error_response(&AppError::Unavailable(e.to_string()), lang, false),
    }
}

/// Errors that name the windows they are about, in the page's language: "Montag 7–8 Uhr: keines
/// der gewählten Bürgerbüros hat dann geöffnet …" (text `error_<field>_<code>_at`).
fn localized_errors(errors: &FieldErrors, lang: Language) -> BTreeMap<String, String> {
    let t = texts(lang);
    errors
        .iter()
        .filter(|(_, e)| !e.windows.is_empty())
        .map(|(field, e)| {
            let shown: BTreeSet<Window> = e.windows.iter().take(CLOSED_NAMED).copied().collect();
            let mut named = render::windows_text(&windows_map(&shown), lang);
            if e.windows.len() > CLOSED_NAMED {
                named.push_str(", …");
            }
            let key = format!("error_{field}_{}_at", e.code);
            (field.clone(), t.fill(&key, &[("windows", &named)]))
        })
        .collect()
}

async fn form_page(
    State(deps): State<Deps>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(&q, None, &headers);
    match deps.catalog().await {
        Ok(c) => render_form(
            &c,
            lang,
            StatusCode::OK,
            json!({"offices": [], "windows": []}),
            &FieldErrors::default(),
        ),
        Err(e) => error_response(&e, lang, false),
    }
}

/// The form's fields into the JSON contract's shape: `offices` repeated, windows as `w=mon-8`.
fn form_to_request(body: &[u8]) -> (WishRequest, serde_json::Value) {
    let mut email = None;
    let mut service = None;
    let mut language = None;
    let mut offices = Vec::new();
    let mut windows: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    let mut window_keys = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "email" => email = Some(v.into_owned()),
            "service" => service = Some(v.into_owned()),
            "language" => language = Some(v.into_owned()),
            "offices" => offices.push(v.into_owned()),
            "w" => {
                if let Some((day, hour)) = v.split_once('-') {
                    // A non-numeric hour becomes a value validation will refuse with a message.
                    let hour = hour
                        .parse::<u64>()
                        .map_or_else(|_| json!(hour), |h| json!(h));
                    windows.entry(day.to_owned()).or_default().push(hour);
                    window_keys.push(v.into_owned());
                }
            }
            _ => {}
        }
    }
    let values =
        json!({"email": email, "service": service, "offices": offices, "windows": window_keys});
    let request = WishRequest {
        email: email.map(serde_json::Value::from),
        service: service.map(serde_json::Value::from),
        offices: Some(json!(offices)),
        windows: (!windows.is_empty()).then(|| json!(windows)),
        language: language.map(serde_json::Value::from),
    };
    (request, values)
}

/// The caller's network address: API Gateway's `sourceIp` in Lambda, the socket's peer locally.
pub struct ClientAddr(Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        use lambda_http::request::RequestContext;
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
        let request: WishRequest = match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": format!("body is not a JSON wish object: {e}"), "fields": {}})),
                )
                    .into_response();
            }
        };
        return match app::submit_wish(&deps, &request, client.as_deref()).await {
            Ok(w) => (
                StatusCode::ACCEPTED,
                Json(json!({"id": w.id, "status": w.status.as_str()})),
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
                    .as_ref()
                    .and_then(serde_json::Value::as_str)
                    .and_then(Language::parse)
                    .unwrap_or_else(|| language(&q, None, &headers))
            });
        let t = texts(lang);
        return match app::submit_wish(&deps, &request, client.as_deref()).await {
            Ok(_) => page(
                StatusCode::ACCEPTED,
                lang,
                json!({"title": t.get("submitted_title"), "paragraphs": [t.get("submitted_intro"), t.get("submitted_next")]}),
            ),
            Err(AppError::Invalid(errors)) => match deps.catalog().await {
                Ok(c) => render_form(&c, lang, StatusCode::UNPROCESSABLE_ENTITY, values, &errors),
                Err(e) => error_response(&e, lang, false),
            },
            Err(e) => error_response(&e, lang, false),
        };
    }
    (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Json(json!({"error": "send application/json or application/x-www-form-urlencoded", "fields": {}})),
    )
        .into_response()
}

fn wish_json(w: &Wish) -> serde_json::Value {
    json!({
        "id": w.id,
        "status": w.status.as_str(),
        "service": w.service,
        "offices": w.offices,
        "windows": windows_map(&w.windows),
        "language": w.language.code(),
    })
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
    let t = texts(lang);
    let catalog = match deps.catalog().await {
        Ok(c) => c,
        Err(e) => return error_response(&e, lang, false),
    };
    let mut wish_in_lang = wish.clone();
    wish_in_lang.language = lang;
    let mut details = app::wish_details(&wish_in_lang, &catalog);
    details.insert(
        0,
        (
            t.get("label_status").to_owned(),
            t.get(&format!("status_{}", wish.status.as_str()))
                .to_owned(),
        ),
    );
    // Where the wish stands, per line: "3 wishes ahead of yours – Bürgerbüro Bilk, Monday 8–9",
    // and a rough wait where recent releases allow one.
    let mut queue = Vec::new();
    let mut unknown = 0usize;
    if let Ok(places) = app::places_in_line(deps, wish).await {
        for place in &places {
            let office = catalog
                .office(&place.office)
                .map_or_else(|| place.office.to_string(), |o| o.name.clone());
            let hours = t.fill(
                "hour_range",
                &[
                    ("from", &place.window.hour().to_string()),
                    ("to", &(place.window.hour() + 1).to_string()),
                ],
            );
            let key = match place.ahead {
                0 => "place_none",
                1 => "place_one",
                _ => "place_many",
            };
            let text = t.fill(
                key,
                &[
                    ("n", &place.ahead.to_string()),
                    ("office", &office),
                    ("day", t.weekday(place.window.day())),
                    ("hours", &hours),
                ],
            );
            let wait = place.wait.map(|w| {
                t.fill(
                    "queue_wait",
                    &[
                        ("days", &RELEASE_WINDOW_DAYS.to_string()),
                        ("wait", &wait_text(t, w)),
                    ],
                )
            });
            unknown += usize::from(wait.is_none());
            queue.push(json!({"text": text, "wait": wait}));
        }
    }
    // Said once, not per line.
    let queue_unknown = match unknown {
        0 => None,
        n if n == queue.len() => Some(t.get("queue_wait_unknown")),
        _ => Some(t.get("queue_wait_unknown_some")),
    };
    let mut buttons = Vec::new();
    let base = format!("/w/{token}");
    if wish.status == WishStatus::Paused {
        buttons.push(json!({"label": t.get("wish_resume"), "action": format!("{base}/confirm?lang={}", lang.code()), "class": ""}));
    }
    if wish.status == WishStatus::Pending {
        buttons.push(json!({"label": t.get("wish_confirm"), "action": format!("{base}/confirm?lang={}", lang.code()), "class": ""}));
    }
    if wish.reminded_at.is_some()
        && matches!(wish.status, WishStatus::Waiting | WishStatus::Offered)
    {
        buttons.push(json!({"label": t.get("wish_keep"), "action": format!("{base}/keep?lang={}", lang.code()), "class": ""}));
    }
    if wish.status.is_active() {
        buttons.push(json!({"label": t.get("wish_cancel"), "action": format!("{base}/cancel?lang={}", lang.code()), "class": "danger"}));
    }
    page(
        StatusCode::OK,
        lang,
        json!({"title": t.get(title_key.unwrap_or("wish_title")), "details": details, "buttons": buttons, "home": true,
            "queue": queue, "queue_unknown": queue_unknown, "queue_note": t.get("queue_note"),
            "lang_switch": format!("/w/{token}?lang={}", other_language(lang).code())}),
    )
}

/// "about 5 days", "about 3 weeks", in the page's language (the texts fit `queue_wait`).
fn wait_text(t: &render::Texts, wait: ExpectedWait) -> String {
    match wait {
        ExpectedWait::Days(1) => t.get("wait_day_one").to_owned(),
        ExpectedWait::Days(n) => t.fill("wait_days", &[("n", &n.to_string())]),
        ExpectedWait::Weeks(n) => t.fill("wait_weeks", &[("n", &n.to_string())]),
    }
}

async fn wish_page(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let json = wants_json(&headers);
    match app::wish_by_token(&deps, &token).await {
        Ok((wish, _)) => {
            let lang = language(&q, Some(wish.language), &headers);
            show_wish(&deps, &wish, &token, lang, json, None).await
        }
        Err(e) => error_response(&e, language(&q, None, &headers), json),
    }
}

async fn confirm_wish(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let json = wants_json(&headers);
    match app::confirm_wish(&deps, &token).await {
        Ok(wish) => {
            let lang = language(&q, Some(wish.language), &headers);
            show_wish(
                &deps,
                &wish,
                &token,
                lang,
                json,
                Some("wish_confirmed_title"),
            )
            .await
        }
        Err(e) => error_response(&e, language(&q, None, &headers), json),
    }
}

async fn keep_wish(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let json = wants_json(&headers);
    match app::keep_wish(&deps, &token).await {
        Ok(wish) => {
            let lang = language(&q, Some(wish.language), &headers);
            show_wish(&deps, &wish, &token, lang, json, Some("wish_kept_title")).await
        }
        Err(e) => error_response(&e, language(&q, None, &headers), json),
    }
}

async fn cancel_wish(
    State(deps): State<Deps>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let json = wants_json(&headers);
    let result = async {
        let (wish, _) = app::wish_by_token(&deps, &token).await?;
        app::cancel_wish(&deps, wish).await
    }
    .await;
    match result {
        Ok(wish) => {
            let lang = language(&q, Some(wish.language), &headers);
            show_wish(
                &deps,
                &wish,
                &token,
                lang,
                json,
                Some("wish_cancelled_title"),
            )
            .await
        }
        Err(e) => error_response(&e, language(&q, None, &headers), json),
    }
}

// ---- citizen: offers ---------------------------------------------------------------------------

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

fn offer_json(o: &Offer, now: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    json!({
        "id": o.id,
        "status": o.effective_status(now).as_str(),
        "deadline": format_time(o.deadline),
        "slot": {"id": o.slot, "office": o.office, "service": o.service, "start": format_time(o.start), "minutes": o.minutes},
    })
}

async fn show_offer(
    deps: &Deps,
    offer: &Offer,
    token: &str,
    lang: Language,
    json: bool,
    title_key: Option<&str>,
) -> Response {
    show_offer_choice(deps, offer, token, lang, json, title_key, None).await
}

/// The offer page; with `choice`, only that action's button (the page a mail's action link opens:
/// following a link never changes anything, the button does).
async fn show_offer_choice(
    deps: &Deps,
    offer: &Offer,
    token: &str,
    lang: Language,
    json: bool,
    title_key: Option<&str>,
    choice: Option<&str>,
) -> Response {
    let now = deps.clock.now();
    if json {
        return Json(offer_json(offer, now)).into_response();
    }
    let t = texts(lang);
    let catalog = match deps.catalog().await {
        Ok(c) => c,
        Err(e) => return error_response(&e, lang, false),
    };
    let office = catalog.office(&offer.office);
    let service = catalog.service(&offer.service).map_or_else(
        || offer.service.to_string(),
        |s| s.name.get(lang).to_owned(),
    );
    let details = render::rows(
        &[
            ("label_service", service),
            (
                "label_office",
                office.map_or_else(|| offer.office.to_string(), |o| o.name.clone()),
            ),
            (
                "label_address",
                office.map(|o| o.address.clone()).unwrap_or_default(),
            ),
            ("label_when", t.when_long(offer.start)),
            (
                "label_duration",
                t.fill("minutes", &[("n", &offer.minutes.to_string())]),
            ),
        ],
        lang,
    );
    let mut details = details;
    let status = offer.effective_status(now);
    if status == OfferStatus::Open {
        details.extend(render::rows(
            &[("label_deadline", t.when_long(offer.deadline))],
            lang,
        ));
    }
    let base = format!("/o/{token}");
    let (title, paragraphs, notice, buttons) = if status == OfferStatus::Open {
        let all = [
            ("accept", "offer_accept", ""),
            ("decline", "offer_decline", "secondary"),
            ("cancel", "offer_cancel", "danger"),
        ];
        let buttons = all
            .iter()
            .filter(|(action, _, _)| choice.is_none_or(|c| c == *action))
            .map(|(action, label, class)| {
                json!({"label": t.get(label), "action": format!("{base}/{action}?lang={}", lang.code()), "class": class})
            })
            .collect::<Vec<_>>();
        let paragraphs = if choice.is_some() {
            vec![t.get("offer_confirm_choice").to_owned()]
        } else {
            let deadline = t.when_long(offer.deadline);
            vec![
                t.fill("offer_open", &[("deadline", &deadline)]),
                t.fill("offer_no_answer", &[("deadline", &deadline)]),
            ]
        };
        (
            t.get(title_key.unwrap_or("offer_title")).to_owned(),
            paragraphs,
            None,
            buttons,
        )
    } else {
        let title = match (status, title_key) {
            (OfferStatus::Accepted, _) => t.get("offer_accepted_title"),
            (OfferStatus::Declined, _) => t.get("offer_declined_title"),
            (OfferStatus::Expired, _) => t.get("offer_expired_title"),
            (OfferStatus::Withdrawn, None) => t.get("offer_withdrawn_title"),
            (_, Some(k)) => t.get(k),
            _ => t.get("offer_title"),
        };
        let notice = if status == OfferStatus::Withdrawn && title_key.is_none() {
            t.get("offer_gone_withdrawn_detail").to_owned()
        } else {
            t.get(&format!("offer_gone_{}", status.as_str())).to_owned()
        };
        (title.to_owned(), Vec::new(), Some(notice), vec![])
    };
    let lang_switch = format!("/o/{token}?lang={}", other_language(lang).code());
    page(
        StatusCode::OK,
        lang,
        json!({"title": title, "paragraphs": paragraphs, "notice": notice, "details": details, "buttons": buttons, "home": true, "lang_switch": lang_switch}),
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
            let wish_lang = deps
                .store
                .get_wish(&offer.wish, deps.clock.now())
                .await
                .ok()
                .flatten()
                .map(|w| w.language);
            let lang = language(&q, wish_lang, &headers);
            show_offer(&deps, &offer, &token, lang, json, title).await
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
            show_offer_choice(&deps, &offer, &token, lang, json, None, Some(choice)).await
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

// ---- admin ---------------------------------------------------------------------------------------

/// Routes of the admin-api function.
pub fn admin_router(deps: Deps) -> Router {
    Router::new()
        .route("/admin/slots", put(put_slots))
        .route("/admin/slots/{id}", get(get_slot).delete(withdraw_slot))
        .route("/admin/slots/{id}/release", post(release_slot))
        .route("/admin/stats", get(stats))
        .route("/admin/catalog", put(put_catalog))
        .layer(middleware::from_fn_with_state(deps.clone(), admin_auth))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
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

fn json_error(status: StatusCode, error: &str, fields: serde_json::Value) -> Response {
    (status, Json(json!({"error": error, "fields": fields}))).into_response()
}

fn slot_json(s: &crate::domain::Slot) -> serde_json::Value {
    let status = match s.status {
        crate::domain::SlotStatus::Free => "free",
        crate::domain::SlotStatus::Offered => "offered",
        crate::domain::SlotStatus::Booked => "booked",
    };
    let mut v = json!({"id": s.id, "office": s.office, "service": s.service, "start": format_time(s.start), "minutes": s.minutes, "status": status});
    if let Some(w) = &s.wish {
        v["wish"] = json!(w);
    }
    v
}

/// `PUT /admin/slots`: every row is checked first; one bad row and nothing is written.
async fn put_slots(State(deps): State<Deps>, body: Bytes) -> Response {
    let rows: Vec<SlotInput> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("body must be a JSON array of slots: {e}"),
                json!({}),
            );
        }
    };
    let catalog = match deps.catalog().await {
        Ok(c) => c,
        Err(e) => return error_response(&e, Language::En, true),
    };
    let mut checked = Vec::new();
    let mut errors = serde_json::Map::new();
    for (i, row) in rows.iter().enumerate() {
        match row.validate(&catalog) {
            Ok(s) => checked.push(s),
            Err(e) => {
                for (field, fe) in e.iter() {
                    errors.insert(format!("[{i}].{field}"), json!(fe.message));
                }
            }
        }
    }
    if !errors.is_empty() {
        return json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid slots; nothing was stored",
            json!(errors),
        );
    }
    let now = deps.clock.now();
    let mut results = Vec::new();
    for s in &checked {
        match deps.store.upsert_slot(s, now).await {
            Ok(outcome) => results.push(json!({"id": s.id, "result": outcome})),
            Err(e) => return error_response(&AppError::from(e), Language::En, true),
        }
    }
    let count = |o: UpsertOutcome| results.iter().filter(|r| r["result"] == json!(o)).count();
    Json(json!({
        "created": count(UpsertOutcome::Created),
        "updated": count(UpsertOutcome::Updated),
        "unchanged": count(UpsertOutcome::Unchanged),
        "conflicts": count(UpsertOutcome::Conflict),
        "slots": results,
    }))
    .into_response()
}

async fn get_slot(State(deps): State<Deps>, Path(id): Path<String>) -> Response {
    let Ok(id) = SlotId::parse(&id) else {
        return json_error(StatusCode::NOT_FOUND, "no such slot", json!({}));
    };
    match deps.store.get_slot(&id).await {
        Ok(Some(s)) => Json(slot_json(&s)).into_response(),
        Ok(None) => json_error(StatusCode::NOT_FOUND, "no such slot", json!({})),
        Err(e) => error_response(&e.into(), Language::En, true),
    }
}

async fn release_slot(State(deps): State<Deps>, Path(id): Path<String>) -> Response {
    let Ok(id) = SlotId::parse(&id) else {
        return json_error(StatusCode::NOT_FOUND, "no such slot", json!({}));
    };
    match app::release_slot(&deps, &id).await {
        Ok(Some(s))
            if s.status == crate::domain::SlotStatus::Free
                || s.status == crate::domain::SlotStatus::Offered =>
        {
            Json(slot_json(&s)).into_response()
        }
        Ok(Some(s)) => (
            StatusCode::CONFLICT,
            Json(json!({"error": "slot is not booked", "slot": slot_json(&s)})),
        )
            .into_response(),
        Ok(None) => json_error(StatusCode::NOT_FOUND, "no such slot", json!({})),
        Err(e) => error_response(&e, Language::En, true),
    }
}

/// `DELETE /admin/slots/{id}`: the office takes the slot back (an addition to the contract, see
/// `docs/contract-notes.md`).
async fn withdraw_slot(State(deps): State<Deps>, Path(id): Path<String>) -> Response {
    let Ok(id) = SlotId::parse(&id) else {
        return json_error(StatusCode::NOT_FOUND, "no such slot", json!({}));
    };
    match app::withdraw_slot(&deps, &id).await {
        Ok(app::Withdrawal::Removed) => StatusCode::NO_CONTENT.into_response(),
        Ok(app::Withdrawal::Booked(s)) => (
            StatusCode::CONFLICT,
            Json(json!({"error": "slot is booked: cancel the booking (release) first", "slot": slot_json(&s)})),
        )
            .into_response(),
        Ok(app::Withdrawal::NotFound) => json_error(StatusCode::NOT_FOUND, "no such slot", json!({})),
        Err(e) => error_response(&e, Language::En, true),
    }
}

/// `GET /admin/stats`: JSON for programs; a page for a clerk's browser (`Accept: text/html`).
async fn stats(
    State(deps): State<Deps>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let stats = match deps.store.stats().await {
        Ok(s) => s,
        Err(e) => return error_response(&e.into(), Language::En, true),
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !accept.contains("text/html") || accept.contains("application/json") {
        return Json(stats).into_response();
    }
    let lang = language(&q, None, &headers);
    let t = texts(lang);
    let catalog = deps.catalog().await.ok();
    let name_of = |office: &str, service: &str| {
        let o = catalog
            .as_ref()
            .and_then(|c| c.office_by_str(office))
            .map_or(office.to_owned(), |o| o.name.clone());
        let s = catalog
            .as_ref()
            .and_then(|c| c.service_by_str(service))
            .map_or(service.to_owned(), |s| s.name.get(lang).to_owned());
        format!("{o} · {s}")
    };
    let mut details: Vec<(String, String)> = stats
        .queues
        .iter()
        .map(|q| (name_of(&q.office, &q.service), q.waiting.to_string()))
        .collect();
    details.sort();
    details.push((
        t.get("stats_offers_open").to_owned(),
        stats.offers_open.to_string(),
    ));
    details.push((
        t.get("stats_accepted").to_owned(),
        stats.offers_accepted.to_string(),
    ));
    details.push((
        t.get("stats_declined").to_owned(),
        stats.offers_declined.to_string(),
    ));
    details.push((
        t.get("stats_expired").to_owned(),
        stats.offers_expired.to_string(),
    ));
    details.push((
        t.get("stats_rate").to_owned(),
        stats
            .acceptance_rate
            .map_or_else(|| "–".to_owned(), |r| format!("{:.0} %", r * 100.0)),
    ));
    page(
        StatusCode::OK,
        lang,
        json!({"title": t.get("stats_title"), "paragraphs": [t.get("stats_intro")], "details": details}),
    )
}

async fn put_catalog(State(deps): State<Deps>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    match Catalog::from_json(&text) {
        Ok(c) => match deps.replace_catalog(c).await {
            Ok(()) => Json(json!({"status": "stored"})).into_response(),
            Err(e) => error_response(&e, Language::En, true),
        },
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string(), json!({})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::tests::sample;
    use proptest::prelude::*;

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 10_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    #[test]
    fn a_closed_window_error_names_the_windows_in_the_page_language() {
        let request = WishRequest {
            email: Some(json!("a@b.de")),
            service: Some(json!("id-card")),
            offices: Some(json!(["bilk"])),
            windows: Some(json!({"mon": [7, 8], "sat": [9]})),
            language: None,
        };
        let errors = request.validate(&sample()).unwrap_err();
        let de = localized_errors(&errors, Language::De);
        assert_eq!(
            de["windows"].replace('\u{2060}', "").replace('\u{a0}', " "),
            "Montag 7–8 Uhr, Samstag 9–10 Uhr: Keines der gewählten Bürgerbüros hat dann \
             geöffnet. Bitte wählen Sie nur Stunden, zu denen mindestens eines geöffnet ist."
        );
        let en = localized_errors(&errors, Language::En);
        assert!(en["windows"].starts_with("Monday 7"), "{}", en["windows"]);
        assert!(en["windows"].contains(": none of the chosen citizen offices is open then."));
        // Errors about no window have no such sentence: their code says it.
        let mut other = FieldErrors::default();
        other.add("email", "invalid", "bad");
        assert!(localized_errors(&other, Language::De).is_empty());
    }

    #[test]
    fn a_form_post_becomes_the_json_contract() {
        let (r, _) = form_to_request(b"email=a%40b.de&service=id-card&offices=bilk&offices=altstadt&w=mon-8&w=fri-12&language=en");
        let new = r.validate(&sample()).unwrap();
        assert_eq!(new.offices.len(), 2);
        assert_eq!(new.windows.len(), 2);
        assert_eq!(new.language, Language::En);
    }

    proptest! {
        #![proptest_config(config())]

        /// 10 000 arbitrary form bodies (bytes, not only UTF-8): parsed and validated, never a panic.
        #[test]
        fn any_form_body_parses_and_validates_without_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (request, _) = form_to_request(&body);
            let _ = request.validate(&sample());
        }

        /// 10 000 form bodies built from the real field names with arbitrary values.
        #[test]
        fn forms_with_real_fields_and_odd_values_validate_without_panic(
            fields in proptest::collection::vec((prop_oneof!["email", "service", "offices", "w", "language", "x"], "\\PC{0,20}"), 0..12)
        ) {
            let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
            let (request, _) = form_to_request(body.as_bytes());
            if let Ok(new) = request.validate(&sample()) {
                prop_assert!(!new.windows.is_empty() && !new.offices.is_empty());
            }
        }

        /// 10 000 Accept-Language and query values: a language is always chosen.
        #[test]
        fn any_language_header_or_query_picks_de_or_en(header in "\\PC{0,40}", query in proptest::option::of("\\PC{0,6}")) {
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&header) {
                headers.insert(header::ACCEPT_LANGUAGE, v);
            }
            let lang = language(&LangQuery { lang: query }, None, &headers);
            prop_assert!(matches!(lang, Language::De | Language::En));
        }
    }
}
