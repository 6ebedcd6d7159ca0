//! "Keep it, but find me an earlier one": a booked appointment's wish goes back into its lines
//! for earlier slots only; accepting one swaps the appointments in one transaction and the old
//! slot goes to the next wish.

use crate::helpers::{Observer, TestEnv, next_local, page_link};
use reqwest::Method;
use serde_json::json;

/// A wish for `windows` confirmed for `email`, offered the free slot `id` at `start` and
/// booked: the appointment page's link.
async fn booked(
    env: &TestEnv,
    email: &str,
    windows: serde_json::Value,
    id: &str,
    start: &str,
) -> String {
    env.confirmed_wish(email, windows).await;
    env.put_slots(&json!([{"id": id, "office": "bilk", "service": "id-card",
        "start": start, "minutes": 15, "status": "free"}]))
        .await;
    env.settle().await;
    let offer = page_link(env.mails_to(email).await.last().unwrap(), "/o/");
    assert_eq!(
        env.click(&format!("{offer}/accept")).await.1["status"],
        "accepted"
    );
    env.settle().await;
    page_link(env.mails_to(email).await.last().unwrap(), "/a/")
}

#[tokio::test]
async fn an_earlier_slot_swaps_the_appointment_and_the_old_slot_goes_to_the_next_wish() {
    let env = TestEnv::spawn().await;
    let observer = Observer::attach(&env).await;
    let (anna, ben) = (env.email("early-anna"), env.email("early-ben"));
    // Anna books a Tuesday two weeks ahead.
    let far = next_local(chrono::Weekday::Tue, 8, 0, 14);
    let page = booked(
        &env,
        &anna,
        json!({"mon": [8], "tue": [8]}),
        "far-tue",
        &far,
    )
    .await;
    let html = env.get_html(&page).await;
    assert!(
        html.contains("früheren Termin suchen"),
        "the page offers it"
    );

    // Ben waits too, after Anna, for the same hours.
    env.confirmed_wish(&ben, json!({"mon": [8], "tue": [8]}))
        .await;

    // A link only asks; the button starts the search and a mail confirms it.
    let (_, asked) = env.get_json(&format!("{page}/earlier")).await;
    assert_eq!(asked["earlier"], false, "a GET changes nothing");
    let (status, looking) = env.click(&format!("{page}/earlier")).await;
    assert_eq!((status, looking["status"].as_str()), (200, Some("booked")));
    assert_eq!(looking["earlier"], true, "{looking}");
    let (_, again) = env.click(&format!("{page}/earlier")).await;
    assert_eq!(again["earlier"], true, "a repeat answers the same");
    env.settle().await;
    let mails = env.mails_to(&anna).await;
    let started: Vec<_> = mails
        .iter()
        .filter(|m| m.subject.starts_with("Wir suchen einen früheren Termin"))
        .collect();
    assert_eq!(started.len(), 1, "one mail for the repeated click");
    let wish_page = page_link(started[0], "/w/");
    let (_, wish) = env.get_json(&wish_page).await;
    assert_eq!(wish["status"], "waiting", "back in line: {wish}");

    // A slot later than the appointment is never offered to Anna: Ben gets it.
    let later = next_local(chrono::Weekday::Mon, 8, 0, 21);
    env.put_slots(
        &json!([{"id": "later-mon", "office": "bilk", "service": "id-card",
        "start": later, "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    let anna_count = env.mails_to(&anna).await.len();
    let ben_offer = env.mails_to(&ben).await;
    assert!(
        ben_offer
            .last()
            .unwrap()
            .subject
            .starts_with("Terminangebot"),
        "Ben, not Anna"
    );
    let ben_link = page_link(ben_offer.last().unwrap(), "/o/");
    assert_eq!(
        env.click(&format!("{ben_link}/decline")).await.1["status"],
        "declined"
    );
    env.settle().await;
    assert_eq!(
        env.mails_to(&anna).await.len(),
        anna_count,
        "never offered to Anna"
    );

    // An earlier slot: Anna is first in line for it.
    let near = next_local(chrono::Weekday::Mon, 8, 15, 3);
    env.put_slots(
        &json!([{"id": "near-mon", "office": "bilk", "service": "id-card",
        "start": near, "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    let (_, new_offer) = env.latest_offer(&anna).await;
    let (_, accepted) = env.click(&format!("{new_offer}/accept")).await;
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["slot"]["id"], "near-mon");
    env.settle().await;

    // One transaction: the new slot booked, the old appointment replaced and its slot free —
    // and at once offered to the next in line, Ben.
    let slot = |id: &'static str| {
        let env = &env;
        async move {
            env.admin(Method::GET, &format!("/admin/slots/{id}"), None)
                .await
                .1
        }
    };
    assert_eq!(slot("near-mon").await["status"], "booked");
    assert_eq!(
        slot("far-tue").await["status"],
        "offered",
        "the old slot went to Ben"
    );
    let (_, old) = env.get_json(&page).await;
    assert_eq!(old["status"], "replaced", "{old}");
    assert_eq!(old["earlier"], false);
    let ben_mails = env.mails_to(&ben).await;
    let ben_last = ben_mails.last().unwrap();
    assert!(
        ben_last.subject.starts_with("Terminangebot"),
        "{}",
        ben_last.subject
    );
    let (_, ben_offer) = env.get_json(&page_link(ben_last, "/o/")).await;
    assert_eq!(ben_offer["slot"]["id"], "far-tue");

    // Anna's mail: the new calendar file and the cancellation of the old one, same UID as the
    // old booking's.
    let mails = env.mails_to(&anna).await;
    let swap = mails.last().unwrap();
    assert!(
        swap.subject.starts_with("Früherer Termin gebucht"),
        "{}",
        swap.subject
    );
    let sent = env.system.mails().await.unwrap();
    let files: Vec<String> = sent
        .iter()
        .find(|m| m.id == swap.id)
        .unwrap()
        .attachment_parts
        .iter()
        .map(|p| String::from_utf8(p.bytes.clone()).unwrap())
        .collect();
    assert_eq!(files.len(), 2);
    assert!(files[0].contains("METHOD:PUBLISH"), "{}", files[0]);
    assert!(files[1].contains("METHOD:CANCEL"), "{}", files[1]);
    let (_, old_ics) = {
        let r = env
            .http
            .get(format!("{page}/calendar.ics"))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    };
    let uid = |ics: &str| {
        ics.lines()
            .find(|l| l.starts_with("UID:"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        uid(&files[1]),
        uid(&old_ics),
        "the cancellation is the old event"
    );
    assert_ne!(uid(&files[0]), uid(&files[1]));
    let new_page = page_link(swap, "/a/");
    let (_, new_appointment) = env.get_json(&new_page).await;
    assert_eq!(
        (
            new_appointment["status"].as_str(),
            new_appointment["earlier"].as_bool()
        ),
        (Some("booked"), Some(false))
    );

    // The booking system heard: the new one accepted, the old one given back, in that order.
    let events = observer.drain().await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let accepted_at = names.iter().rposition(|n| *n == "OfferAccepted").unwrap();
    let returned_at = names
        .iter()
        .rposition(|n| *n == "AppointmentReturned")
        .unwrap();
    assert!(accepted_at < returned_at, "{names:?}");
    let returned = &events[returned_at].1;
    assert_eq!(returned["slot"]["id"], "far-tue", "{returned}");
}

#[tokio::test]
async fn cancelling_the_search_keeps_the_appointment() {
    let env = TestEnv::spawn().await;
    let anna = env.email("stop-anna");
    let far = next_local(chrono::Weekday::Wed, 8, 0, 14);
    let page = booked(&env, &anna, json!({"wed": [8]}), "keep-wed", &far).await;
    env.click(&format!("{page}/earlier")).await;
    env.settle().await;
    let wish_page = page_link(env.mails_to(&anna).await.last().unwrap(), "/w/");
    let (status, stopped) = env.click(&format!("{wish_page}/cancel")).await;
    assert_eq!(
        (status, stopped["status"].as_str()),
        (200, Some("fulfilled")),
        "{stopped}"
    );
    env.settle().await;
    let last = env.mails_to(&anna).await;
    assert!(
        last.last()
            .unwrap()
            .subject
            .starts_with("Suche nach einem früheren Termin beendet")
    );
    let (_, appointment) = env.get_json(&page).await;
    assert_eq!(
        (
            appointment["status"].as_str(),
            appointment["earlier"].as_bool()
        ),
        (Some("booked"), Some(false))
    );
    let (_, slot) = env.admin(Method::GET, "/admin/slots/keep-wed", None).await;
    assert_eq!(slot["status"], "booked");
    // An earlier slot now is not offered to her.
    let near = next_local(chrono::Weekday::Wed, 8, 30, 3);
    let count = env.mails_to(&anna).await.len();
    env.put_slots(
        &json!([{"id": "near-wed", "office": "bilk", "service": "id-card",
        "start": near, "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    assert_eq!(env.mails_to(&anna).await.len(), count);
}

/// The booking system booked a slot directly; through the admin API its citizen waits for an
/// earlier one, and the swap gives the direct booking back to the booking system.
#[tokio::test]
async fn the_booking_system_hands_a_direct_booking_to_the_search_for_an_earlier_one() {
    let env = TestEnv::spawn().await;
    let observer = Observer::attach(&env).await;
    let clara = env.email("direct-clara");
    let far = next_local(chrono::Weekday::Thu, 9, 0, 14);
    let near = next_local(chrono::Weekday::Thu, 9, 30, 3);
    env.put_slots(&json!([
        {"id": "direct-far", "office": "bilk", "service": "id-card", "start": far, "minutes": 15, "status": "booked"},
    ]))
    .await;
    let ask = |path: &'static str, body: serde_json::Value| {
        let env = &env;
        async move { env.admin(Method::POST, path, Some(body)).await }
    };
    let wish =
        json!({"email": clara, "offices": ["bilk"], "windows": {"thu": [9]}, "language": "en"});

    // Bad requests change nothing: an unknown field, a window the office is closed in, an
    // unknown slot.
    let mut with_service = wish.clone();
    with_service["service"] = json!("passport");
    let (status, body) = ask("/admin/slots/direct-far/earlier", with_service).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["fields"]["service"].is_string(), "{body}");
    let (status, body) = ask(
        "/admin/slots/direct-far/earlier",
        json!({"email": clara, "offices": ["bilk"], "windows": {"sun": [9]}}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["fields"]["windows"].is_string(), "{body}");
    assert_eq!(ask("/admin/slots/nope/earlier", wish.clone()).await.0, 404);

    let (status, started) = ask("/admin/slots/direct-far/earlier", wish.clone()).await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["status"], "waiting");
    // Twice for the same slot: it is ours now, the second is refused.
    let (status, again) = ask("/admin/slots/direct-far/earlier", wish.clone()).await;
    assert_eq!(status, 409, "{again}");
    env.settle().await;
    let mails = env.mails_to(&clara).await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0]
            .subject
            .starts_with("We are looking for an earlier appointment"),
        "{}",
        mails[0].subject
    );

    // An earlier slot is offered to Clara; she accepts; the direct booking is given back.
    env.put_slots(&json!([
        {"id": "direct-near", "office": "bilk", "service": "id-card", "start": near, "minutes": 15, "status": "free"},
    ]))
    .await;
    env.settle().await;
    let offer = page_link(env.mails_to(&clara).await.last().unwrap(), "/o/");
    assert_eq!(
        env.click(&format!("{offer}/accept")).await.1["status"],
        "accepted"
    );
    env.settle().await;
    let (_, old) = env
        .admin(Method::GET, "/admin/slots/direct-far", None)
        .await;
    assert_eq!(old["status"], "free", "nobody else waits: {old}");
    let (_, new) = env
        .admin(Method::GET, "/admin/slots/direct-near", None)
        .await;
    assert_eq!(new["status"], "booked");
    let events = observer.drain().await;
    assert!(
        events
            .iter()
            .any(|(n, d)| n == "AppointmentReturned" && d["slot"]["id"] == "direct-far"),
        "{events:?}"
    );
    // A free slot is not a direct booking.
    let (status, _) = ask("/admin/slots/direct-far/earlier", wish).await;
    assert_eq!(status, 409);
}

/// The city ranks wishes that hold an appointment behind those without one: a slot both could
/// take goes to the wish without an appointment, even one confirmed later.
#[tokio::test]
async fn ranked_behind_a_wish_with_an_appointment_waits_for_those_without_one() {
    let env = TestEnv::spawn_with(|c| c.earlier_behind = true).await;
    let (anna, ben) = (env.email("behind-anna"), env.email("behind-ben"));
    let far = next_local(chrono::Weekday::Tue, 8, 0, 14);
    let page = booked(
        &env,
        &anna,
        json!({"mon": [8], "tue": [8]}),
        "behind-far",
        &far,
    )
    .await;
    assert_eq!(
        env.click(&format!("{page}/earlier")).await.1["earlier"],
        true
    );
    // Ben, confirmed after Anna, has no appointment.
    env.confirmed_wish(&ben, json!({"mon": [8], "tue": [8]}))
        .await;
    env.settle().await;

    let near = next_local(chrono::Weekday::Mon, 8, 0, 3);
    env.put_slots(
        &json!([{"id": "behind-near", "office": "bilk", "service": "id-card",
        "start": near, "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    let (_, slot) = env
        .admin(Method::GET, "/admin/slots/behind-near", None)
        .await;
    let ben_mails = env.mails_to(&ben).await;
    let ben_offer = ben_mails.last().unwrap();
    assert!(
        ben_offer.subject.starts_with("Terminangebot"),
        "{}",
        ben_offer.subject
    );
    let (_, offered) = env.get_json(&page_link(ben_offer, "/o/")).await;
    assert_eq!(
        (slot["status"].as_str(), offered["slot"]["id"].as_str()),
        (Some("offered"), Some("behind-near"))
    );
    // Ben takes it; the next earlier slot is Anna's, and the swap works as ever.
    env.click(&format!("{}/accept", page_link(ben_offer, "/o/")))
        .await;
    let second = next_local(chrono::Weekday::Tue, 8, 15, 3);
    env.put_slots(
        &json!([{"id": "behind-second", "office": "bilk", "service": "id-card",
        "start": second, "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    let anna_offer = page_link(env.mails_to(&anna).await.last().unwrap(), "/o/");
    let (_, accepted) = env.click(&format!("{anna_offer}/accept")).await;
    assert_eq!(accepted["slot"]["id"], "behind-second", "{accepted}");
    env.settle().await;
    let (_, old) = env
        .admin(Method::GET, "/admin/slots/behind-far", None)
        .await;
    assert_eq!(old["status"], "free", "the old slot went back: {old}");
    assert_eq!(env.get_json(&page).await.1["status"], "replaced");
}
