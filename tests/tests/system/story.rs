//! The newspaper's story, through the public HTTP contracts: wish, confirm, offer, decline, a
//! later offer, cancel the whole wish — with a second wish to show FIFO and the pass-on.

use crate::helpers::{TestEnv, next_local, page_link};
use chrono::{Datelike, Weekday};
use reqwest::Method;
use serde_json::json;

const MONTHS_DE: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];

fn seed_windows() -> serde_json::Value {
    json!({"mon": [8], "tue": [8], "wed": [8], "thu": [8], "fri": [12]})
}

fn slot(id: &str, start: &str, status: &str) -> serde_json::Value {
    json!({"id": id, "office": "bilk", "service": "id-card", "start": start, "minutes": 15, "status": status})
}

#[tokio::test]
async fn the_seed_story_runs_end_to_end_with_fifo_and_pass_on() {
    let env = TestEnv::spawn().await;
    let anna = env.email("anna");
    let ben = env.email("ben");

    // Anna leaves her wish; the page link in the opt-in mail does not change state on GET.
    let (status, body) = env
        .post_json("/api/wishes", &json!({"email": anna, "service": "id-card", "offices": ["bilk"], "windows": seed_windows()}))
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["status"], "pending");
    let optin = env.mails_to(&anna).await;
    assert_eq!(optin.len(), 1);
    assert!(
        optin[0].subject.contains("bestätigen"),
        "{}",
        optin[0].subject
    );
    assert!(!optin[0].text.is_empty() && !optin[0].html.is_empty());
    let wish_link = page_link(&optin[0], "/w/");
    assert!(wish_link.starts_with(&env.base));
    let page = env.http.get(&wish_link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .replace("&#x2f;", "/")
            .contains("/confirm")
    );
    assert_eq!(env.get_json(&wish_link).await.1["status"], "pending");

    // Confirming puts her in line; a second click answers the same and mails nothing.
    let (_, wish) = env.click(&format!("{wish_link}/confirm")).await;
    assert_eq!(wish["status"], "waiting");
    assert_eq!(wish["windows"], seed_windows());
    let (_, again) = env.click(&format!("{wish_link}/confirm")).await;
    assert_eq!(again, wish);
    assert_eq!(env.mails_to(&anna).await.len(), 2);

    // Ben confirms later: he is behind Anna in every line, and his page says so.
    let (ben_link, ben_id) = env.confirmed_wish_with_id(&ben, seed_windows()).await;
    let ben_page = env
        .http
        .get(&ben_link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ben_page.contains("1 Wunsch vor Ihrem – Bürgerbüro Bilk, Montag 8"),
        "{ben_page}"
    );
    let anna_page = env
        .http
        .get(&wish_link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        anna_page.contains("Kein Wunsch vor Ihrem – Bürgerbüro Bilk, Freitag 12"),
        "{anna_page}"
    );

    // A slot frees up (Wednesday 8:30): it reaches match-offers through the stream and the bus.
    let wed = next_local(Weekday::Wed, 8, 30, 3);
    assert_eq!(
        env.put_slots(&json!([slot("bilk-wed", &wed, "free")]))
            .await,
        ["created"]
    );
    env.settle().await;
    let anna_mails = env.mails_to(&anna).await;
    assert_eq!(anna_mails.len(), 3, "Anna, first in line, gets the offer");
    let offer_mail = &anna_mails[2];
    assert!(
        offer_mail
            .subject
            .starts_with("Terminangebot: Bürgerbüro Bilk, Mi "),
        "{}",
        offer_mail.subject
    );
    assert!(offer_mail.text.contains("Bachstraße 145"));
    assert!(
        offer_mail
            .headers
            .iter()
            .any(|(k, _)| k == "List-Unsubscribe")
    );
    let offer_link = page_link(offer_mail, "/o/");
    // `{base}/o/{token}`: the token 256 random bits, URL-safe base64 without padding.
    let token = offer_link
        .strip_prefix(&format!("{}/o/", env.base))
        .unwrap_or_else(|| panic!("{offer_link} is not {}/o/{{token}}", env.base));
    assert_eq!(token.len(), 43, "{offer_link}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{offer_link}"
    );
    assert!(!wish_link.ends_with(token), "each link has its own token");
    // The page it opens shows the offered slot: office, address and the local time.
    let offered = chrono::DateTime::parse_from_rfc3339(&wed).unwrap();
    let when = format!(
        "Mittwoch, {}. {} {}, 8:30 Uhr",
        offered.day(),
        MONTHS_DE[offered.month0() as usize],
        offered.year()
    );
    let page = env
        .http
        .get(&offer_link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace('\u{2060}', "")
        .replace('\u{a0}', " ");
    for shown in ["Bürgerbüro Bilk", "Bachstraße 145", &when] {
        assert!(page.contains(shown), "{shown} missing: {page}");
    }
    assert_eq!(env.mails_to(&ben).await.len(), 2, "Ben gets nothing yet");
    // The mail names the three actions; following one only shows a page asking to confirm.
    for action in ["accept", "decline", "cancel"] {
        let url = format!("{offer_link}/{action}");
        assert!(offer_mail.links.contains(&url), "{action} link missing");
        let page = env.http.get(&url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("method=\"post\""));
    }
    let (_, offer) = env.get_json(&offer_link).await;
    assert_eq!(offer["status"], "open");
    assert_eq!(offer["slot"]["id"], "bilk-wed");
    let (_, slot_now) = env.admin(Method::GET, "/admin/slots/bilk-wed", None).await;
    assert_eq!(slot_now["status"], "offered");
    // While the offer is open, the booking system cannot book the slot past the queue.
    assert_eq!(
        env.put_slots(&json!([slot("bilk-wed", &wed, "booked")]))
            .await,
        ["conflict"]
    );
    assert_eq!(
        env.admin(Method::GET, "/admin/slots/bilk-wed", None)
            .await
            .1["status"],
        "offered"
    );
    // The offer page shows the three actions, each a form posting to its own URL.
    let html = env
        .http
        .get(&offer_link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/");
    for action in ["accept", "decline", "cancel"] {
        assert!(
            html.contains(&format!(
                "{}/{action}",
                offer_link.trim_start_matches(&env.base)
            )),
            "{action} missing"
        );
    }

    // Anna declines: the slot passes to Ben at once; Anna keeps her place.
    let (_, declined) = env.click(&format!("{offer_link}/decline")).await;
    assert_eq!(declined["status"], "declined");
    let (_, repeat) = env.click(&format!("{offer_link}/decline")).await;
    assert_eq!(repeat["status"], "declined");
    env.settle().await;
    let anna_mails = env.mails_to(&anna).await;
    assert_eq!(anna_mails.len(), 4, "one decline confirmation, not two");
    assert!(anna_mails[3].subject.contains("abgelehnt"));
    let ben_mails = env.mails_to(&ben).await;
    assert_eq!(ben_mails.len(), 3, "the declined slot went to Ben");
    assert!(ben_mails[2].subject.starts_with("Terminangebot"));
    assert_eq!(env.get_json(&wish_link).await.1["status"], "waiting");

    // A later slot (Monday 8:45, a week on): Anna is first in line again.
    let mon = next_local(Weekday::Mon, 8, 45, 10);
    assert_eq!(
        env.put_slots(&json!([slot("bilk-mon", &mon, "free")]))
            .await,
        ["created"]
    );
    env.settle().await;
    let anna_mails = env.mails_to(&anna).await;
    assert_eq!(anna_mails.len(), 5);
    assert!(
        anna_mails[4].subject.contains(", Mo "),
        "{}",
        anna_mails[4].subject
    );
    let second_offer = page_link(&anna_mails[4], "/o/");

    // She cancels the whole wish from the offer: the offer is withdrawn, the cancellation mailed.
    let (_, after_cancel) = env.click(&format!("{second_offer}/cancel")).await;
    assert_eq!(after_cancel["status"], "withdrawn");
    env.settle().await;
    let anna_mails = env.mails_to(&anna).await;
    assert_eq!(anna_mails.len(), 6);
    assert!(
        anna_mails[5].subject.starts_with("Terminwunsch gelöscht"),
        "{}",
        anna_mails[5].subject
    );
    assert_eq!(env.get_json(&wish_link).await.1["status"], "cancelled");
    let (_, again) = env.click(&format!("{wish_link}/cancel")).await;
    assert_eq!(again["status"], "cancelled");
    assert_eq!(
        env.mails_to(&anna).await.len(),
        6,
        "cancelling twice mails once"
    );
    // Ben holds an open offer, so the withdrawn Monday slot stays free for now.
    assert_eq!(
        env.admin(Method::GET, "/admin/slots/bilk-mon", None)
            .await
            .1["status"],
        "free"
    );

    // Ben accepts his offer: booked, confirmed by mail with a calendar file.
    let ben_offer = page_link(&env.mails_to(&ben).await[2], "/o/");
    let (_, accepted) = env.click(&format!("{ben_offer}/accept")).await;
    assert_eq!(accepted["status"], "accepted");
    let (_, booked) = env.admin(Method::GET, "/admin/slots/bilk-wed", None).await;
    assert_eq!(booked["status"], "booked");
    assert_eq!(booked["wish"], ben_id.as_str(), "booked for Ben's wish");
    let ben_mails = env.mails_to(&ben).await;
    assert_eq!(ben_mails.len(), 4);
    assert_eq!(ben_mails[3].attachments, vec!["termin.ics".to_owned()]);
    // The dev mail view links the .ics and shows its text; the link serves it as a calendar.
    let index = env
        .system
        .mails()
        .await
        .unwrap()
        .iter()
        .position(|m| m.id == ben_mails[3].id)
        .unwrap();
    let view = env
        .http
        .get(env.url("/_dev/mail/view"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let link = format!("/_dev/mail/{index}/attachment/0");
    assert!(
        view.contains(&format!(
            "<a href=\"{link}\">termin.ics</a> (text/calendar, "
        )),
        "{view}"
    );
    assert!(view.contains("<pre>BEGIN:VCALENDAR"), "{view}");
    let ics = env.http.get(env.url(&link)).send().await.unwrap();
    assert_eq!(ics.status(), 200);
    assert_eq!(
        ics.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    let ics = ics.text().await.unwrap();
    assert!(
        ics.starts_with("BEGIN:VCALENDAR") && ics.contains("Bachstraße 145"),
        "{ics}"
    );
    let missing = env
        .http
        .get(env.url(&format!("/_dev/mail/{index}/attachment/1")))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let (_, stats) = env.admin(Method::GET, "/admin/stats", None).await;
    assert_eq!(stats["offers_accepted"], 1);
    assert_eq!(stats["offers_declined"], 1);
    // The same statistics as a page for a clerk's browser.
    let page = env
        .http
        .get(env.url("/admin/stats"))
        .bearer_auth(crate::helpers::ADMIN_KEY)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Annahmequote") && page.contains("50 %"),
        "{page}"
    );
}

#[tokio::test]
async fn a_bad_wish_gets_field_errors_and_stores_nothing() {
    let env = TestEnv::spawn().await;
    let email = env.email("bad");
    let (status, body) = env
        .post_json("/api/wishes", &json!({"email": email, "service": "id-card", "offices": ["bilk"], "windows": {"sun": [8]}}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["fields"]["windows"],
        "sun 8–9: none of the chosen offices is open then"
    );
    // The form names the window in the page's language.
    for (lang, said) in [
        (
            "de",
            "Montag 7–8 Uhr: Keines der gewählten Bürgerbüros hat dann geöffnet.",
        ),
        (
            "en",
            "Monday 7–8: none of the chosen citizen offices is open then.",
        ),
    ] {
        let page = env
            .http
            .post(env.url(&format!("/api/wishes?lang={lang}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "email={}&service=id-card&offices=bilk&w=mon-7&w=mon-8&language={lang}",
                email.replace('@', "%40")
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 422);
        let page = page
            .text()
            .await
            .unwrap()
            .replace('\u{2060}', "")
            .replace('\u{a0}', " ");
        assert_eq!(page.matches(said).count(), 2, "summary and field: {page}");
    }
    let r = env
        .http
        .post(env.url("/api/wishes"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = env
        .http
        .post(env.url("/api/wishes"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert!(env.mails_to(&email).await.is_empty());
}

#[tokio::test]
async fn unknown_links_and_missing_admin_credentials_are_refused() {
    let env = TestEnv::spawn().await;
    for path in [
        "/w/nonsense",
        "/o/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/w/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert_eq!(env.get_json(path).await.0, 404, "{path}");
        assert_eq!(env.click(&format!("{path}/cancel")).await.0, 404, "{path}");
    }
    let r = env.http.get(env.url("/admin/stats")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = env
        .http
        .get(env.url("/admin/stats"))
        .bearer_auth("wrong-key-wrong-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn an_unanswered_offer_expires_at_the_rescan_and_the_slot_moves_on() {
    let env = TestEnv::spawn().await;
    let first = env.email("first");
    let second = env.email("second");
    env.confirmed_wish(&first, seed_windows()).await;
    env.confirmed_wish(&second, seed_windows()).await;
    let thu = next_local(Weekday::Thu, 8, 0, 5);
    assert_eq!(
        env.put_slots(&json!([slot("bilk-thu", &thu, "free")]))
            .await,
        ["created"]
    );
    env.settle().await;
    assert_eq!(env.mails_to(&first).await.len(), 3);

    // Two days later nobody answered (24 waking hours, quiet hours not counted): the rescan
    // expires the offer and the slot goes to the next wish.
    env.system.deps.clock.advance(48 * 60);
    let report = env.system.rescan().await.unwrap();
    assert_eq!(report["offers_expired"], 1);
    env.settle().await;
    let first_mails = env.mails_to(&first).await;
    assert_eq!(first_mails.len(), 4);
    assert!(first_mails[3].subject.contains("abgelaufen"));
    assert_eq!(
        env.mails_to(&second).await.len(),
        3,
        "the slot went to the second wish"
    );
}
