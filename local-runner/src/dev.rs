//! The runner's own routes, beside the functions': `/_dev/mail` (the sent mails, as JSON, a page
//! and each attachment), `/_dev/clock` (move the clock) and `/_dev/rescan`.

use crate::devmail::DevMail;
use crate::runner::LocalSystem;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::fmt::Write as _;

/// The `/_dev` routes of `system`.
pub(crate) fn routes(system: &LocalSystem) -> Router {
    Router::new()
        .route("/_dev/mail", get(dev_mail))
        .route("/_dev/mail/view", get(dev_mail_view))
        .route(
            "/_dev/mail/{index}/attachment/{n}",
            get(dev_mail_attachment),
        )
        .route("/_dev/clock", post(dev_clock))
        .route("/_dev/rescan", post(dev_rescan))
        .with_state(system.clone())
}

fn fail(e: &anyhow::Error) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        Json(serde_json::json!({"error": e.to_string()})),
    )
        .into_response()
}

async fn dev_mail(State(s): State<LocalSystem>) -> Response {
    match s.mails().await {
        Ok(m) => Json(m).into_response(),
        Err(e) => fail(&e),
    }
}

fn escape_html(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The attachments of the mail at `index`: a link to each, and the text of text attachments.
fn attachments_html(index: usize, mail: &DevMail) -> String {
    if mail.attachment_parts.is_empty() {
        return "<p>Attachments: none</p>".to_owned();
    }
    let mut html = String::from("<h3>Attachments</h3><ul>");
    for (n, a) in mail.attachment_parts.iter().enumerate() {
        let name = if a.name.is_empty() {
            "(unnamed)"
        } else {
            &a.name
        };
        let _ = write!(
            html,
            "<li><a href=\"/_dev/mail/{index}/attachment/{n}\">{}</a> ({}, {} bytes)",
            escape_html(name),
            escape_html(&a.content_type),
            a.bytes.len()
        );
        if a.is_text() {
            let _ = write!(
                html,
                "<pre>{}</pre>",
                escape_html(&String::from_utf8_lossy(&a.bytes))
            );
        }
        html.push_str("</li>");
    }
    html.push_str("</ul>");
    html
}

async fn dev_mail_view(State(s): State<LocalSystem>) -> Response {
    let mails = match s.mails().await {
        Ok(m) => m,
        Err(e) => return fail(&e),
    };
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sent mail</title>\
        <style>body{font-family:sans-serif;max-width:60rem;margin:auto;padding:1rem}article{border:1px solid #888;margin:1rem 0;padding:1rem}\
        iframe{width:100%;height:28rem;border:1px solid #ccc}pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f3f3f3;padding:.5rem}</style></head><body><h1>Sent mail (oldest first)</h1>",
    );
    for (index, m) in mails.iter().enumerate() {
        let _ = write!(
            html,
            "<article><h2>{}</h2><p>To: {} · {}</p>{}<iframe sandbox title=\"HTML part\" srcdoc=\"{}\"></iframe>\
             <details><summary>Text part</summary><pre>{}</pre></details></article>",
            escape_html(&m.subject),
            escape_html(&m.to.join(", ")),
            escape_html(&m.sent_at),
            attachments_html(index, m),
            escape_html(&m.html),
            escape_html(&m.text)
        );
    }
    html.push_str("</body></html>");
    Html(html).into_response()
}

/// `GET /_dev/mail/{index}/attachment/{n}`: attachment `n` of the mail at `index` of
/// `/_dev/mail` (both from 0), as sent: its bytes with its content type.
async fn dev_mail_attachment(
    State(s): State<LocalSystem>,
    Path((index, n)): Path<(usize, usize)>,
) -> Response {
    let mails = match s.mails().await {
        Ok(m) => m,
        Err(e) => return fail(&e),
    };
    let Some(a) = mails.get(index).and_then(|m| m.attachment_parts.get(n)) else {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": "no such mail or attachment"})),
        )
            .into_response();
    };
    // Only characters that need no quoting in a header; the name is the sender's own anyway.
    let file: String = a
        .name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let disposition = if file.is_empty() {
        "inline".to_owned()
    } else {
        format!("inline; filename=\"{file}\"")
    };
    let headers = [
        (header::CONTENT_TYPE, a.content_type_header()),
        (header::CONTENT_DISPOSITION, disposition),
    ];
    (headers, a.bytes.clone()).into_response()
}

#[derive(serde::Deserialize)]
struct ClockBody {
    advance_minutes: i64,
}

async fn dev_clock(State(s): State<LocalSystem>, body: axum::body::Bytes) -> Response {
    let Ok(b) = serde_json::from_slice::<ClockBody>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "expected {\"advance_minutes\": N}"})),
        )
            .into_response();
    };
    if b.advance_minutes < 0 {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({"error": "the clock only moves forward"})),
        )
            .into_response();
    }
    s.deps.clock.advance(b.advance_minutes);
    Json(serde_json::json!({"now": shared::domain::time::rfc3339(s.deps.clock.now())}))
        .into_response()
}

async fn dev_rescan(State(s): State<LocalSystem>) -> Response {
    match s.rescan().await {
        Ok(report) => Json(report).into_response(),
        Err(e) => fail(&e),
    }
}
