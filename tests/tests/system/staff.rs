//! The staff console: sign-in against the pool in moto, the session and its refusals, the
//! overview.

use crate::helpers::{TestEnv, next_local, page_link};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

/// A browser of the console: no redirects followed, cookies kept by hand.
pub struct Console<'a> {
    pub env: &'a TestEnv,
    http: reqwest::Client,
    pub cookies: std::collections::BTreeMap<String, String>,
}

pub struct Answer {
    pub status: u16,
    pub html: String,
    pub set_cookies: Vec<String>,
    pub location: Option<String>,
}

impl<'a> Console<'a> {
    pub fn new(env: &'a TestEnv) -> Self {
        Self {
            env,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: std::collections::BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, r: reqwest::Response) -> Answer {
        let status = r.status().as_u16();
        let set_cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &set_cookies {
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        Answer {
            status,
            html: r.text().await.unwrap(),
            set_cookies,
            location,
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let r = self
            .http
            .get(self.env.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(r).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let r = self
            .http
            .post(self.env.url(path))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(r).await
    }

    /// Signs in as the runner's user of `group`; asserts it worked.
    pub async fn sign_in_as(&mut self, group: &str) -> Answer {
        let user = self.env.system.staff.user(group).unwrap().clone();
        let answer = self.sign_in(&user.username, &user.password).await;
        assert_eq!(answer.status, 303, "{}", answer.html);
        assert_eq!(answer.location.as_deref(), Some("/staff/overview?lang=de"));
        answer
    }

    pub async fn sign_in(&mut self, username: &str, password: &str) -> Answer {
        let page = self.get("/staff/sign-in").await;
        assert_eq!(page.status, 200);
        let csrf = hidden(&page.html, "csrf");
        self.post(
            "/staff/sign-in",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }
}

/// The value of the hidden field `name` on a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name}: {html}"))
        + marker.len();
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_clerk_signs_in_sees_the_overview_and_signs_out() {
    let env = TestEnv::spawn().await;
    let mut console = Console::new(&env);
    let signed_in = console.sign_in_as("clerk").await;
    let session = signed_in
        .set_cookies
        .iter()
        .find(|c| c.starts_with("console-session="))
        .unwrap();
    // Served over http by the runner: no Secure, but HttpOnly and SameSite=Strict.
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    assert!(session.contains("Path=/staff") && !session.contains("Secure"));

    let overview = console.get("/staff/overview").await;
    assert_eq!(overview.status, 200, "{}", overview.html);
    assert!(overview.html.contains("clerk@buergerservice.example.org"));
    assert!(overview.html.contains("<h1>Übersicht</h1>"));

    let csrf = hidden(&overview.html, "csrf");
    let out = console
        .post("/staff/sign-out?lang=en", &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, 200);
    assert!(out.html.contains("You are signed out."));
    assert!(!console.cookies.contains_key("console-session"));
    let after = console.get("/staff/overview").await;
    assert_eq!(after.status, 401);
    assert!(after.html.contains("name=\"password\""));
}

#[tokio::test]
async fn wrong_passwords_unknown_users_and_missing_sessions_get_the_sign_in_page() {
    let env = TestEnv::spawn().await;
    let mut console = Console::new(&env);
    for path in ["/staff/overview", "/staff/overview?lang=en"] {
        let page = console.get(path).await;
        assert_eq!(page.status, 401, "{path}");
        assert!(page.html.contains("name=\"password\""), "{path}");
    }
    let user = env.system.staff.user("clerk").unwrap().clone();
    for (name, password) in [
        (user.username.as_str(), "Wrong-password-123"),
        ("nobody@buergerservice.example.org", "Wrong-password-123"),
        ("", ""),
    ] {
        let answer = console.sign_in(name, password).await;
        assert_eq!(answer.status, 401, "{name}");
        assert!(
            answer
                .html
                .contains("E-Mail-Adresse oder Passwort sind falsch.")
        );
        assert!(!console.cookies.contains_key("console-session"));
    }
}

#[tokio::test]
async fn forged_and_expired_tokens_open_no_session() {
    let env = TestEnv::spawn().await;
    let mut console = Console::new(&env);
    console.sign_in_as("clerk").await;
    let token = console.cookies["console-session"].clone();
    let parts: Vec<&str> = token.split('.').collect();

    // The payload made a supervisor's, the signature kept.
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["cognito:groups"] = json!(["supervisor"]);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    // No signature at all.
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"dummy"}"#);
    let unsigned = format!("{none_header}.{payload}.");
    // HS256 "signed" with an empty key: the algorithm confusion.
    let hs_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"dummy"}"#);
    let confused = format!("{hs_header}.{payload}.{}", parts[2]);
    // Another key id.
    let other_kid = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"elsewhere"}"#);
    let unknown_key = format!("{other_kid}.{}.{}", parts[1], parts[2]);
    for forged in [
        tampered.as_str(),
        &unsigned,
        &confused,
        &unknown_key,
        "garbage",
        "a.b.c",
    ] {
        let mut other = Console::new(&env);
        other
            .cookies
            .insert("console-session".into(), forged.to_owned());
        let page = other.get("/staff/overview").await;
        assert_eq!(page.status, 401, "{forged}");
        assert!(page.html.contains("name=\"password\""));
        assert!(
            page.set_cookies
                .iter()
                .any(|c| c.starts_with("console-session=;") && c.contains("Max-Age=0")),
            "the bad cookie is removed"
        );
    }

    // The real token still works, also when the domain's clock is moved (the runner's
    // `/_dev/clock`); an hour later in real time it has expired.
    env.system.deps.clock.advance(24 * 60);
    assert_eq!(console.get("/staff/overview").await.status, 200);
    env.system.staff_clock.advance(61);
    let page = console.get("/staff/overview?lang=en").await;
    assert_eq!(page.status, 401);
    assert!(page.html.contains("Your sign-in has expired."));
}

#[tokio::test]
async fn posts_without_the_forms_csrf_value_are_refused() {
    let env = TestEnv::spawn().await;
    let mut console = Console::new(&env);
    let user = env.system.staff.user("clerk").unwrap().clone();
    // Sign-in without the form's cookie (a cross-site post), or with another value.
    let answer = console
        .post(
            "/staff/sign-in",
            &[
                ("csrf", "x"),
                ("username", &user.username),
                ("password", &user.password),
            ],
        )
        .await;
    assert_eq!(answer.status, 403);
    console.get("/staff/sign-in").await;
    let answer = console
        .post(
            "/staff/sign-in",
            &[
                ("csrf", "not-the-cookie"),
                ("username", &user.username),
                ("password", &user.password),
            ],
        )
        .await;
    assert_eq!(answer.status, 403);
    assert!(!console.cookies.contains_key("console-session"));

    console.sign_in_as("clerk").await;
    for fields in [vec![], vec![("csrf", "0".repeat(64))]] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = console.post("/staff/sign-out", &fields).await;
        assert_eq!(answer.status, 403, "{fields:?}");
        assert!(answer.html.contains("Formular abgelaufen"));
    }
    assert!(console.cookies.contains_key("console-session"));
    assert_eq!(console.get("/staff/overview").await.status, 200);
}

#[tokio::test]
async fn a_user_in_neither_staff_group_gets_no_session() {
    let env = TestEnv::spawn().await;
    let name = "visitor@buergerservice.example.org";
    let password = "Visitor-password-123";
    crate::sign_in::pool_user(&env, name, password, false, None).await;
    let mut console = Console::new(&env);
    let answer = console.sign_in(name, password).await;
    assert_eq!(answer.status, 403);
    assert!(answer.html.contains("weder zur Gruppe"));
    assert!(!console.cookies.contains_key("console-session"));
}

#[tokio::test]
async fn the_overview_counts_lines_offers_outcomes_and_the_hours_in_demand() {
    let env = TestEnv::spawn().await;
    let email = env.email("anna");
    env.confirmed_wish(&email, json!({"mon": [8, 9], "tue": [8]}))
        .await;
    let other = env.email("ben");
    env.confirmed_wish(&other, json!({"mon": [8]})).await;
    env.put_slots(
        &json!([{"id": "ov-1", "office": "bilk", "service": "id-card",
        "start": next_local(chrono::Weekday::Mon, 8, 30, 3), "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    // The first wish got the offer and declines it; the slot goes to the second.
    let offer = page_link(env.mails_to(&email).await.last().unwrap(), "/o/");
    let (status, _) = env.click(&format!("{offer}/decline")).await;
    assert_eq!(status, 200);
    env.settle().await;

    let mut console = Console::new(&env);
    console.sign_in_as("supervisor").await;
    let page = console.get("/staff/overview?lang=en").await;
    assert_eq!(page.status, 200, "{}", page.html);
    let row = page
        .html
        .split("<tr>")
        .find(|r| r.contains("Bilk") && r.contains("<td"))
        .unwrap_or_else(|| panic!("no row for Bilk: {}", page.html));
    let numbers: Vec<&str> = row
        .split("<td class=\"num\">")
        .skip(1)
        .map(|c| c.split('<').next().unwrap())
        .collect();
    // waiting 2, one offer open (to the second wish), 0 accepted, 1 declined, 0 expired.
    assert_eq!(numbers, ["2", "1", "0", "1", "0"], "{row}");
    // Two wishes had their first offer: too few for a median wait (from the day tallies).
    assert!(
        row.contains(
            "<td class=\"num median\">– (only 2 wishes first offered; at least 5 needed)</td>"
        ),
        "{row}"
    );
    // Monday 8 is wanted by both wishes, Monday 9 and Tuesday 8 by one.
    assert!(
        page.html.contains("<td class=\"num heat-4\">2</td>"),
        "{}",
        page.html
    );
    assert_eq!(
        page.html.matches("<td class=\"num heat-2\">1</td>").count(),
        2
    );
}

impl Console<'_> {
    /// Uploads `text` as the file `name` with the page's CSRF value.
    pub async fn upload(&mut self, name: &str, text: &str, csrf: &str) -> Answer {
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::text(text.to_owned())
                    .file_name(name.to_owned())
                    .mime_str("text/csv")
                    .unwrap(),
            );
        let r = self
            .http
            .post(self.env.url("/staff/slots/upload"))
            .header("cookie", self.cookie_header())
            .multipart(form)
            .send()
            .await
            .unwrap();
        self.keep(r).await
    }
}

#[tokio::test]
async fn a_slot_file_with_one_bad_line_stores_nothing_and_names_the_line_and_field() {
    let env = TestEnv::spawn().await;
    let mut console = Console::new(&env);
    console.sign_in_as("clerk").await;
    let page = console.get("/staff/slots").await;
    assert_eq!(page.status, 200, "{}", page.html);
    let csrf = hidden(&page.html, "csrf");
    let start = next_local(chrono::Weekday::Tue, 9, 0, 3);
    let later = next_local(chrono::Weekday::Tue, 10, 0, 3);
    let bad = format!(
        "id,office,service,start,minutes,status\n\
         up-1,bilk,id-card,{start},15,free\n\
         up-2,bilk,id-card,tomorrow,15,free\n\
         up-3,nowhere,id-card,{later},15,free\n"
    );
    let answer = console.upload("export.csv", &bad, &csrf).await;
    assert_eq!(answer.status, 422, "{}", answer.html);
    assert!(answer.html.contains("Zeile 3, start:"), "{}", answer.html);
    let (_, slot) = env
        .admin(reqwest::Method::GET, "/admin/slots/up-1", None)
        .await;
    assert_eq!(slot["error"], "no such slot", "nothing stored: {slot}");
    // The catalogue's check after the file's: the unknown office, by its line.
    let unknown = bad.replace("tomorrow", &later);
    let answer = console.upload("export.csv", &unknown, &csrf).await;
    assert_eq!(answer.status, 422, "{}", answer.html);
    assert!(answer.html.contains("Zeile 4, office:"), "{}", answer.html);

    let good = unknown.replace("nowhere", "bilk");
    let answer = console.upload("export.csv", &good, &csrf).await;
    assert_eq!(answer.status, 200, "{}", answer.html);
    assert!(
        answer.html.contains("Gespeichert: 3 neu"),
        "{}",
        answer.html
    );
    // Without the CSRF value: refused, nothing changes.
    let answer = console.upload("export.csv", &good, "").await;
    assert_eq!(answer.status, 403);

    let listed = console.get("/staff/slots?office=bilk&lang=en").await;
    assert!(
        listed.html.contains("<th scope=\"row\">up-3</th>"),
        "{}",
        listed.html
    );
    let withdrawn = console
        .post(
            "/staff/slots/withdraw?lang=en",
            &[("csrf", &csrf), ("id", "up-3")],
        )
        .await;
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.html);
    assert!(withdrawn.html.contains("Slot up-3 is withdrawn."));
    let (status, _) = env
        .admin(reqwest::Method::GET, "/admin/slots/up-3", None)
        .await;
    assert_eq!(status, 404);

    // A booked slot is released into the queue.
    env.put_slots(
        &json!([{"id": "up-9", "office": "bilk", "service": "id-card",
        "start": later, "minutes": 15, "status": "booked"}]),
    )
    .await;
    let found = console.get("/staff/slots?id=up-9").await;
    assert!(found.html.contains("gebucht"), "{}", found.html);
    let released = console
        .post("/staff/slots/release", &[("csrf", &csrf), ("id", "up-9")])
        .await;
    assert_eq!(released.status, 200, "{}", released.html);
    let (_, slot) = env
        .admin(reqwest::Method::GET, "/admin/slots/up-9", None)
        .await;
    assert_eq!(slot["status"], "free");
    // A repeated click answers as the admin API does: the slot as it is now, nothing changed.
    let again = console
        .post("/staff/slots/release", &[("csrf", &csrf), ("id", "up-9")])
        .await;
    assert_eq!(again.status, 200);
    let missing = console
        .post(
            "/staff/slots/withdraw",
            &[("csrf", &csrf), ("id", "no-such")],
        )
        .await;
    assert_eq!(missing.status, 404);
    let no_csrf = console
        .post("/staff/slots/release", &[("id", "up-9")])
        .await;
    assert_eq!(no_csrf.status, 403);
}

#[tokio::test]
async fn support_finds_an_addresses_wishes_cancels_one_as_the_citizen_would_and_logs_each_look() {
    let env = TestEnv::spawn().await;
    let email = env.email("caller");
    let (_, wish_id) = env
        .confirmed_wish_with_id(&email, json!({"mon": [8]}))
        .await;
    let mut console = Console::new(&env);
    console.sign_in_as("clerk").await;
    let page = console.get("/staff/support").await;
    assert_eq!(page.status, 200, "{}", page.html);
    let csrf = hidden(&page.html, "csrf");
    // The audit log is the supervisors'.
    assert_eq!(console.get("/staff/audit").await.status, 403);
    assert!(!page.html.contains("/staff/audit"), "no link for a clerk");

    let found = console
        .post(
            "/staff/support?lang=en",
            &[("csrf", &csrf), ("email", &email)],
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.html);
    assert!(found.html.contains(&wish_id), "{}", found.html);
    assert!(
        found.html.contains("you are in the queue"),
        "{}",
        found.html
    );
    assert!(found.html.contains("No wish ahead of yours"), "its place");
    let nobody = console
        .post(
            "/staff/support",
            &[("csrf", &csrf), ("email", "nobody@example.de")],
        )
        .await;
    assert!(nobody.html.contains("keinen Wunsch"), "{}", nobody.html);
    let bad = console
        .post(
            "/staff/support",
            &[("csrf", &csrf), ("email", "not an address")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        console
            .post("/staff/support", &[("email", &email)])
            .await
            .status,
        403,
        "no look-up without the CSRF value"
    );

    let cancelled = console
        .post(
            "/staff/support/cancel?lang=en",
            &[("csrf", &csrf), ("wish", &wish_id)],
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.html);
    assert!(cancelled.html.contains("The wish is deleted."));
    // As the citizen's own cancel: the confirmation mail and the event.
    let mails = env.mails_to(&email).await;
    assert_eq!(mails.len(), 3, "opt-in, confirmed, cancelled");
    let (_, wish) = env.get_json(&page_link(&mails[1], "/w/")).await;
    assert_eq!(wish["status"], "cancelled");
    let again = console
        .post(
            "/staff/support/cancel",
            &[("csrf", &csrf), ("wish", &wish_id)],
        )
        .await;
    assert!(again.html.contains("schon beendet"), "{}", again.html);

    let mut supervisor = Console::new(&env);
    supervisor.sign_in_as("supervisor").await;
    let log = supervisor.get("/staff/audit?lang=en").await;
    assert_eq!(log.status, 200, "{}", log.html);
    let clerk = "clerk@buergerservice.example.org";
    assert_eq!(log.html.matches(clerk).count(), 3, "{}", log.html);
    assert!(log.html.contains("Wish viewed (look-up or call list)"));
    assert!(log.html.contains("Address looked up, no wish found"));
    assert!(log.html.contains("Wish deleted"));
    assert_eq!(log.html.matches(&wish_id).count(), 2, "{}", log.html);
    assert!(
        !log.html.contains(&email),
        "the address looked up is not logged"
    );
    assert!(!log.html.contains("nobody@example.de"));
}

#[tokio::test]
async fn a_clerk_ending_a_search_for_an_earlier_appointment_is_in_the_audit_log() {
    let env = TestEnv::spawn().await;
    let email = env.email("holder");
    let (_, wish_id) = env
        .confirmed_wish_with_id(&email, json!({"mon": [8]}))
        .await;
    let start = crate::helpers::next_local(chrono::Weekday::Mon, 8, 0, 14);
    env.put_slots(
        &json!([{"id": "held-mon", "office": "bilk", "service": "id-card",
        "start": start, "minutes": 15, "status": "free"}]),
    )
    .await;
    let (_, offer) = env.latest_offer(&email).await;
    assert_eq!(env.click(&format!("{offer}/accept")).await.0, 200);
    env.settle().await;
    let appointment = page_link(env.mails_to(&email).await.last().unwrap(), "/a/");
    let (_, looking) = env.click(&format!("{appointment}/earlier")).await;
    assert_eq!(looking["earlier"], true, "{looking}");

    let mut console = Console::new(&env);
    console.sign_in_as("clerk").await;
    let csrf = hidden(&console.get("/staff/support").await.html, "csrf");
    let stopped = console
        .post(
            "/staff/support/cancel?lang=en",
            &[("csrf", &csrf), ("wish", &wish_id)],
        )
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.html);
    let (_, kept) = env.get_json(&appointment).await;
    assert_eq!(
        (kept["status"].as_str(), &kept["earlier"]),
        (Some("booked"), &json!(false)),
        "the appointment stays, the search ends: {kept}"
    );

    let mut supervisor = Console::new(&env);
    supervisor.sign_in_as("supervisor").await;
    let log = supervisor.get("/staff/audit?lang=en").await;
    assert!(log.html.contains("Wish deleted"), "{}", log.html);
    assert_eq!(
        log.html.matches(&wish_id).count(),
        1,
        "the clerk's change, named by the wish: {}",
        log.html
    );
}
