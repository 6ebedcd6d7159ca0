//! The HTTP edge: one axum router per function, served by `lambda_http` in AWS and directly by
//! the local runner. Pages for people (HTML), the same data as JSON for programs. Handlers parse
//! the request, call one use case in `app`, and render its answer (`render::views` builds the
//! page models); nothing here talks to the store. This file holds what every router shares:
//! language and content negotiation, the error mapping and the edge layers (`origin`: the
//! public routers behind the optional CloudFront distribution).

mod admin;
mod citizen;
pub mod dto;
mod offers;
pub mod openapi;
mod origin;
mod staff;
mod staff_challenge;
mod staff_pages;
mod staff_phone;

pub use admin::admin_router;
pub use citizen::{ClientAddr, citizen_router};
pub use dto::{SlotInput, WishRequest};
pub use offers::offer_router;
pub use staff::{Cookies, StaffDeps, staff_router};

use crate::app::AppError;
use crate::domain::Language;
use crate::render::{self, texts};
use axum::extract::{DefaultBodyLimit, Query, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Largest body a public route reads: a wish is a few hundred bytes, a form post a few KB.
pub(crate) const PUBLIC_BODY_LIMIT: usize = 64 * 1024;
/// Largest body an admin route reads: a slot batch of a few thousand rows, the catalogue.
pub(crate) const ADMIN_BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug, Default, Deserialize)]
pub struct LangQuery {
    pub(crate) lang: Option<String>,
}

/// What a page takes from its request: the `?lang=` choice and the headers (language, JSON or
/// HTML), with the dependencies.
pub(crate) struct Visit {
    pub(crate) deps: crate::app::Deps,
    pub(crate) q: LangQuery,
    pub(crate) headers: HeaderMap,
}

impl axum::extract::FromRequestParts<crate::app::Deps> for Visit {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        deps: &crate::app::Deps,
    ) -> Result<Self, Self::Rejection> {
        let Query(q) = Query::<LangQuery>::from_request_parts(parts, deps)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            deps: deps.clone(),
            q,
            headers: parts.headers.clone(),
        })
    }
}

impl Visit {
    /// The page's language: the query's choice, else `preferred` (the wish's), else the
    /// browser's.
    pub(crate) fn language(&self, preferred: Option<Language>) -> Language {
        language(&self.q, preferred, &self.headers)
    }

    pub(crate) fn wants_json(&self) -> bool {
        wants_json(&self.headers)
    }
}

pub(crate) fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// `?lang=` first, then the wish's own language, then the browser's `Accept-Language`.
pub(crate) fn language(query: &LangQuery, wish: Option<Language>, headers: &HeaderMap) -> Language {
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

/// Security headers on every answer: no framing, no referrer (links carry tokens), a strict CSP
/// (scripts, their workers and what they fetch only from here: the proof-of-work widget), and
/// nothing cached unless the answer says otherwise (the widget's files may be).
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; script-src 'self'; worker-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
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
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

pub(crate) fn page(status: StatusCode, lang: Language, ctx: serde_json::Value) -> Response {
    match render::render("page.html", lang, ctx) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page not rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Why an address takes no wish for now and how to go on, in the page's language (the texts
/// `error_email_suppressed_until` and `error_email_opt_in_mails_used_up_from`, with the time
/// filled in).
pub(crate) fn refusal_text(refusal: crate::app::AddressRefusal, lang: Language) -> String {
    use crate::app::AddressRefusal;
    let t = texts(lang);
    match refusal {
        AddressRefusal::Suppressed { until } => t.fill(
            "error_email_suppressed_until",
            &[("until", &t.when_long(until))],
        ),
        AddressRefusal::MailsUsedUp { from } => t.fill(
            "error_email_opt_in_mails_used_up_from",
            &[("from", &t.when_long(from))],
        ),
    }
}

/// Maps a use-case error to an answer; details are logged, never shown.
pub(crate) fn error_response(e: &AppError, lang: Language, json: bool) -> Response {
    let t = texts(lang);
    let (status, title, intro) = match e {
        AppError::NotFound => (StatusCode::NOT_FOUND, "not_found_title", "not_found_intro"),
        AppError::Invalid(_) | AppError::Address(crate::app::AddressRefusal::Suppressed { .. }) => {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_errors",
                "form_errors",
            )
        }
        AppError::RateLimited
        | AppError::Address(crate::app::AddressRefusal::MailsUsedUp { .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited_title",
            "rate_limited_intro",
        ),
        AppError::Conflict(_) => (StatusCode::CONFLICT, "error_title", "error_intro"),
        AppError::Challenge(_) => (StatusCode::FORBIDDEN, "challenge_title", "challenge_intro"),
        AppError::NotConfigured(_) | AppError::Store(_) | AppError::Render(_) => {
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
            AppError::Address(refusal) => refusal.field_errors().messages(),
            AppError::Challenge(refusal) => {
                BTreeMap::from([("altcha".to_owned(), refusal.message().to_owned())])
            }
            _ => BTreeMap::new(),
        };
        let error = match e {
            AppError::NotFound => "not found",
            AppError::Invalid(_)
            | AppError::Address(crate::app::AddressRefusal::Suppressed { .. }) => "invalid input",
            AppError::RateLimited
            | AppError::Address(crate::app::AddressRefusal::MailsUsedUp { .. }) => {
                "too many requests; try again later"
            }
            AppError::Conflict(_) => "changed concurrently; try again",
            AppError::Challenge(_) => "proof of work refused",
            _ => "temporarily unavailable",
        };
        return (status, Json(json!({"error": error, "fields": fields}))).into_response();
    }
    let mut paragraphs = vec![t.get(intro).to_owned()];
    match e {
        AppError::Invalid(f) => paragraphs.extend(f.messages().into_values()),
        AppError::Address(refusal) => paragraphs.push(refusal_text(*refusal, lang)),
        _ => {}
    }
    page(
        status,
        lang,
        json!({"title": t.get(title), "paragraphs": paragraphs, "home": true}),
    )
}

/// What every function's router gets at the edge: a 404 page for unknown paths, the body limit
/// and the security headers — on every answer, the fallback's included.
pub fn edge(router: Router) -> Router {
    router
        .fallback(unknown_path)
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        .layer(middleware::from_fn(too_large_as_json))
        .layer(middleware::from_fn(security_headers))
}

/// A body over its route's limit is refused by the extractor with a plain-text 413; it answers
/// the JSON error shape like every other refusal.
async fn too_large_as_json(request: Request, next: Next) -> Response {
    let admin = request.uri().path().starts_with("/admin/");
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE || is_json {
        return response;
    }
    let limit = if admin {
        ADMIN_BODY_LIMIT
    } else {
        PUBLIC_BODY_LIMIT
    };
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!(
            "the request body is too large: at most {} KiB",
            limit / 1024
        ),
        json!({}),
    )
}

async fn unknown_path(Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    error_response(
        &AppError::NotFound,
        language(&q, None, &headers),
        wants_json(&headers),
    )
}

// ---- citizen: form and wishes ---------------------------------------------------------------

// ---- citizen: offers ---------------------------------------------------------------------------

// ---- admin ---------------------------------------------------------------------------------------

pub(crate) fn json_error(status: StatusCode, error: &str, fields: serde_json::Value) -> Response {
    (status, Json(json!({"error": error, "fields": fields}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::dto::form_to_request;
    use super::*;
    use crate::domain::FieldErrors;
    use crate::render::views::localized_errors;
    use crate::testing::sample;
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
            persons: None,
            altcha: None,
        };
        let errors = request.draft().validate(&sample()).unwrap_err();
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

    #[test]
    fn the_query_then_the_wish_then_the_browser_choose_the_language() {
        use Language::{De, En};
        let cases = [
            (Some("en"), None, "de-DE", En),
            (Some(" EN "), None, "", En),
            (Some("de"), Some(En), "en", De),
            (Some("fr"), None, "en-GB,de;q=0.5", En),
            (Some("fr"), Some(De), "en", De),
            (None, Some(En), "de", En),
            (None, None, "en-US,en;q=0.9", En),
            (None, None, "de-DE,en;q=0.8", De),
            (None, None, "", De),
            (None, None, "fr, en", De),
            (None, None, " EN-gb ", En),
        ];
        for (query, wish, accept, expected) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static(accept));
            let q = LangQuery {
                lang: query.map(str::to_owned),
            };
            assert_eq!(
                language(&q, wish, &headers),
                expected,
                "{query:?} {wish:?} {accept:?}"
            );
        }
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

        /// 10 000 Accept-Language headers: the first tag decides, whatever follows it.
        #[test]
        fn the_first_accept_language_tag_decides(
            first in proptest::sample::select(vec!["en", "en-GB", "EN-us", "de", "de-DE", "fr", "nl-BE", "", "*"]),
            rest in "[a-zA-Z0-9 ,;=.-]{0,30}",
        ) {
            let mut headers = HeaderMap::new();
            let value = format!("{first},{rest}");
            headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(&value).unwrap());
            let expected = if first.to_ascii_lowercase().starts_with("en") { Language::En } else { Language::De };
            prop_assert_eq!(language(&LangQuery::default(), None, &headers), expected);
        }
    }
}
