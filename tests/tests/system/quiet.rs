//! Quiet hours: an offer made at night runs from the morning, the cap before the start still
//! holds, and a slot whose waking time to answer is too short is not offered at all.

use crate::helpers::{TestEnv, page_link, parse_time};
use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Europe::Berlin;
use serde_json::json;

/// `hour:minute` Berlin time on `day`, in UTC.
fn berlin(day: NaiveDate, hour: u32, minute: u32) -> chrono::DateTime<Utc> {
    Berlin
        .from_local_datetime(&day.and_hms_opt(hour, minute, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn is_workday(day: NaiveDate) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

#[tokio::test]
async fn an_offer_made_at_23_25_runs_from_7_and_a_morning_slot_keeps_its_cap() {
    let env = TestEnv::spawn().await;
    let hours =
        json!({"mon": [8, 10], "tue": [8, 10], "wed": [8, 10], "thu": [8, 10], "fri": [8, 10]});
    let far = env.email("night-far");
    let near = env.email("night-near");
    env.confirmed_wish(&far, hours.clone()).await;
    env.confirmed_wish(&near, hours).await;

    // The clock moves to the next evening at 23:25 before a workday (the reporter's offer).
    let now = env.system.deps.clock.now();
    let mut night = now.with_timezone(&Berlin).date_naive();
    while berlin(night, 23, 25) < now || !is_workday(night.succ_opt().unwrap()) {
        night = night.succ_opt().unwrap();
    }
    let minutes = (berlin(night, 23, 25) - now).num_minutes() + 1;
    env.system.deps.clock.advance(minutes);

    // A slot days ahead: 24 waking hours from 07:00, so 16:00 the day after tomorrow.
    let mut far_day = night + Duration::days(5);
    while !is_workday(far_day) {
        far_day = far_day.succ_opt().unwrap();
    }
    let morning = night.succ_opt().unwrap();
    let slots = json!([
        {"id": "q-far", "office": "bilk", "service": "id-card", "start": berlin(far_day, 10, 0).to_rfc3339(), "minutes": 15, "status": "free"},
    ]);
    assert_eq!(env.put_slots(&slots).await, ["created"]);
    env.settle().await;
    let mails = env.mails_to(&far).await;
    let offer_mail = mails.last().unwrap();
    assert!(
        offer_mail.subject.starts_with("Terminangebot"),
        "{}",
        offer_mail.subject
    );
    assert!(
        offer_mail.text.contains("ruht nachts (22:00–07:00 Uhr)"),
        "{}",
        offer_mail.text
    );
    assert!(
        offer_mail.text.contains("Bitte antworten Sie bis"),
        "{}",
        offer_mail.text
    );
    let (status, offer) = env.get_json(&page_link(offer_mail, "/o/")).await;
    assert_eq!(status, 200);
    let expected = berlin(night + Duration::days(2), 16, 0);
    assert_eq!(
        parse_time(offer["deadline"].as_str().unwrap()),
        expected,
        "{offer}"
    );

    // Next morning at 10:00: the cap (two hours before) wins, 07:00–08:00 is waking time enough.
    // At 08:30 only half an hour of waking time would be left: not offered, left to the office.
    let slots = json!([
        {"id": "q-ten", "office": "bilk", "service": "id-card", "start": berlin(morning, 10, 0).to_rfc3339(), "minutes": 15, "status": "free"},
        {"id": "q-early", "office": "bilk", "service": "id-card", "start": berlin(morning, 8, 30).to_rfc3339(), "minutes": 15, "status": "free"},
    ]);
    assert_eq!(env.put_slots(&slots).await, ["created", "created"]);
    env.settle().await;
    let mails = env.mails_to(&near).await;
    let offer_mail = mails.last().unwrap();
    let (_, offer) = env.get_json(&page_link(offer_mail, "/o/")).await;
    assert_eq!(offer["slot"]["id"], "q-ten", "{offer}");
    assert_eq!(
        parse_time(offer["deadline"].as_str().unwrap()),
        berlin(morning, 8, 0)
    );
    let (_, early) = env
        .admin(reqwest::Method::GET, "/admin/slots/q-early", None)
        .await;
    assert_eq!(early["status"], "free", "never offered: {early}");
    assert_eq!(
        env.mails_to(&near).await.len(),
        mails.len(),
        "one offer only"
    );
}

/// With quiet hours off the clock runs day and night, as before.
#[tokio::test]
async fn without_quiet_hours_an_offer_at_night_runs_24_real_hours() {
    let env = TestEnv::spawn_with(|c| c.timing.quiet = None).await;
    let email = env.email("night-off");
    env.confirmed_wish(
        &email,
        json!({"mon": [10], "tue": [10], "wed": [10], "thu": [10], "fri": [10]}),
    )
    .await;
    let now = env.system.deps.clock.now();
    let mut night = now.with_timezone(&Berlin).date_naive();
    while berlin(night, 23, 25) < now {
        night = night.succ_opt().unwrap();
    }
    env.system
        .deps
        .clock
        .advance((berlin(night, 23, 25) - now).num_minutes() + 1);
    let made = env.system.deps.clock.now();
    let mut day = night + Duration::days(5);
    while !is_workday(day) {
        day = day.succ_opt().unwrap();
    }
    let slots = json!([{"id": "q-off", "office": "bilk", "service": "id-card", "start": berlin(day, 10, 0).to_rfc3339(), "minutes": 15, "status": "free"}]);
    env.put_slots(&slots).await;
    env.settle().await;
    let mails = env.mails_to(&email).await;
    let mail = mails.last().unwrap();
    assert!(!mail.text.contains("ruht nachts"), "{}", mail.text);
    let (_, offer) = env.get_json(&page_link(mail, "/o/")).await;
    let deadline = parse_time(offer["deadline"].as_str().unwrap());
    // Made between `made` and a few seconds later: 24 hours after that.
    assert!(deadline >= made + Duration::hours(24), "{deadline}");
    assert!(
        deadline < made + Duration::hours(24) + Duration::minutes(2),
        "{deadline}"
    );
}
