//! Tests of the lifecycle's transitions and their events.

use super::*;
use crate::{Email, Language, OfficeId, ServiceId, Window};
use chrono::Duration;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-04T22:25:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn pending() -> Wish {
    submitted(
        WishId::generate(),
        NewWish {
            email: Email::parse("anna@example.de").unwrap(),
            service: ServiceId::parse("id-card").unwrap(),
            offices: vec![OfficeId::parse("bilk").unwrap()],
            windows: [Window::new(crate::Weekday::Mon, 8).unwrap()].into(),
            language: Language::De,
            persons: 1,
        },
        now(),
    )
}

fn open_offer(wish: &Wish) -> Offer {
    let slot = Slot {
        id: SlotId::parse("bilk-1").unwrap(),
        office: OfficeId::parse("bilk").unwrap(),
        service: ServiceId::parse("id-card").unwrap(),
        start: now() + Duration::days(3),
        minutes: 15,
        status: SlotStatus::Free,
        offer: None,
        wish: None,
        persons: 1,
    };
    offer(
        OfferId::generate(),
        &[slot],
        (&wish.id, wish.persons),
        now() + Duration::days(1),
        now(),
    )
    .unwrap()
    .state
}

#[test]
fn confirming_puts_the_wish_in_line_once() {
    let w = pending();
    let c = w.confirm(now()).unwrap();
    assert_eq!(c.state.status, WishStatus::Waiting);
    assert_eq!(c.state.confirmed_at, Some(now()));
    assert_eq!(c.events[0].name(), "WishConfirmed");
    assert_eq!(
        c.state.confirm(now()),
        Err(TransitionError::WishNotIn(WishStatus::Waiting, "pending"))
    );
}

#[test]
fn three_unanswered_offers_pause_the_wish_and_a_decline_never_does() {
    let mut w = pending().confirm(now()).unwrap().state;
    let o = open_offer(&w);
    let late = o.deadline + Duration::minutes(1);
    assert_eq!(
        o.release(&w, Release::Expired, now()),
        Err(TransitionError::NotOverdue)
    );
    for n in 1..=3u8 {
        let r = o.release(&w, Release::Expired, late).unwrap();
        assert_eq!(r.unanswered, n);
        let paused = n == PAUSE_AFTER_UNANSWERED;
        assert_eq!(r.wish_status == WishStatus::Paused, paused);
        assert_eq!(
            r.events.iter().any(|e| e.name() == "WishPaused"),
            paused,
            "{n}"
        );
        w.unanswered = n;
    }
    let d = o.release(&w, Release::Declined, late).unwrap();
    assert_eq!((d.wish_status, d.unanswered), (WishStatus::Waiting, 0));
}

#[test]
fn a_wish_taken_by_phone_keeps_waiting_however_many_offers_run_out() {
    let mut w = pending().confirm(now()).unwrap().state;
    w.contact = crate::Contact::Phone {
        phone: crate::PhoneContact {
            name: crate::Reference::parse("Herr K.").unwrap(),
            number: crate::PhoneNumber::parse("0211 654321").unwrap(),
        },
    };
    w.unanswered = PAUSE_AFTER_UNANSWERED;
    let o = open_offer(&w);
    let r = o
        .release(&w, Release::Expired, o.deadline + Duration::minutes(1))
        .unwrap();
    assert_eq!(r.wish_status, WishStatus::Waiting);
    assert!(r.events.iter().all(|e| e.name() != "WishPaused"));
}

#[test]
fn an_offer_is_accepted_only_while_open_and_before_its_deadline() {
    let w = pending().confirm(now()).unwrap().state;
    let o = open_offer(&w);
    let accepted = o.accept(now()).unwrap().state;
    assert_eq!(accepted.status, OfferStatus::Accepted);
    assert_eq!(
        accepted.accept(now()),
        Err(TransitionError::OfferNotOpen(OfferStatus::Accepted))
    );
    assert_eq!(o.accept(o.deadline), Err(TransitionError::Overdue));
}

#[test]
fn a_booked_appointment_is_given_back_once_and_only_before_it_begins() {
    use crate::offer::AppointmentStatus;
    let w = pending().confirm(now()).unwrap().state;
    let o = open_offer(&w);
    assert_eq!(
        o.appointment(now()),
        None,
        "an open offer is no appointment"
    );
    assert_eq!(
        o.give_back(now()),
        Err(TransitionError::NotBooked(OfferStatus::Open))
    );
    let booked = o.accept(now()).unwrap().state;
    assert_eq!(booked.appointment(now()), Some(AppointmentStatus::Booked));
    // The slot starts three days on: reminded two days before, unless booked within them.
    let two_days = Duration::days(2);
    assert_eq!(
        booked.reminder_at(two_days, now()),
        Some(booked.start - two_days)
    );
    assert_eq!(
        booked.reminder_at(two_days, booked.start - Duration::hours(47)),
        None
    );
    assert_eq!(
        booked.appointment(booked.start),
        Some(AppointmentStatus::Past)
    );
    assert_eq!(
        booked.give_back(booked.start),
        Err(TransitionError::NotBooked(OfferStatus::Accepted)),
        "not once it has begun"
    );
    let c = booked.give_back(now()).unwrap();
    assert_eq!(c.state.status, OfferStatus::Returned);
    assert_eq!(
        c.state.appointment(now()),
        Some(AppointmentStatus::Returned)
    );
    let detail = c.events[0].detail();
    assert_eq!(c.events[0].name(), "AppointmentReturned");
    assert_eq!(detail["slot"]["id"], "bilk-1");
    assert_eq!(detail["slot"]["status"], "free");
    assert!(!detail.to_string().contains('@'), "no address");
    assert_eq!(
        c.state.give_back(now()),
        Err(TransitionError::NotBooked(OfferStatus::Returned)),
        "once"
    );
}

#[test]
fn cancelling_withdraws_the_open_offer_and_ends_the_wish_once() {
    let w = pending().confirm(now()).unwrap().state;
    let o = open_offer(&w);
    let c = w.cancel(Some(&o)).unwrap();
    let names: Vec<_> = c.events.iter().map(DomainEvent::name).collect();
    assert_eq!(names, ["WishCancelled", "OfferWithdrawn"]);
    assert!(c.state.cancel(None).is_err());
}

#[test]
fn an_undeliverable_mail_pauses_an_active_wish_and_frees_its_offer() {
    let mut w = pending().confirm(now()).unwrap().state;
    let o = open_offer(&w);
    w.status = WishStatus::Offered;
    w.open_offer = Some(o.id.clone());
    let c = w.undeliverable(Some(&o), "offer-x-sent");
    let paused = c.state.unwrap();
    assert_eq!(
        (paused.status, paused.open_offer),
        (WishStatus::Paused, None)
    );
    assert_eq!(paused.confirmed_at, w.confirmed_at, "the place stays");
    let names: Vec<_> = c.events.iter().map(DomainEvent::name).collect();
    assert_eq!(names, ["MailFailed", "WishPaused", "OfferWithdrawn"]);
    assert_eq!(
        c.events[0].detail(),
        serde_json::json!({"mail": "offer-x-sent", "wish": w.id})
    );
    // Pending, paused or ended: nothing to pause, the alarm hears of it all the same.
    for status in [
        WishStatus::Pending,
        WishStatus::Paused,
        WishStatus::Cancelled,
    ] {
        w.status = status;
        let c = w.undeliverable(None, "wish-x-optin");
        assert_eq!(c.state, None);
        let names: Vec<_> = c.events.iter().map(DomainEvent::name).collect();
        assert_eq!(names, ["MailFailed"], "{status:?}");
    }
}

#[test]
fn keep_needs_a_reminder_and_expiry_waits_for_an_open_offer() {
    let mut w = pending().confirm(now()).unwrap().state;
    assert_eq!(w.keep(now()), Err(TransitionError::NotReminded));
    w = w.remind(now()).unwrap().state;
    assert!(w.remind(now()).is_err());
    let kept = w.keep(now()).unwrap().state;
    assert_eq!((kept.kept_at, kept.reminded_at), (Some(now()), None));
    w.status = WishStatus::Offered;
    assert!(w.expire().is_err());
}
