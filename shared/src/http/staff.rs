//! staff-console: the signed-in console of the city's clerks and supervisors (`/staff/…`).
//!
//! Sign-in posts a user name and password; the function asks the user pool (`InitiateAuth`,
//! `USER_PASSWORD_AUTH`) and keeps the pool's ID token in an `HttpOnly`, `SameSite=Strict`
//! cookie (`__Host-`, so `Secure` and `Path=/`, unless the console is served over plain http, as
//! the local runner is: [`Cookies`]). Every
//! request verifies that token again (`identity::Identity::verify`: the pool's keys, issuer,
//! client, expiry, group), so a session ends when its token expires, and sign-out removes it.
//! Every POST carries a CSRF token in a hidden field: the sign-in form a random value that also
//! sits in a cookie of its own (double submit), every other form an HMAC of the session's token,
//! which only a page of the session can know. None of these routes is in the citizen router. With `ORIGIN_SECRET` set, only requests
//! that came through the edge are served (`origin`), as the citizen routes.

use super::ClientAddr;
use super::{ADMIN_BODY_LIMIT, LangQuery, language};
use super::{staff_challenge, staff_pages, staff_phone};
use crate::app::{self, Deps};
use crate::config::Secret;
use crate::domain::staff::{Role, StaffMember, TokenRefusal};
use crate::domain::{Language, Token};
use crate::identity::{Identity, PoolSettings, SignInError, VerifyError};
use crate::render::{self, texts};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hmac::{Hmac, KeyInit as _, Mac};
use serde_json::json;
use sha2::Sha256;
use std::fmt::Write as _;

/// The session cookie: the pool's ID token.
pub(super) const SESSION_COOKIE: &str = "console-session";
/// The sign-in form's CSRF value (double submit), before there is a session.
pub(super) const SIGN_IN_COOKIE: &str = "console-signin";
/// The name of the hidden CSRF field in every form.
pub(crate) const CSRF_FIELD: &str = "csrf";

/// What the console's handlers need: the use cases' dependencies and the user pool.
#[derive(Clone)]
pub struct StaffDeps {
    pub deps: Deps,
    pub identity: Identity,
    /// How the console's cookies are named and set ([`Cookies::for_base_url`]).
    pub cookies: Cookies,
    /// The clock a session's expiry is checked at. The pool issues its tokens in real time, so
    /// this is not the use cases' clock, which the local runner can move forward (`/_dev/clock`)
    /// to try deadlines: a moved domain clock must not end every session.
    pub token_clock: crate::app::Clock,
}

impl StaffDeps {
    /// The console's dependencies from the environment ([`PoolSettings::from_lookup`]).
    ///
    /// # Errors
    /// When the pool's variables are missing or invalid.
    pub fn from_env(
        deps: &Deps,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, crate::config::ConfigError> {
        let settings =
            PoolSettings::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))?;
        Ok(Self::new(
            deps.clone(),
            aws_sdk_cognitoidentityprovider::Client::new(sdk),
            settings,
        ))
    }

    /// Builds from an explicit Cognito client (the local runner points it at moto).
    #[must_use]
    pub fn new(
        deps: Deps,
        cognito: aws_sdk_cognitoidentityprovider::Client,
        settings: PoolSettings,
    ) -> Self {
        let cookies = Cookies::for_base_url(&deps.config.public_base_url);
        Self {
            identity: Identity::new(cognito, settings),
            deps,
            cookies,
            token_clock: crate::app::Clock::default(),
        }
    }
}

/// Routes of the staff-console function.
pub fn staff_router(staff: StaffDeps) -> Router {
    Router::new()
        .route("/staff", get(home))
        .route("/staff/sign-in", get(sign_in_page).post(sign_in))
        .route(
            "/staff/sign-in/challenge",
            post(staff_challenge::answer_challenge),
        )
        .route("/staff/sign-out", post(sign_out))
        .route("/staff/overview", get(staff_pages::overview))
        .route("/staff/slots", get(staff_pages::slots))
        .route("/staff/slots/upload", post(staff_pages::upload))
        .route("/staff/slots/release", post(staff_pages::release))
        .route("/staff/slots/withdraw", post(staff_pages::withdraw))
        .route(
            "/staff/support",
            get(staff_pages::support).post(staff_pages::support_lookup),
        )
        .route("/staff/support/cancel", post(staff_pages::support_cancel))
        .route(
            "/staff/phone",
            get(staff_phone::phone_page).post(staff_phone::enter),
        )
        .route("/staff/calls", get(staff_phone::calls))
        .route("/staff/calls/answer", post(staff_phone::answer))
        .route("/staff/audit", get(staff_pages::audit))
        .route("/staff/allocations", get(staff_pages::allocations))
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        // Behind the edge the console too is served only through it: its WAF's per-client
        // limits then count every sign-in, and `ClientAddr` is the viewer, not CloudFront.
        .layer(axum::middleware::from_fn_with_state(
            super::origin::CloudFront::of(&staff.deps.config),
            super::origin::only_through_cloudfront,
        ))
        .with_state(staff)
}

async fn home(Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    let lang = language(&q, None, &headers);
    Redirect::to(&format!("/staff/overview?lang={}", lang.code())).into_response()
}

/// A request of a signed-in member of staff: who, in which language, and the session's CSRF
/// value for the page's forms. Without a valid session the request is answered with the sign-in
/// page (401), or a refusal (403) for a user in neither staff group.
pub(crate) struct Session {
    pub(crate) member: StaffMember,
    pub(crate) lang: Language,
    pub(crate) csrf: String,
}

impl FromRequestParts<StaffDeps> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        staff: &StaffDeps,
    ) -> Result<Self, Self::Rejection> {
        let lang = request_language(parts);
        let Some(token) = staff.cookies.get(&parts.headers, SESSION_COOKIE) else {
            return Err(sign_in_answer(
                staff,
                lang,
                StatusCode::UNAUTHORIZED,
                Note::None,
            ));
        };
        let now = staff.token_clock.now().timestamp();
        let member = match staff.identity.verify(&token, now).await {
            Ok(member) => member,
            Err(e) => return Err(refused_session(staff, lang, &e)),
        };
        // Without its CSRF value a session could not protect its forms: no session at all.
        let Some(csrf) = csrf_of_session(&token) else {
            tracing::error!("session's CSRF value not made");
            return Err(unavailable(lang));
        };
        Ok(Self { member, lang, csrf })
    }
}

impl Session {
    /// The refusal (403) of a member whose role is below `role`; `None` when they may.
    pub(crate) fn refusal_below(&self, role: Role) -> Option<Response> {
        if self.member.may(role) {
            return None;
        }
        let t = texts(self.lang);
        Some(staff_page(
            StatusCode::FORBIDDEN,
            "staff_message.html",
            self.lang,
            json!({"title": t.get("staff_forbidden_title"), "paragraphs": [t.get("staff_forbidden_intro")],
                   "staff": self.nav()}),
        ))
    }

    /// What every console page's header shows: the person, their role, the sign-out form.
    pub(crate) fn nav(&self) -> serde_json::Value {
        let t = texts(self.lang);
        let role = match self.member.role {
            Role::Clerk => t.get("staff_role_clerk"),
            Role::Supervisor => t.get("staff_role_supervisor"),
        };
        json!({"name": self.member.name, "role": role, "csrf": self.csrf,
               "supervisor": self.member.may(Role::Supervisor)})
    }

    /// The fields of a POST's body, if its CSRF field matches the session (else answer
    /// [`Session::csrf_refused`]).
    pub(crate) fn checked_form(&self, body: &Bytes) -> Option<Vec<(String, String)>> {
        let fields: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        let sent = fields
            .iter()
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.as_str());
        sent.is_some_and(|v| self.csrf_matches(v)).then_some(fields)
    }

    /// Whether `sent` is this session's CSRF value. Fails closed: a session without one (it
    /// could not be made) accepts nothing, not even an empty field.
    pub(crate) fn csrf_matches(&self, sent: &str) -> bool {
        !self.csrf.is_empty() && Secret::new(self.csrf.clone()).matches(sent)
    }

    /// The answer to a POST without the session's CSRF value (403): nothing was done.
    pub(crate) fn csrf_refused(&self) -> Response {
        csrf_refused(self.lang)
    }
}

fn request_language(parts: &Parts) -> Language {
    let q = Query::<LangQuery>::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    language(&q, None, &parts.headers)
}

/// The answer to a request whose session token does not hold.
pub(super) fn refused_session(staff: &StaffDeps, lang: Language, error: &VerifyError) -> Response {
    let t = texts(lang);
    match error {
        VerifyError::Refused(TokenRefusal::NoRole) => {
            let mut r = sign_in_answer(
                staff,
                lang,
                StatusCode::FORBIDDEN,
                Note::Error(t.get("staff_no_role")),
            );
            staff.cookies.expire(r.headers_mut(), SESSION_COOKIE);
            r
        }
        VerifyError::Refused(TokenRefusal::Expired) => {
            let mut r = sign_in_answer(
                staff,
                lang,
                StatusCode::UNAUTHORIZED,
                Note::Error(t.get("staff_session_expired")),
            );
            staff.cookies.expire(r.headers_mut(), SESSION_COOKIE);
            r
        }
        VerifyError::Refused(_) => {
            let mut r = sign_in_answer(staff, lang, StatusCode::UNAUTHORIZED, Note::None);
            staff.cookies.expire(r.headers_mut(), SESSION_COOKIE);
            r
        }
        VerifyError::KeysUnavailable(e) => {
            tracing::error!(error = %e, "user pool keys unavailable");
            unavailable(lang)
        }
    }
}

pub(crate) fn unavailable(lang: Language) -> Response {
    let t = texts(lang);
    staff_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "staff_message.html",
        lang,
        json!({"title": t.get("error_title"), "paragraphs": [t.get("error_intro")]}),
    )
}

pub(super) fn csrf_refused(lang: Language) -> Response {
    let t = texts(lang);
    staff_page(
        StatusCode::FORBIDDEN,
        "staff_message.html",
        lang,
        json!({"title": t.get("staff_csrf_title"), "paragraphs": [t.get("staff_csrf_intro")],
               "links": [{"href": format!("/staff/overview?lang={}", lang.code()), "label": t.get("staff_nav_overview")}]}),
    )
}

/// The CSRF value of a session: an HMAC keyed with its token, so only someone who holds the
/// session (its pages) can know it, and it changes with every sign-in. `None` if the MAC cannot
/// be made (HMAC takes keys of any length, so only a future change could get here): the caller
/// then refuses the session rather than protect its forms with an empty value.
fn csrf_of_session(token: &str) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).ok()?;
    mac.update(b"terminagent staff console csrf");
    Some(hex::encode(mac.finalize().into_bytes())).filter(|v| !v.is_empty())
}

/// Renders a console template (`staff` in the context adds the navigation).
pub(crate) fn staff_page(
    status: StatusCode,
    template: &str,
    lang: Language,
    mut ctx: serde_json::Value,
) -> Response {
    if ctx.get("lang_switch").is_none() {
        ctx["lang_switch"] = json!(format!("?lang={}", lang.other().code()));
    }
    match render::render(template, lang, ctx) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console page not rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// What the sign-in page says above its form.
pub(super) enum Note<'a> {
    None,
    Error(&'a str),
    Notice(&'a str),
}

/// The sign-in page with a fresh CSRF value in its form and its cookie.
pub(super) fn sign_in_answer(
    staff: &StaffDeps,
    lang: Language,
    status: StatusCode,
    note: Note,
) -> Response {
    let t = texts(lang);
    let value = Token::generate().expose().to_owned();
    let (error, notice) = match note {
        Note::None => (None, None),
        Note::Error(e) => (Some(e), None),
        Note::Notice(n) => (None, Some(n)),
    };
    let mut response = staff_page(
        status,
        "staff_sign_in.html",
        lang,
        json!({"title": t.get("staff_sign_in_title"), "error": error, "notice": notice, "csrf": value,
               "action": format!("/staff/sign-in?lang={}", lang.code()),
               "lang_switch": format!("/staff/sign-in?lang={}", lang.other().code())}),
    );
    staff.cookies.set(
        response.headers_mut(),
        SIGN_IN_COOKIE,
        &value,
        Some(15 * 60),
    );
    response
}

async fn sign_in_page(
    State(staff): State<StaffDeps>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(&q, None, &headers);
    sign_in_answer(&staff, lang, StatusCode::OK, Note::None)
}

/// The fields of a sign-in form (the password's, or a challenge's), if its CSRF value is the
/// one the sign-in cookie holds (a double submit: no session exists yet).
pub(super) fn sign_in_form(
    cookies: Cookies,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Vec<(String, String)>> {
    let fields: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let sent = staff_pages::field(&fields, CSRF_FIELD);
    let expected = cookies.get(headers, SIGN_IN_COOKIE)?;
    (!expected.is_empty() && Secret::new(expected).matches(&sent)).then_some(fields)
}

/// `POST /staff/sign-in`: `username`, `password` and the form's CSRF value.
///
/// Failed sign-ins are counted per client address and per account; past either limit the page
/// answers 429 without asking the pool, so guessing passwords from one place, or one account's
/// from many, stops at a few per hour whether or not the request came through the edge's WAF.
async fn sign_in(
    State(staff): State<StaffDeps>,
    Query(q): Query<LangQuery>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = language(&q, None, &headers);
    let t = texts(lang);
    let Some(fields) = sign_in_form(staff.cookies, &headers, &body) else {
        return csrf_refused(lang);
    };
    let field = |name: &str| staff_pages::field(&fields, name);
    let (username, password) = (field("username"), field("password"));
    if username.trim().is_empty()
        || password.is_empty()
        || username.len() > 256
        || password.len() > 256
    {
        return sign_in_answer(
            &staff,
            lang,
            StatusCode::UNAUTHORIZED,
            Note::Error(t.get("staff_sign_in_failed")),
        );
    }
    let (client, account) = (client.as_deref(), username.trim());
    match app::sign_in_blocked(&staff.deps, client, account).await {
        Ok(false) => {}
        Ok(true) => {
            tracing::warn!("sign-in refused: too many failed attempts");
            return sign_in_answer(
                &staff,
                lang,
                StatusCode::TOO_MANY_REQUESTS,
                Note::Error(t.get("staff_sign_in_too_many")),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in attempts not readable");
            return unavailable(lang);
        }
    }
    match staff.identity.sign_in(account, &password).await {
        Ok(step) => staff_challenge::signed_in_or_asked(&staff, lang, step).await,
        Err(e) => {
            if matches!(e, SignInError::Refused)
                && let Err(e) = app::sign_in_failed(&staff.deps, client, account).await
            {
                tracing::error!(error = %e, "failed sign-in not counted");
            }
            staff_challenge::sign_in_failed(&staff, lang, &e)
        }
    }
}

/// `POST /staff/sign-out`: the cookie is removed and the sign-in page shown.
async fn sign_out(State(staff): State<StaffDeps>, session: Session, body: Bytes) -> Response {
    if session.checked_form(&body).is_none() {
        return session.csrf_refused();
    }
    let t = texts(session.lang);
    let mut response = sign_in_answer(
        &staff,
        session.lang,
        StatusCode::OK,
        Note::Notice(t.get("staff_signed_out")),
    );
    staff.cookies.expire(response.headers_mut(), SESSION_COOKIE);
    response
}

/// How the console's cookies are named and set. Served over https (`PUBLIC_BASE_URL`), each
/// cookie is `__Host-<name>`: a browser takes such a cookie only with `Secure`, `Path=/` and no
/// `Domain`, so no other host under the city's domain (and no plain-http answer) can set or
/// shadow the session or the sign-in's CSRF value; and the console reads only the prefixed
/// names. Over plain http (the local runner on 127.0.0.1) a browser refuses `__Host-` cookies
/// (they need `Secure`, which it sends back only over https), so there they keep their plain
/// names, `Path=/staff` and no `Secure`, as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookies {
    host_only: bool,
}

impl Cookies {
    /// `__Host-` cookies unless `base_url` is plain http.
    #[must_use]
    pub fn for_base_url(base_url: &str) -> Self {
        Self {
            host_only: !base_url.starts_with("http://"),
        }
    }

    /// The name a cookie goes by: `__Host-console-session`, or `console-session` over http.
    #[must_use]
    pub fn name(self, base: &str) -> String {
        if self.host_only {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// The value of cookie `base` (by [`Cookies::name`]) in the request.
    pub(super) fn get(self, headers: &HeaderMap, base: &str) -> Option<String> {
        cookie(headers, &self.name(base))
    }

    /// Sets cookie `base`: `HttpOnly`, `SameSite=Strict`; `__Host-`, `Secure` and `Path=/`
    /// behind https, `Path=/staff` over http.
    pub(super) fn set(
        self,
        headers: &mut HeaderMap,
        base: &str,
        value: &str,
        max_age: Option<i64>,
    ) {
        let name = self.name(base);
        let path = if self.host_only { "/" } else { "/staff" };
        let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
        if let Some(age) = max_age {
            let _ = write!(c, "; Max-Age={age}");
        }
        if self.host_only {
            c.push_str("; Secure");
        }
        if let Ok(v) = HeaderValue::from_str(&c) {
            headers.append(header::SET_COOKIE, v);
        }
    }

    /// Removes cookie `base` from the browser.
    pub(super) fn expire(self, headers: &mut HeaderMap, base: &str) {
        self.set(headers, base, "", Some(0));
    }
}

/// The value of cookie `name` in the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_value_depends_on_the_session() {
        let a = csrf_of_session("token-a").unwrap();
        assert_eq!(a.len(), 64);
        assert_eq!(Some(&a), csrf_of_session("token-a").as_ref());
        assert_ne!(Some(a), csrf_of_session("token-b"));
    }

    #[test]
    fn a_session_whose_csrf_value_could_not_be_made_accepts_no_form() {
        let session = Session {
            member: StaffMember {
                name: "clerk@example.de".into(),
                role: Role::Supervisor,
                expires_at: 0,
            },
            lang: Language::De,
            csrf: String::new(),
        };
        assert!(!session.csrf_matches(""));
        assert!(
            session
                .checked_form(&Bytes::from_static(b"csrf=&x=1"))
                .is_none()
        );
        assert!(session.checked_form(&Bytes::from_static(b"x=1")).is_none());
    }

    #[test]
    fn behind_https_cookies_are_host_prefixed_secure_and_for_the_whole_host() {
        let https = Cookies::for_base_url("https://termine.example.de");
        let mut h = HeaderMap::new();
        https.set(&mut h, SESSION_COOKIE, "v", Some(60));
        https.expire(&mut h, SIGN_IN_COOKIE);
        let all: Vec<_> = h.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(
            all[0],
            "__Host-console-session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        assert_eq!(
            all[1],
            "__Host-console-signin=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        );
        // Only the prefixed cookie opens a session: one set without the prefix (by another
        // host of the domain, say) is not read.
        let mut sent = HeaderMap::new();
        sent.insert(
            header::COOKIE,
            HeaderValue::from_static("console-session=planted; console-signin=planted"),
        );
        assert_eq!(https.get(&sent, SESSION_COOKIE), None);
        assert_eq!(https.get(&sent, SIGN_IN_COOKIE), None);
        sent.insert(
            header::COOKIE,
            HeaderValue::from_static("console-session=planted; __Host-console-session=real"),
        );
        assert_eq!(https.get(&sent, SESSION_COOKIE).as_deref(), Some("real"));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("x-console-session=1; console-session=abc.def; other=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc.def"));
        assert_eq!(cookie(&h, SIGN_IN_COOKIE), None);
    }

    #[test]
    fn over_plain_http_cookies_keep_their_names_and_path_without_secure() {
        let http = Cookies::for_base_url("http://127.0.0.1:3000");
        let mut h = HeaderMap::new();
        http.set(&mut h, SESSION_COOKIE, "v", Some(60));
        http.set(&mut h, SIGN_IN_COOKIE, "w", None);
        let all: Vec<_> = h.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(
            all[0],
            "console-session=v; Path=/staff; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        assert_eq!(
            all[1],
            "console-signin=w; Path=/staff; HttpOnly; SameSite=Strict"
        );
        let mut sent = HeaderMap::new();
        sent.insert(
            header::COOKIE,
            HeaderValue::from_static("console-session=abc"),
        );
        assert_eq!(http.get(&sent, SESSION_COOKIE).as_deref(), Some("abc"));
    }
}
