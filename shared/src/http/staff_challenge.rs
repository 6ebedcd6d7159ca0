//! The sign-in's second steps: when the user pool answers a password with a challenge — a new
//! password for a user an administrator created (`NEW_PASSWORD_REQUIRED`), or the code of the
//! person's authenticator app (`SOFTWARE_TOKEN_MFA`) — the console shows a page for it and
//! answers the pool (`POST /staff/sign-in/challenge`). The pool's session for the answer lives a
//! few minutes in an `HttpOnly` cookie of its own, never in the page.

use super::LangQuery;
use super::language;
use super::staff::{
    Cookies, Note, SESSION_COOKIE, SIGN_IN_COOKIE, StaffDeps, csrf_refused, refused_session,
    sign_in_answer, sign_in_form, staff_page, unavailable,
};
use crate::config::Secret;
use crate::domain::{Language, Token};
use crate::identity::{Asked, Challenge, SignInError, SignInStep};
use crate::render::texts;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

/// The cookie that carries the challenge, the user to answer as and the pool's session.
const CHALLENGE_COOKIE: &str = "console-challenge";
/// Cognito's session for an answer lasts 3 minutes (the app client's default).
const CHALLENGE_SECONDS: i64 = 3 * 60;

/// What the pool answered to a password or a challenge's answer: the session cookie and the
/// overview, or the page for the next challenge.
pub(super) async fn signed_in_or_asked(
    staff: &StaffDeps,
    lang: Language,
    step: SignInStep,
) -> Response {
    let signed_in = match step {
        SignInStep::Done(s) => s,
        SignInStep::Asked(asked) => {
            return challenge_page(staff, lang, StatusCode::OK, &asked, None);
        }
    };
    // The pool's answer is checked like every later request, so a user in neither staff group
    // gets no session at all.
    let token = String::from_utf8_lossy(signed_in.id_token.expose()).into_owned();
    let now = staff.token_clock.now().timestamp();
    if let Err(e) = staff.identity.verify(&token, now).await {
        return refused_session(staff, lang, &e);
    }
    tracing::info!("staff signed in");
    let mut response =
        Redirect::to(&format!("/staff/overview?lang={}", lang.code())).into_response();
    let h = response.headers_mut();
    staff
        .cookies
        .set(h, SESSION_COOKIE, &token, Some(signed_in.expires_in.max(0)));
    staff.cookies.expire(h, SIGN_IN_COOKIE);
    staff.cookies.expire(h, CHALLENGE_COOKIE);
    response
}

/// The sign-in page with what went wrong; never a 500 for what the person did.
pub(super) fn sign_in_failed(staff: &StaffDeps, lang: Language, e: &SignInError) -> Response {
    let t = texts(lang);
    let (status, key) = match e {
        SignInError::Refused => (StatusCode::UNAUTHORIZED, "staff_sign_in_failed"),
        SignInError::Challenge(name) => {
            tracing::info!(challenge = %name, "sign-in needs a step the console does not offer");
            (StatusCode::UNAUTHORIZED, "staff_sign_in_challenge")
        }
        SignInError::StartAgain | SignInError::WrongCode | SignInError::WeakPassword(_) => {
            (StatusCode::UNAUTHORIZED, "staff_sign_in_start_again")
        }
        SignInError::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, "rate_limited_intro"),
        SignInError::Unavailable(e) => {
            tracing::error!(error = %e, "user pool unavailable");
            return unavailable(lang);
        }
    };
    let mut response = sign_in_answer(staff, lang, status, Note::Error(t.get(key)));
    staff
        .cookies
        .expire(response.headers_mut(), CHALLENGE_COOKIE);
    response
}

/// The page for `asked` (a form with a fresh CSRF value), its challenge in its cookie.
fn challenge_page(
    staff: &StaffDeps,
    lang: Language,
    status: StatusCode,
    asked: &Asked,
    error: Option<&str>,
) -> Response {
    let t = texts(lang);
    let kind = asked.challenge.as_str();
    let csrf = Token::generate().expose().to_owned();
    let mut response = staff_page(
        status,
        "staff_challenge.html",
        lang,
        json!({"title": t.get(&format!("staff_challenge_{kind}_title")), "kind": kind,
               "error": error, "csrf": csrf,
               "action": format!("/staff/sign-in/challenge?lang={}", lang.code()),
               "lang_switch": format!("/staff/sign-in?lang={}", lang.other().code())}),
    );
    let h = response.headers_mut();
    staff.cookies.set(h, SIGN_IN_COOKIE, &csrf, Some(15 * 60));
    let session = String::from_utf8_lossy(asked.session.expose()).into_owned();
    let carried = json!([kind, asked.username, session]).to_string();
    staff.cookies.set(
        h,
        CHALLENGE_COOKIE,
        &hex::encode(carried),
        Some(CHALLENGE_SECONDS),
    );
    response
}

/// The challenge a request's cookie carries.
fn carried(cookies: Cookies, headers: &HeaderMap) -> Option<Asked> {
    let bytes = hex::decode(cookies.get(headers, CHALLENGE_COOKIE)?).ok()?;
    let (kind, username, session): (String, String, String) =
        serde_json::from_slice(&bytes).ok()?;
    Some(Asked {
        challenge: Challenge::parse(&kind)?,
        username,
        session: Secret::new(session),
    })
}

/// `POST /staff/sign-in/challenge`: the form's CSRF value and `new_password` with `repeat`, or
/// `code` (the authenticator's six digits).
pub(super) async fn answer_challenge(
    State(staff): State<StaffDeps>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = language(&q, None, &headers);
    let t = texts(lang);
    let Some(fields) = sign_in_form(staff.cookies, &headers, &body) else {
        return csrf_refused(lang);
    };
    let field = |name: &str| super::staff_pages::field(&fields, name);
    let Some(asked) = carried(staff.cookies, &headers) else {
        return sign_in_failed(&staff, lang, &SignInError::StartAgain);
    };
    let again = |status, key: &str| challenge_page(&staff, lang, status, &asked, Some(t.get(key)));
    let answer = match asked.challenge {
        Challenge::NewPassword => {
            let (password, repeat) = (field("new_password"), field("repeat"));
            if password.is_empty() || password.len() > 256 {
                return again(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "staff_new_password_missing",
                );
            }
            if password != repeat {
                return again(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "staff_new_password_mismatch",
                );
            }
            password
        }
        Challenge::Totp => {
            let code: String = field("code")
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
                return again(StatusCode::UNPROCESSABLE_ENTITY, "staff_totp_format");
            }
            code
        }
    };
    match staff.identity.answer(&asked, &answer).await {
        Ok(step) => signed_in_or_asked(&staff, lang, step).await,
        Err(SignInError::WrongCode) => again(StatusCode::UNAUTHORIZED, "staff_totp_wrong"),
        Err(SignInError::WeakPassword(_)) => {
            again(StatusCode::UNPROCESSABLE_ENTITY, "staff_new_password_weak")
        }
        Err(e) => sign_in_failed(&staff, lang, &e),
    }
}
