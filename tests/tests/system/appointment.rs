//! The booked appointment: its page behind the booking confirmation's link, the calendar file,
//! and giving it back — the slot goes to the next wish at once, the booking system hears of it.

use crate::helpers::{Observer, TestEnv, next_local, page_link};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_booked_appointment_given_back_goes_to_the_next_wish_and_the_calendar_cancels_it() {
    let env = TestEnv::spawn().await;
    let observer = Observer::attach(&env).await;
    let (anna, ben) = (env.email("anna"), env.email("ben"));
    env.confirmed_wish(&anna, json!({"wed": [8]})).await;
    env.confirmed_wish(&ben, json!({"wed": [8]})).await;
    let start = next_local(chrono::Weekday::Wed, 8, 30, 3);
    env.put_slots(
        &json!([{"id": "give-back-wed", "office": "bilk", "service": "id-card",
        "start": start, "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    let offer = page_link(&env.mails_to(&anna).await[2], "/o/");
    let (status, accepted) = env.click(&format!("{offer}/accept")).await;
    assert_eq!(
        (status, accepted["status"].as_str()),
        (200, Some("accepted"))
    );
    env.settle().await;

    // The booking confirmation links the appointment's page; its calendar file is the same.
    let mails = env.mails_to(&anna).await;
    let booked_mail = &mails[3];
    assert!(
        booked_mail.subject.starts_with("Termin bestätigt"),
        "{}",
        booked_mail.subject
    );
    let page = page_link(booked_mail, "/a/");
    let (status, appointment) = env.get_json(&page).await;
    assert_eq!(status, 200, "{appointment}");
    assert_eq!(appointment["status"], "booked");
    assert_eq!(appointment["slot"]["id"], "give-back-wed");
    assert_eq!(appointment["slots"].as_array().unwrap().len(), 1);
    assert_eq!(appointment["earlier"], false);
    let html = env.get_html(&page).await;
    assert!(
        html.contains("Termin zurückgeben"),
        "the page offers to give it back"
    );
    let calendar = |url: String| {
        let http = env.http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
            (kind, r.text().await.unwrap())
        }
    };
    let (kind, ics) = calendar(format!("{page}/calendar.ics")).await;
    assert_eq!(kind, "text/calendar; charset=utf-8; method=PUBLISH");
    assert!(
        ics.contains("METHOD:PUBLISH") && ics.contains("STATUS:CONFIRMED"),
        "{ics}"
    );
    let uid = ics
        .lines()
        .find(|l| l.starts_with("UID:"))
        .unwrap()
        .to_owned();
    let mailed = env
        .system
        .mails()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id == booked_mail.id)
        .unwrap();
    let mailed_ics = String::from_utf8(mailed.attachment_parts[0].bytes.clone()).unwrap();
    assert!(
        mailed_ics.contains(&uid),
        "the mailed file is the same event"
    );

    // A link opens the question only; the button gives it back.
    let (_, asked) = env.get_json(&format!("{page}/return")).await;
    assert_eq!(asked["status"], "booked", "a GET changes nothing");
    let (status, returned) = env.click(&format!("{page}/return")).await;
    assert_eq!(
        (status, returned["status"].as_str()),
        (200, Some("returned"))
    );
    let (_, again) = env.click(&format!("{page}/return")).await;
    assert_eq!(again["status"], "returned", "a repeat answers the same");
    env.settle().await;

    // Confirmed by mail, once, with the file that takes it out of the calendar.
    let mails = env.mails_to(&anna).await;
    assert_eq!(
        mails.len(),
        5,
        "{:?}",
        mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert!(
        mails[4].subject.starts_with("Termin zurückgegeben"),
        "{}",
        mails[4].subject
    );
    let cancel_mail = env
        .system
        .mails()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id == mails[4].id)
        .unwrap();
    let part = &cancel_mail.attachment_parts[0];
    let cancel = String::from_utf8(part.bytes.clone()).unwrap();
    assert!(
        cancel.contains("METHOD:CANCEL") && cancel.contains("STATUS:CANCELLED"),
        "{cancel}"
    );
    assert!(
        cancel.contains(&uid) && cancel.contains("SEQUENCE:1"),
        "same UID, later sequence"
    );
    let (kind, ics) = calendar(format!("{page}/calendar.ics")).await;
    assert_eq!(kind, "text/calendar; charset=utf-8; method=CANCEL");
    assert!(ics.contains(&uid));

    // The slot went to the queue at once: Ben, next in line, has it on offer.
    let (_, slot) = env
        .admin(Method::GET, "/admin/slots/give-back-wed", None)
        .await;
    assert_eq!(slot["status"], "offered");
    let ben_mails = env.mails_to(&ben).await;
    assert!(
        ben_mails
            .iter()
            .any(|m| m.subject.starts_with("Terminangebot"))
    );

    // The booking system heard of it: AppointmentReturned (checked against its schema), then
    // the slot's release and the new offer.
    let seen = observer.drain().await;
    let names: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    let returned_at = names
        .iter()
        .position(|n| *n == "AppointmentReturned")
        .unwrap();
    assert_eq!(
        names
            .iter()
            .filter(|n| **n == "AppointmentReturned")
            .count(),
        1
    );
    let detail = &seen[returned_at].1;
    assert_eq!(detail["slot"]["id"], "give-back-wed");
    assert_eq!(detail["slot"]["status"], "free");
    assert_eq!(detail["offer"], appointment["id"]);
    assert!(names[returned_at..].contains(&"OfferSent"), "{names:?}");
}

#[tokio::test]
async fn an_appointment_that_has_begun_cannot_be_given_back_and_an_offer_link_is_no_appointment() {
    let env = TestEnv::spawn().await;
    let anna = env.email("anna");
    env.confirmed_wish(&anna, json!({"thu": [9]})).await;
    let start = next_local(chrono::Weekday::Thu, 9, 0, 3);
    env.put_slots(
        &json!([{"id": "past-thu", "office": "bilk", "service": "id-card",
        "start": start, "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    let offer = page_link(&env.mails_to(&anna).await[2], "/o/");
    env.click(&format!("{offer}/accept")).await;
    env.settle().await;
    let page = page_link(&env.mails_to(&anna).await[3], "/a/");

    // The offer's own link opens no appointment page; nor does a made-up one.
    let offer_token = offer.rsplit('/').next().unwrap();
    let base = page.rsplit_once("/a/").unwrap().0;
    let (status, _) = env.get_json(&format!("{base}/a/{offer_token}")).await;
    assert_eq!(status, 404);
    let (status, _) = env.click(&format!("{base}/a/{offer_token}/return")).await;
    assert_eq!(status, 404);

    // Ten days on, the appointment is past: shown as such, not given back, nothing mailed.
    env.system.deps.clock.advance(10 * 24 * 60);
    let (_, past) = env.get_json(&page).await;
    assert_eq!(past["status"], "past");
    let (status, after) = env.click(&format!("{page}/return")).await;
    assert_eq!((status, after["status"].as_str()), (200, Some("past")));
    env.settle().await;
    assert_eq!(env.mails_to(&anna).await.len(), 4);
    let (_, slot) = env.admin(Method::GET, "/admin/slots/past-thu", None).await;
    assert_eq!(slot["status"], "booked");
}

#[tokio::test]
async fn a_booked_appointment_is_reminded_once_two_days_before_and_a_short_notice_one_not() {
    let env = TestEnv::spawn().await;
    let (anna, bob) = (env.email("anna"), env.email("bob"));
    env.confirmed_wish(&anna, json!({"mon": [9]})).await;
    env.confirmed_wish(&bob, json!({"mon": [10]})).await;
    let anna_start = next_local(chrono::Weekday::Mon, 9, 0, 6);
    let bob_start = crate::helpers::parse_time(&anna_start) + chrono::Duration::hours(1);
    let book = |id: &'static str, start: String, who: String| {
        let env = &env;
        async move {
            env.put_slots(&json!([{"id": id, "office": "bilk", "service": "id-card",
                "start": start, "minutes": 15, "status": "free"}]))
                .await;
            env.settle().await;
            let offer = env
                .mails_to(&who)
                .await
                .into_iter()
                .find(|m| m.subject.starts_with("Terminangebot"));
            let offer = page_link(&offer.expect("an offer"), "/o/");
            let (_, accepted) = env.click(&format!("{offer}/accept")).await;
            assert_eq!(accepted["status"], "accepted");
            env.settle().await;
        }
    };
    // Anna books six days or more ahead; Bob, on the same day, only the day before.
    book("remind-anna", anna_start, anna.clone()).await;
    let day_before = bob_start - chrono::Duration::days(1) - chrono::Utc::now();
    env.system.deps.clock.advance(day_before.num_minutes());
    book("remind-bob", bob_start.to_rfc3339(), bob.clone()).await;

    // Anna's reminder is due (two days before): once, with her appointment's page and file.
    assert_eq!(
        env.system.rescan().await.unwrap()["appointments_reminded"],
        1
    );
    assert_eq!(
        env.system.rescan().await.unwrap()["appointments_reminded"],
        0
    );
    env.settle().await;
    let reminders = |mails: Vec<local_runner::devmail::DevMail>| {
        mails
            .into_iter()
            .filter(|m| m.subject.starts_with("Erinnerung an Ihren Termin"))
            .collect::<Vec<_>>()
    };
    let anna_reminders = reminders(env.mails_to(&anna).await);
    assert_eq!(anna_reminders.len(), 1);
    assert_eq!(anna_reminders[0].attachments, ["termin.ics"]);
    let (_, page) = env.get_json(&page_link(&anna_reminders[0], "/a/")).await;
    assert_eq!(page["status"], "booked");
    assert_eq!(page["slot"]["id"], "remind-anna");
    // Bob booked less than two days ahead: no reminder.
    assert!(reminders(env.mails_to(&bob).await).is_empty());
}
