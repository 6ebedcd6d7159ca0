//! Wishes for people without email: entered in the console, matched in the same lines as the
//! citizens' wishes, their offers on the call list, the answers recorded through the citizen's
//! own use cases — and never a mail.

use crate::helpers::{Observer, TestEnv, next_local, page_link, parse_time};
use crate::staff::{Console, hidden};
use serde_json::json;

const NAME: &str = "Frau Phon";
const NUMBER: &str = "0211 555-0101";
const DIALLED: &str = "02115550101";

/// Enters a phone wish for Monday 8–9 at Bilk (ID card); asserts it worked.
async fn enter(console: &mut Console<'_>, csrf: &str) {
    let answer = console
        .post(
            "/staff/phone?lang=en",
            &[
                ("csrf", csrf),
                ("service", "id-card"),
                ("offices", "bilk"),
                ("w", "mon-8"),
                ("persons", "1"),
                ("name", NAME),
                ("phone", NUMBER),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.html);
    assert!(
        answer
            .html
            .contains("The wish for Frau Phon is active and in line."),
        "{}",
        answer.html
    );
}

/// The `<section class="call">` of the call list about `name`, if any.
fn call_of<'h>(html: &'h str, name: &str) -> Option<&'h str> {
    html.split("<section class=\"call\"")
        .skip(1)
        .find(|s| s.contains(name))
}

/// Whether the outbox holds the mail with the idempotency key `key` (whatever became of it).
async fn mail_written(env: &TestEnv, key: &str) -> bool {
    use aws_sdk_dynamodb::types::AttributeValue;
    let item = env
        .system
        .clients
        .dynamodb
        .get_item()
        .table_name(&env.system.infra.wishes_table)
        .key("pk", AttributeValue::S(shared::store::keys::mail_pk(key)))
        .key("sk", AttributeValue::S(shared::store::keys::MAIL_SK.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    item.item.is_some()
}

fn types(events: &[(String, serde_json::Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

#[tokio::test]
async fn a_phone_wish_stands_in_line_with_email_wishes_and_its_answers_are_recorded_from_the_call_list()
 {
    let env = TestEnv::spawn().await;
    let observer = Observer::attach(&env).await;
    let mut console = Console::new(&env);
    console.sign_in_as("clerk").await;
    let page = console.get("/staff/phone").await;
    assert_eq!(page.status, 200, "{}", page.html);
    let csrf = hidden(&page.html, "csrf");
    // First in line: the phone wish; then a citizen's.
    enter(&mut console, &csrf).await;
    let anna = env.email("anna");
    env.confirmed_wish(&anna, json!({"mon": [8]})).await;
    env.settle().await;
    let confirmed = observer.drain().await;
    assert_eq!(
        types(&confirmed),
        ["WishConfirmed", "WishConfirmed"],
        "the same event as a citizen’s confirmation: {confirmed:?}"
    );
    let empty = console.get("/staff/calls?lang=en").await;
    assert!(empty.html.contains("There is nobody to call right now."));

    let start = next_local(chrono::Weekday::Mon, 8, 30, 3);
    env.put_slots(
        &json!([{"id": "ph-1", "office": "bilk", "service": "id-card",
        "start": start, "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    let sent = observer.drain().await;
    let offer_sent = sent
        .iter()
        .find(|(t, _)| t == "OfferSent")
        .unwrap_or_else(|| panic!("{sent:?}"));
    let deadline = parse_time(offer_sent.1["deadline"].as_str().unwrap());
    let en = shared::render::texts(shared::domain::Language::En);
    // FIFO: the phone wish, first in line, gets the slot; it is on the call list with the slot's
    // time and the offer's deadline, whom to call and where.
    let list = console.get("/staff/calls?lang=en").await;
    assert_eq!(list.status, 200, "{}", list.html);
    let call = call_of(&list.html, NAME).unwrap_or_else(|| panic!("{}", list.html));
    assert!(
        call.contains(&format!("<a href=\"tel:{DIALLED}\">{DIALLED}</a>")),
        "{call}"
    );
    assert!(call.contains("Bürgerbüro Bilk"), "{call}");
    assert!(call.contains(&en.when_long(parse_time(&start))), "{call}");
    assert!(
        call.contains(&format!(
            "<dt>Answer due by</dt><dd>{}</dd>",
            en.when_long(deadline)
        )),
        "{call}"
    );
    let offer = hidden(call, "offer");
    assert_eq!(
        env.mails_to(&anna).await.len(),
        2,
        "opt-in and confirmation only"
    );

    // Not reached: nothing changes but the note; the offer stays open until its deadline.
    let answered = console
        .post(
            "/staff/calls/answer?lang=en",
            &[
                ("csrf", &csrf),
                ("offer", &offer),
                ("answer", "not_reached"),
            ],
        )
        .await;
    assert_eq!(answered.status, 200, "{}", answered.html);
    assert!(answered.html.contains("Frau Phon was not reached."));
    let call = call_of(&answered.html, NAME).unwrap();
    assert!(call.contains("<dt>Not reached</dt>"), "{call}");
    assert!(call.contains("clerk@buergerservice.example.org"), "{call}");
    let (_, slot) = env
        .admin(reqwest::Method::GET, "/admin/slots/ph-1", None)
        .await;
    assert_eq!(slot["status"], "offered");
    // Delivery runs first: an event the call had owed would be on the bus by now.
    env.settle().await;
    assert!(observer.drain().await.is_empty(), "no event for a call");

    // Declined: through the citizen's decline — the slot goes on to Anna at once.
    let answered = console
        .post(
            "/staff/calls/answer?lang=en",
            &[("csrf", &csrf), ("offer", &offer), ("answer", "declined")],
        )
        .await;
    assert_eq!(answered.status, 200, "{}", answered.html);
    assert!(answered.html.contains("Declined: Frau Phon"));
    assert!(call_of(&answered.html, NAME).is_none(), "off the list");
    env.settle().await;
    let events = observer.drain().await;
    for expected in ["OfferDeclined", "SlotReleased", "OfferSent"] {
        assert!(types(&events).contains(&expected), "{expected}: {events:?}");
    }
    let anna_offer = page_link(env.mails_to(&anna).await.last().unwrap(), "/o/");
    let (status, _) = env.click(&format!("{anna_offer}/decline")).await;
    assert_eq!(status, 200);
    env.settle().await;
    // A repeated answer changes nothing.
    let again = console
        .post(
            "/staff/calls/answer?lang=en",
            &[("csrf", &csrf), ("offer", &offer), ("answer", "accepted")],
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.html);
    observer.drain().await;

    // The decline kept the phone wish's place: the next slot is its again, before Anna's.
    env.put_slots(
        &json!([{"id": "ph-2", "office": "bilk", "service": "id-card",
        "start": next_local(chrono::Weekday::Mon, 8, 45, 3), "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    let list = console.get("/staff/calls?lang=en").await;
    let call = call_of(&list.html, NAME).unwrap_or_else(|| panic!("{}", list.html));
    let second = hidden(call, "offer");
    assert_ne!(second, offer);
    observer.drain().await;
    let answered = console
        .post(
            "/staff/calls/answer?lang=en",
            &[("csrf", &csrf), ("offer", &second), ("answer", "accepted")],
        )
        .await;
    assert_eq!(answered.status, 200, "{}", answered.html);
    assert!(
        answered
            .html
            .contains("The appointment is booked for Frau Phon.")
    );
    env.settle().await;
    assert_eq!(types(&observer.drain().await), ["OfferAccepted"]);
    let (_, slot) = env
        .admin(reqwest::Method::GET, "/admin/slots/ph-2", None)
        .await;
    assert_eq!(slot["status"], "booked", "{slot}");

    // Not one mail about the phone wish (its offers, its decline, its booking), where Anna's
    // offer has one.
    for (id, kind) in [
        (&offer, "sent"),
        (&offer, "declined"),
        (&second, "sent"),
        (&second, "accepted"),
    ] {
        let key = format!("offer-{id}-{kind}");
        assert!(!mail_written(&env, &key).await, "{key}");
    }
    let (_, anna_offer) = env.get_json(&anna_offer).await;
    let anna_offer = anna_offer["id"].as_str().unwrap().to_owned();
    assert!(mail_written(&env, &format!("offer-{anna_offer}-sent")).await);
    assert_eq!(
        env.mails_to(&anna).await.len(),
        4,
        "opt-in, confirmation, offer, decline"
    );

    // Support finds it by its number, as entered or not.
    let page = console.get("/staff/support").await;
    let found = console
        .post(
            "/staff/support?lang=en",
            &[
                ("csrf", &hidden(&page.html, "csrf")),
                ("phone", "+0211/5550101"),
            ],
        )
        .await;
    assert!(
        found.html.contains("no wish"),
        "another number: {}",
        found.html
    );
    let found = console
        .post(
            "/staff/support?lang=en",
            &[("csrf", &csrf), ("phone", "0211 5550101")],
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.html);
    assert!(
        found.html.contains(NAME) && found.html.contains(DIALLED),
        "{}",
        found.html
    );

    let mut supervisor = Console::new(&env);
    supervisor.sign_in_as("supervisor").await;
    let log = supervisor.get("/staff/audit?lang=en").await;
    for what in [
        "Wish entered by phone or at the counter",
        "Call recorded: not reached",
        "Answer recorded: declined",
        "Answer recorded: accepted",
        "Wish viewed (look-up or call list)",
    ] {
        assert!(log.html.contains(what), "{what}: {}", log.html);
    }
    assert!(!log.html.contains(NAME) && !log.html.contains(DIALLED));
}

#[tokio::test]
async fn an_unanswered_phone_offer_expires_at_its_deadline_and_the_clerk_cancels_the_wish() {
    let env = TestEnv::spawn().await;
    let observer = Observer::attach(&env).await;
    let mut console = Console::new(&env);
    console.sign_in_as("clerk").await;
    let csrf = hidden(&console.get("/staff/phone").await.html, "csrf");
    enter(&mut console, &csrf).await;
    env.put_slots(
        &json!([{"id": "ph-9", "office": "bilk", "service": "id-card",
        "start": next_local(chrono::Weekday::Mon, 8, 30, 5), "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    let list = console.get("/staff/calls").await;
    assert!(call_of(&list.html, NAME).is_some(), "{}", list.html);
    observer.drain().await;

    // Nobody answers: the deadline passes and the rescan lets the offer expire as any offer.
    env.system.deps.clock.advance(3 * 24 * 60);
    env.system.rescan().await.unwrap();
    env.settle().await;
    let events = observer.drain().await;
    assert!(types(&events).contains(&"OfferExpired"), "{events:?}");
    assert!(!types(&events).contains(&"WishPaused"));
    let list = console.get("/staff/calls").await;
    assert!(call_of(&list.html, NAME).is_none(), "{}", list.html);

    // The person calls to cancel: found by the number, cancelled as a citizen would.
    let found = console
        .post(
            "/staff/support?lang=en",
            &[("csrf", &csrf), ("phone", NUMBER)],
        )
        .await;
    assert!(
        found.html.contains("you are in the queue"),
        "{}",
        found.html
    );
    assert!(
        found.html.contains("The person gets no email"),
        "{}",
        found.html
    );
    let wish = hidden(&found.html, "wish");
    let cancelled = console
        .post(
            "/staff/support/cancel?lang=en",
            &[("csrf", &csrf), ("wish", &wish)],
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.html);
    assert!(
        cancelled
            .html
            .contains("The wish is deleted. The person gets no email")
    );
    env.settle().await;
    assert_eq!(types(&observer.drain().await), ["WishCancelled"]);
    assert!(!mail_written(&env, &format!("wish-{wish}-cancelled")).await);
}

#[tokio::test]
async fn the_phone_routes_refuse_strangers_forged_posts_and_bad_input_and_store_nothing() {
    let env = TestEnv::spawn().await;
    let mut stranger = Console::new(&env);
    for path in ["/staff/phone", "/staff/calls"] {
        let answer = stranger.get(path).await;
        assert_eq!(answer.status, 401, "{path}");
        assert!(
            answer.html.contains("Anmeldung für Mitarbeitende"),
            "the sign-in page"
        );
    }
    for path in ["/staff/phone", "/staff/calls/answer"] {
        assert_eq!(stranger.post(path, &[("csrf", "x")]).await.status, 401);
    }

    let mut console = Console::new(&env);
    console.sign_in_as("clerk").await;
    let csrf = hidden(&console.get("/staff/phone").await.html, "csrf");
    let wish = [
        ("service", "id-card"),
        ("offices", "bilk"),
        ("w", "mon-8"),
        ("name", NAME),
        ("phone", NUMBER),
    ];
    for forged in [vec![], vec![("csrf", "0".repeat(64))]] {
        let mut fields: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fields.extend(wish);
        assert_eq!(console.post("/staff/phone", &fields).await.status, 403);
        fields.retain(|(k, _)| *k == "csrf");
        fields.extend([("offer", "x"), ("answer", "accepted")]);
        assert_eq!(
            console.post("/staff/calls/answer", &fields).await.status,
            403
        );
    }

    // Every bad field named, in the page's language; nothing stored.
    let bad = console
        .post(
            "/staff/phone",
            &[
                ("csrf", &csrf),
                ("service", "id-card"),
                ("w", "mon-8"),
                ("persons", "6"),
                ("name", " "),
                ("phone", "0211 12x"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    for message in [
        "Bitte geben Sie einen Namen oder ein Kennzeichen ein.",
        "Das ist keine Telefonnummer",
        "Bitte wählen Sie 1 bis 5 Personen.",
        "href=\"#field-offices\"",
    ] {
        assert!(bad.html.contains(message), "{message}: {}", bad.html);
    }
    assert!(bad.html.contains("value=\"0211 12x\""), "the input is kept");
    let found = console
        .post(
            "/staff/support?lang=en",
            &[("csrf", &csrf), ("phone", "0211 1")],
        )
        .await;
    assert_eq!(found.status, 422, "{}", found.html);

    // Answers: none chosen, an unknown offer, and a citizen's offer (answered by its links).
    let none = console
        .post("/staff/calls/answer", &[("csrf", &csrf), ("offer", "x")])
        .await;
    assert_eq!(none.status, 422);
    let unknown = console
        .post(
            "/staff/calls/answer",
            &[
                ("csrf", &csrf),
                ("offer", "no-such"),
                ("answer", "accepted"),
            ],
        )
        .await;
    assert_eq!(unknown.status, 404);
    let anna = env.email("anna");
    env.confirmed_wish(&anna, json!({"mon": [8]})).await;
    env.put_slots(
        &json!([{"id": "ph-e", "office": "bilk", "service": "id-card",
        "start": next_local(chrono::Weekday::Mon, 8, 30, 3), "minutes": 15, "status": "free"}]),
    )
    .await;
    let offer_link = page_link(env.mails_to(&anna).await.last().unwrap(), "/o/");
    let (_, offer) = env.get_json(&offer_link).await;
    let citizens = console
        .post(
            "/staff/calls/answer",
            &[
                ("csrf", &csrf),
                ("offer", offer["id"].as_str().unwrap()),
                ("answer", "accepted"),
            ],
        )
        .await;
    assert_eq!(citizens.status, 404, "{}", citizens.html);
    let (_, slot) = env
        .admin(reqwest::Method::GET, "/admin/slots/ph-e", None)
        .await;
    assert_eq!(slot["status"], "offered", "unchanged");
}
