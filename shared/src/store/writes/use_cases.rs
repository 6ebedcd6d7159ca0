//! Every store use case, run up to the wire against a `DynamoDB` that records its requests: each
//! request binds exactly the placeholders its expressions name (what `DynamoDB` itself demands:
//! it refuses a missing value and an unused one alike), and each use case sends the named writes
//! it should. A use case that forgot a value fails here — its binding fails, so it returns an
//! error, or (a counter, whose failures are only logged) its write is missing from the list.

use super::{Write, placeholders};
use crate::config::Secret;
use crate::domain::allocation::{AllocationRecord, ChainLink, Entry};
use crate::domain::staff::{AuditAction, AuditEntry};
use crate::domain::{
    Contact, DomainEvent, Effects, Email, Language, LinkKind, LinkToken, Notice, Offer, OfferId,
    OfferStatus, OfficeId, OutgoingMail, OwedEvent, PhoneContact, PhoneNumber, Proof, Reference,
    ServiceId, Slot, SlotId, SlotStatus, Token, Weekday, Window, Wish, WishId, WishStatus,
};
use crate::store::records::SlotRecord;
use crate::store::stream::Owed;
use crate::store::{AddressBook, AgeMark, DueMail, LimitKey, Store, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Every named write, so that the use cases below can be checked to cover them all.
const ALL: [Write; 38] = [
    Write::SlotOffered,
    Write::SlotBooked,
    Write::SlotFreed,
    Write::SlotReleased,
    Write::SlotUnclaimed,
    Write::WishOffered,
    Write::WishEnded,
    Write::WishBackInLine,
    Write::WishOfferWithdrawn,
    Write::WishConfirmed,
    Write::WishResumed,
    Write::WishPaused,
    Write::WishEnqueued,
    Write::WishAgeScheduled,
    Write::WishRelined,
    Write::WishReminded,
    Write::WishKept,
    Write::OfferAccepted,
    Write::OfferAcceptedToRemind,
    Write::AppointmentReminded,
    Write::OfferReturned,
    Write::OfferReplaced,
    Write::WishLooksEarlier,
    Write::WishStopsLooking,
    Write::SlotReturned,
    Write::SlotBookedDirectly,
    Write::OfferClosed,
    Write::OutboxClaimed,
    Write::MailSent,
    Write::EventPublished,
    Write::MailFailed,
    Write::ClientCounted,
    Write::ChallengeSpent,
    Write::AddressSuppressed,
    Write::AddressFirstSuppressed,
    Write::ReleaseCounted,
    Write::Tallied,
    Write::OfferCounted,
];

/// A `DynamoDB` that records each request (its operation and JSON body) and answers it with
/// `{}` — success, nothing found — or with what the test set for its operation.
#[derive(Debug, Clone, Default)]
struct Wire {
    sent: Arc<Mutex<Vec<(String, Value)>>>,
    answers: Arc<Mutex<HashMap<String, Value>>>,
    /// The named writes the use cases sent, so far.
    covered: Arc<Mutex<BTreeSet<String>>>,
}

impl HttpConnector for Wire {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or_default()
            .to_owned();
        let body = serde_json::from_slice(request.body().bytes().unwrap_or(b"null")).unwrap();
        self.sent.lock().unwrap().push((operation.clone(), body));
        let refused = self
            .answers
            .lock()
            .unwrap()
            .remove(&format!("{operation}!refuse-once"))
            .is_some();
        let answer = self.answers.lock().unwrap().get(&operation).cloned();
        let (status, answer) = if refused {
            (
                400,
                json!({"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                    "message": "The conditional request failed"}),
            )
        } else {
            (200, answer.unwrap_or(json!({})))
        };
        let mut response = Response::new(StatusCode::try_from(status).unwrap(), answer.to_string())
            .map(Into::into);
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl Wire {
    /// Answer the next `operation` with a failed condition (then as set with [`Wire::answer`]).
    fn refuse_once(&self, operation: &str) {
        self.answers
            .lock()
            .unwrap()
            .insert(format!("{operation}!refuse-once"), json!(true));
    }

    /// From now on, answer `operation` with `body`.
    fn answer(&self, operation: &str, body: Value) {
        self.answers
            .lock()
            .unwrap()
            .insert(operation.to_owned(), body);
    }

    /// Checks what `use_case` sent since the last call (see [`check_request`]) and its result,
    /// and that its named writes were `expected` (in any order); forgets the answers set for it.
    #[track_caller]
    fn expect(&self, use_case: &str, result: Result<(), StoreError>, expected: &[Write]) {
        assert!(result.is_ok(), "{use_case}: {result:?}");
        let sent = std::mem::take(&mut *self.sent.lock().unwrap());
        self.answers.lock().unwrap().clear();
        assert!(!sent.is_empty(), "{use_case} sent nothing");
        let mut writes = Vec::new();
        for (operation, body) in &sent {
            check_request(&format!("{use_case}: {operation}"), body, &mut writes);
        }
        let mut writes: Vec<String> = writes.iter().map(|w| format!("{w:?}")).collect();
        let mut expected: Vec<String> = expected.iter().map(|w| format!("{w:?}")).collect();
        writes.sort();
        expected.sort();
        assert_eq!(writes, expected, "{use_case}: its named writes");
        self.covered.lock().unwrap().extend(writes);
    }
}

/// A use case's result without what it answers (checked where it matters).
fn done<T>(result: Result<T, StoreError>) -> Result<(), StoreError> {
    result.map(drop)
}

/// Every part of a request that has expressions (the request itself, each part of a
/// transaction) binds exactly the `:value`s and `#name`s they use; the named writes among them
/// go to `writes`.
fn check_request(what: &str, body: &Value, writes: &mut Vec<Write>) {
    match body {
        Value::Object(fields) => {
            let expressions: Vec<&str> = fields
                .iter()
                .filter(|(k, _)| k.ends_with("Expression"))
                .filter_map(|(_, v)| v.as_str())
                .collect();
            if !expressions.is_empty() {
                let used: BTreeSet<&str> =
                    expressions.iter().flat_map(|e| placeholders(e)).collect();
                let bound = |field: &str| -> BTreeSet<&str> {
                    fields
                        .get(field)
                        .and_then(Value::as_object)
                        .map(|m| m.keys().map(String::as_str).collect())
                        .unwrap_or_default()
                };
                let values: BTreeSet<&str> = used
                    .iter()
                    .copied()
                    .filter(|p| p.starts_with(':'))
                    .collect();
                let names: BTreeSet<&str> = used
                    .iter()
                    .copied()
                    .filter(|p| p.starts_with('#'))
                    .collect();
                assert_eq!(
                    bound("ExpressionAttributeValues"),
                    values,
                    "{what}: the values bound for {expressions:?}"
                );
                assert_eq!(
                    bound("ExpressionAttributeNames"),
                    names,
                    "{what}: the names bound for {expressions:?}"
                );
                if let Some(update) = fields.get("UpdateExpression").and_then(Value::as_str) {
                    let condition = fields.get("ConditionExpression").and_then(Value::as_str);
                    writes.extend(named(update, condition));
                }
            }
            for child in fields.values() {
                check_request(what, child, writes);
            }
        }
        Value::Array(items) => {
            for child in items {
                check_request(what, child, writes);
            }
        }
        _ => {}
    }
}

/// The named write an update is, if any: its expression and condition are the write's (the
/// offer of a family's run adds a condition per further slot to the wish's).
fn named(update: &str, condition: Option<&str>) -> Option<Write> {
    ALL.into_iter()
        .filter(|w| {
            let (u, c) = w.spec();
            u == update
                && match (c, condition) {
                    (None, None) => true,
                    (Some(c), Some(sent)) => sent == c || sent.starts_with(&format!("{c} AND ")),
                    _ => false,
                }
        })
        .max_by_key(|w| w.spec().1.map_or(0, str::len))
}

/// An item in `DynamoDB`'s JSON, for the answers.
fn wire_item(item: &HashMap<String, AttributeValue>) -> Value {
    fn wire(v: &AttributeValue) -> Value {
        match v {
            AttributeValue::S(s) => json!({"S": s}),
            AttributeValue::N(n) => json!({"N": n}),
            AttributeValue::Bool(b) => json!({"BOOL": b}),
            AttributeValue::Null(_) => json!({"NULL": true}),
            AttributeValue::L(l) => json!({"L": l.iter().map(wire).collect::<Vec<_>>()}),
            AttributeValue::M(m) => json!({"M": wire_item(m)}),
            other => panic!("no wire form for {other:?} here"),
        }
    }
    Value::Object(item.iter().map(|(k, v)| (k.clone(), wire(v))).collect())
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn store(wire: &Wire) -> Store {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    let wire = wire.clone();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::from_static("eu-central-1"))
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .endpoint_url("http://dynamodb.invalid")
            .retry_config(RetryConfig::disabled())
            .http_client(http_client_fn(move |_, _| {
                SharedHttpConnector::new(wire.clone())
            }))
            .build(),
    );
    let key = LimitKey::new(Some(&Secret::new("k".repeat(32))));
    Store::new(client, "wishes", "slots", key)
}

/// The things the use cases are about: a wish, its offers, their slots.
struct Case {
    now: DateTime<Utc>,
    bilk: OfficeId,
    card: ServiceId,
    mon8: Window,
    wish: Wish,
    /// Open, for one slot.
    offer: Offer,
    /// Open, for a family of two: a run of two slots.
    family: Offer,
    slot: Slot,
}

impl Case {
    fn new() -> Self {
        let now = t("2026-12-01T09:00:00Z");
        let (bilk, card) = (
            OfficeId::parse("bilk").unwrap(),
            ServiceId::parse("id-card").unwrap(),
        );
        let mon8 = Window::new(Weekday::Mon, 8).unwrap();
        let start = t("2026-12-07T07:30:00Z");
        let wish = Wish {
            id: WishId::parse("w1").unwrap(),
            contact: Email::parse("anna@example.de").unwrap().into(),
            service: card.clone(),
            offices: vec![bilk.clone()],
            windows: [mon8].into(),
            language: Language::De,
            status: WishStatus::Waiting,
            created_at: t("2026-11-01T08:00:00Z"),
            confirmed_at: Some(t("2026-11-01T08:05:00Z")),
            open_offer: None,
            declined: BTreeSet::new(),
            kept_at: None,
            reminded_at: None,
            unanswered: 0,
            earlier: None,
            persons: 1,
        };
        let offer = Offer {
            id: OfferId::parse("o1").unwrap(),
            wish: wish.id.clone(),
            slot: SlotId::parse("s1").unwrap(),
            office: bilk.clone(),
            service: card.clone(),
            start,
            minutes: 15,
            status: OfferStatus::Open,
            deadline: now + Duration::hours(24),
            created_at: now,
            persons: 1,
            also: Vec::new(),
        };
        let family = Offer {
            id: OfferId::parse("o2").unwrap(),
            persons: 2,
            also: vec![crate::domain::party::RunSlot {
                id: SlotId::parse("s2").unwrap(),
                start: start + Duration::minutes(15),
                minutes: 15,
            }],
            ..offer.clone()
        };
        let slot = Slot {
            id: offer.slot.clone(),
            office: bilk.clone(),
            service: card.clone(),
            start,
            minutes: 15,
            status: SlotStatus::Free,
            offer: None,
            wish: None,
            persons: 1,
        };
        Self {
            now,
            bilk,
            card,
            mon8,
            wish,
            offer,
            family,
            slot,
        }
    }

    /// A time well after `now`: when data is kept until, when the rescan looks again.
    fn later(&self) -> DateTime<Utc> {
        self.now + Duration::days(90)
    }

    fn wish_in(&self, status: WishStatus) -> Wish {
        Wish {
            status,
            ..self.wish.clone()
        }
    }

    /// The wish, holding the accepted `offer` and looking for an earlier appointment.
    fn looking(&self) -> Wish {
        Wish {
            earlier: Some(crate::domain::wish::Holding {
                offer: OfferId::parse("o0").unwrap(),
                before: self.offer.start,
                behind: false,
            }),
            ..self.wish.clone()
        }
    }

    fn offer_in(&self, status: OfferStatus) -> Offer {
        Offer {
            status,
            ..self.offer.clone()
        }
    }

    fn audit(&self) -> AuditEntry {
        AuditEntry {
            at: self.now,
            actor: "clerk@buergerservice.example.org".into(),
            action: AuditAction::Cancelled,
            wish: Some(self.wish.id.clone()),
        }
    }

    /// What a change owes: a mail with a link, an event, and (`audited`) the clerk's entry.
    fn effects(&self, audited: bool) -> Effects {
        let mail = OutgoingMail {
            key: "offer-o1-sent".into(),
            wish: self.wish.id.clone(),
            to: "anna@example.de".into(),
            raw: "Subject: Terminangebot\r\n\r\nHallo".into(),
            tokens: vec![LinkToken {
                hash: Token::generate().hash(),
                kind: LinkKind::Offer,
                target: self.offer.id.to_string(),
                expires_at: self.now + Duration::days(30),
            }],
        };
        let event = DomainEvent::WishConfirmed {
            wish: self.wish.id.clone(),
            service: self.card.clone(),
            offices: vec![self.bilk.clone()],
        };
        let notice = Notice {
            key: mail.key.clone(),
            mail: Some(mail),
        };
        Effects::mail(notice, vec![event])
            .audited(audited.then(|| (self.audit(), self.now + Duration::days(30))))
    }

    fn due_mail(&self) -> DueMail {
        DueMail {
            key: "offer-o1-sent".into(),
            wish: Some(self.wish.id.clone()),
            to: "anna@example.de".into(),
            raw: String::new(),
            lease: "2026-12-01T09:02:00.000Z#offer-o1-sent".into(),
            attempts: 1,
            created_at: self.now,
        }
    }
}

/// What the use cases run against, and what they are about.
struct Run {
    wire: Wire,
    store: Store,
    c: Case,
}

impl Run {
    /// See [`Wire::expect`].
    #[track_caller]
    fn expect(&self, use_case: &str, result: Result<(), StoreError>, expected: &[Write]) {
        self.wire.expect(use_case, result, expected);
    }
}

#[tokio::test]
async fn every_use_case_binds_exactly_the_placeholders_of_each_write_it_sends() {
    let wire = Wire::default();
    let run = Run {
        store: store(&wire),
        wire,
        c: Case::new(),
    };
    wishes(&run).await;
    lines(&run).await;
    offers_made(&run).await;
    offers_answered(&run).await;
    slots(&run).await;
    outbox(&run).await;
    limits(&run).await;
    counters(&run).await;
    phone_and_audit(&run).await;
    reads(&run).await;
    let covered = run.wire.covered.lock().unwrap();
    let missing: Vec<String> = ALL
        .iter()
        .map(|w| format!("{w:?}"))
        .filter(|w| !covered.contains(w))
        .collect();
    assert!(missing.is_empty(), "no use case here sends {missing:?}");
}

/// A wish's use cases: submitted, confirmed, cancelled, looking for an earlier appointment,
/// resumed, its age.
async fn wishes(run: &Run) {
    use Write as W;
    let Run { store, c, .. } = run;
    let (now, later, e) = (c.now, c.later(), c.effects(false));
    let pending = c.wish_in(WishStatus::Pending);
    let token = Token::generate().hash();
    let book = AddressBook::default();
    let r = store
        .create_wish(&pending, false, Some(&token), &e, &book, now)
        .await;
    run.expect("create_wish", r, &[]);
    let seen = AddressBook {
        version: Some(3),
        ..AddressBook::default()
    };
    let r = store
        .create_wish(&pending, true, None, &e, &seen, now)
        .await;
    run.expect("create_wish replacing a pending one", r, &[]);
    let r = store.confirm_wish(&pending, now, later, &e).await;
    run.expect("confirm_wish", r, &[W::WishConfirmed]);
    let offered = c.wish_in(WishStatus::Offered);
    let audited = c.effects(true);
    let r = store
        .cancel_wish(&offered, Some(&c.offer), now, &audited, Some(&c.audit()))
        .await;
    run.expect(
        "cancel_wish with its open offer",
        r,
        &[W::WishEnded, W::OfferClosed, W::SlotFreed],
    );
    let r = store.cancel_wish(&c.wish, None, now, &e, None).await;
    run.expect("cancel_wish", r, &[W::WishEnded]);
    let r = store.look_for_earlier(&c.looking(), now, &e).await;
    run.expect("look_for_earlier", r, &[W::WishLooksEarlier]);
    let r = store
        .create_booked_directly(&c.looking(), &c.offer_in(OfferStatus::Accepted), now, &e)
        .await;
    run.expect("create_booked_directly", r, &[W::SlotBookedDirectly]);
    let r = store
        .stop_looking(&c.looking(), Some(&c.offer), now, &e, Some(&c.audit()))
        .await;
    run.expect(
        "stop_looking with its open offer",
        r,
        &[W::WishStopsLooking, W::OfferClosed, W::SlotFreed],
    );
    let r = store
        .resume_wish(&c.wish_in(WishStatus::Paused), now, &e)
        .await;
    run.expect("resume_wish", r, &[W::WishResumed]);
    let r = store.schedule_age_check(&c.wish, later).await;
    run.expect("schedule_age_check", r, &[W::WishAgeScheduled]);
    let r = store
        .mark_age(&c.wish, AgeMark::Reminded, later, now, &e)
        .await;
    run.expect("mark_age reminded", r, &[W::WishReminded]);
    let r = store
        .mark_age(&c.wish, AgeMark::Kept(later), later, now, &e)
        .await;
    run.expect("mark_age kept", r, &[W::WishKept]);
    let r = store.expire_wish(&c.wish, now, &e).await;
    run.expect("expire_wish", r, &[W::WishEnded]);
}

/// Into and out of the lines.
async fn lines(run: &Run) {
    use Write as W;
    let Run { store, c, .. } = run;
    let later = c.later();
    let lines = [(c.bilk.clone(), c.mon8)];
    let r = store.enqueue(&c.wish, &lines, later, later).await;
    run.expect("enqueue", r, &[W::WishEnqueued]);
    let family_wish = Wish {
        persons: 2,
        ..c.wish.clone()
    };
    let r = store.enqueue(&family_wish, &lines, later, later).await;
    run.expect("enqueue a family", r, &[W::WishEnqueued]);
    let r = store
        .reline(&c.wish, &["Q#bilk#id-card#tue#8".to_owned()], &lines, later)
        .await;
    run.expect("reline", done(r), &[W::WishRelined]);
    let r = store.dequeue(&c.wish, &lines).await;
    run.expect("dequeue", r, &[]);
}

/// An offer made, for one slot and for a family's run.
async fn offers_made(run: &Run) {
    use Write as W;
    let Run { store, c, .. } = run;
    let (now, e, token) = (c.now, c.effects(false), Token::generate().hash());
    let chosen = Entry {
        who: store.pseudonym(&c.wish.id).unwrap(),
        ranked_at: c.wish.confirmed_at.unwrap(),
    };
    let first = AllocationRecord::append(
        None,
        &c.slot,
        Vec::new(),
        chosen.clone(),
        now,
        Duration::days(30),
    );
    let r = store.create_offer(&c.offer, &token, &e, &first, now).await;
    run.expect("create_offer", done(r), &[W::SlotOffered, W::WishOffered]);
    let link = ChainLink {
        seq: first.seq,
        hash: first.hash(),
        at: first.at,
        expires_at: first.expires_at,
    };
    let second = AllocationRecord::append(
        Some(&link),
        &c.slot,
        Vec::new(),
        chosen,
        now,
        Duration::days(30),
    );
    let r = store
        .create_offer(&c.family, &token, &e, &second, now)
        .await;
    run.expect(
        "create_offer of a family's run",
        done(r),
        &[W::SlotOffered, W::SlotOffered, W::WishOffered],
    );
}

/// An offer's answers: accepted (replacing an appointment, a family's run), given back,
/// declined, expired, reminded.
async fn offers_answered(run: &Run) {
    use Write as W;
    let Run { store, c, .. } = run;
    let (now, later, e) = (c.now, c.later(), c.effects(false));
    let offered = c.wish_in(WishStatus::Offered);
    let old = Offer {
        id: OfferId::parse("o0").unwrap(),
        slot: SlotId::parse("s0").unwrap(),
        ..c.offer_in(OfferStatus::Accepted)
    };
    let r = store
        .accept_offer(&c.offer, &offered, (now, Some(later)), Some(&old), &e)
        .await;
    run.expect(
        "accept_offer replacing an appointment, with a reminder",
        r,
        &[
            W::OfferAcceptedToRemind,
            W::WishEnded,
            W::SlotBooked,
            W::OfferReplaced,
            W::SlotReturned,
            W::OfferCounted,
            W::ReleaseCounted,
        ],
    );
    let r = store
        .accept_offer(&c.family, &offered, (now, None), None, &e)
        .await;
    run.expect(
        "accept_offer of a family's run",
        r,
        &[
            W::OfferAccepted,
            W::WishEnded,
            W::SlotBooked,
            W::SlotBooked,
            W::OfferCounted,
            W::ReleaseCounted,
        ],
    );
    let accepted = c.offer_in(OfferStatus::Accepted);
    let r = store
        .return_appointment(&accepted, Some((&c.looking(), Some(&c.family))), now, &e)
        .await;
    run.expect(
        "return_appointment ending the search for an earlier one",
        r,
        &[
            W::OfferReturned,
            W::SlotReturned,
            W::WishStopsLooking,
            W::OfferClosed,
            W::SlotFreed,
            W::SlotFreed,
        ],
    );
    let r = store
        .release_offer(
            &c.offer,
            OfferStatus::Declined,
            (WishStatus::Waiting, 0),
            now,
            &e,
        )
        .await;
    run.expect(
        "release_offer",
        r,
        &[
            W::OfferClosed,
            W::WishBackInLine,
            W::SlotFreed,
            W::OfferCounted,
            W::ReleaseCounted,
        ],
    );
    let r = store.expire_orphan_offer(&c.family, &e, now).await;
    run.expect(
        "expire_orphan_offer",
        r,
        &[
            W::OfferClosed,
            W::SlotFreed,
            W::SlotFreed,
            W::OfferCounted,
            W::ReleaseCounted,
        ],
    );
    let r = store.remind_appointment(&accepted, now, &e).await;
    run.expect("remind_appointment", r, &[W::AppointmentReminded]);
}

/// The booking system's slots: withdrawn, put, released, unclaimed.
async fn slots(run: &Run) {
    use Write as W;
    let Run { store, c, .. } = run;
    let (now, e) = (c.now, c.effects(false));
    let r = store.withdraw_slot(&c.slot, None, &e, now).await;
    run.expect("withdraw_slot (free)", r, &[]);
    let held = Slot {
        status: SlotStatus::Offered,
        ..c.slot.clone()
    };
    let r = store.withdraw_slot(&held, Some(&c.family), &e, now).await;
    run.expect(
        "withdraw_slot (offered, a family's run)",
        r,
        &[W::OfferClosed, W::WishOfferWithdrawn, W::SlotFreed],
    );
    let upsert = crate::domain::slot::SlotUpsert {
        id: c.slot.id.clone(),
        office: c.bilk.clone(),
        service: c.card.clone(),
        start: c.slot.start,
        minutes: 15,
        status: SlotStatus::Booked,
        persons: 1,
    };
    let r = store.upsert_slot(&upsert, now).await;
    run.expect("upsert_slot", done(r), &[]);
    let booked = Store::slot_record(&upsert, now);
    let freed = SlotRecord {
        slot: Slot {
            status: SlotStatus::Free,
            ..booked.slot.clone()
        },
        ..Store::slot_record(&upsert, now)
    };
    run.wire.answer(
        "GetItem",
        json!({"Item": wire_item(&serde_dynamo::to_item(&booked).unwrap())}),
    );
    run.wire.answer(
        "UpdateItem",
        json!({"Attributes": wire_item(&serde_dynamo::to_item(&freed).unwrap())}),
    );
    let r = store.release_slot(&c.slot.id, now).await;
    assert!(matches!(&r, Ok(Some((_, true)))), "{r:?}");
    run.expect("release_slot", done(r), &[W::SlotReleased]);
    let r = store.mark_unclaimed(&c.slot, &e, now).await;
    run.expect("mark_unclaimed", done(r), &[W::SlotUnclaimed]);
}

/// The outbox: a mail given up on, claims, deliveries recorded.
async fn outbox(run: &Run) {
    use Write as W;
    let Run { store, c, .. } = run;
    let (now, e) = (c.now, c.effects(false));
    let offered = c.wish_in(WishStatus::Offered);
    let r = store
        .fail_mail(
            Some(&c.due_mail()),
            Some((&offered, Some(&c.offer))),
            now,
            &e,
        )
        .await;
    run.expect(
        "fail_mail pausing the wish",
        r,
        &[
            W::MailFailed,
            W::WishPaused,
            W::OfferClosed,
            W::SlotFreed,
            W::OfferCounted,
        ],
    );
    let r = store.claim(&Owed::Mail(c.due_mail()), now).await;
    run.expect("claim a mail", done(r), &[W::OutboxClaimed]);
    let owed = OwedEvent {
        key: "offer-o1-sent#0-OfferSent".into(),
        name: "OfferSent".into(),
        detail: "{}".into(),
        lease: "2026-12-01T09:02:00.000Z#offer-o1-sent#0-OfferSent".into(),
        attempts: 0,
    };
    let r = store.claim(&Owed::Event(owed), now).await;
    run.expect("claim an event", done(r), &[W::OutboxClaimed]);
    let r = store.mark_mail_sent("offer-o1-sent", now).await;
    run.expect("mark_mail_sent", r, &[W::MailSent]);
    let r = store
        .mark_event_published("offer-o1-sent#0-OfferSent", now)
        .await;
    run.expect("mark_event_published", r, &[W::EventPublished]);
}

/// The abuse limits.
async fn limits(run: &Run) {
    use Write as W;
    let Run { store, c, .. } = run;
    let (now, later) = (c.now, c.later());
    let anna = Email::parse("anna@example.de").unwrap();
    let pk = store.address_pk(&anna).unwrap();
    let address = crate::store::limits::AddressRecord::of_book(pk, &AddressBook::default(), 1);
    run.wire.answer(
        "UpdateItem",
        json!({"Attributes": wire_item(&serde_dynamo::to_item(&address).unwrap())}),
    );
    let r = store.suppress_address(&anna, later, now).await;
    run.expect("suppress_address", done(r), &[W::AddressSuppressed]);
    // A book without the map of suppressions yet: the first write's condition fails.
    let answer = json!({"Attributes": wire_item(&serde_dynamo::to_item(&address).unwrap())});
    run.wire.refuse_once("UpdateItem");
    run.wire.answer("UpdateItem", answer);
    let r = store.suppress_address(&anna, later, now).await;
    run.expect(
        "suppress_address (first suppression)",
        done(r),
        &[W::AddressSuppressed, W::AddressFirstSuppressed],
    );
    let r = store.count_client_request("198.51.100.7", 10, now).await;
    run.expect("count_client_request", done(r), &[W::ClientCounted]);
    let proof = Proof {
        challenge: "c1".into(),
        expires: later,
    };
    let r = store.spend_challenge(&proof).await;
    run.expect("spend_challenge", done(r), &[W::ChallengeSpent]);
}

/// The counters. Their failures are only logged: a write missing here is one that failed.
async fn counters(run: &Run) {
    use Write as W;
    let Run { store, c, .. } = run;
    let now = c.now;
    // The counter answers with a day that has left the window, which is then removed.
    run.wire.answer(
        "UpdateItem",
        json!({"Attributes": {"d20200101": {"N": "1"}}}),
    );
    store.count_release(&c.bilk, &c.card, c.mon8, now).await;
    run.expect("count_release", Ok(()), &[W::ReleaseCounted]);
    store.count_suppressed().await;
    run.expect("count_suppressed", Ok(()), &[W::OfferCounted]);
    store.tally_released(&c.bilk, &c.card, now).await;
    run.expect("tally_released", Ok(()), &[W::Tallied]);
    store.tally_taken(&c.bilk, &c.card, now).await;
    run.expect("tally_taken", Ok(()), &[W::Tallied]);
    store.tally_first_offer(&c.bilk, &c.card, now, 12).await;
    run.expect("tally_first_offer", Ok(()), &[W::Tallied]);
}

/// Phone wishes and the audit log.
async fn phone_and_audit(run: &Run) {
    let Run { store, c, .. } = run;
    let (now, later, audited) = (c.now, c.later(), c.effects(true));
    let phone = Wish {
        contact: Contact::Phone {
            phone: PhoneContact {
                name: Reference::parse("Frau Phon").unwrap(),
                number: PhoneNumber::parse("0211 555-0101").unwrap(),
            },
        },
        ..c.wish.clone()
    };
    let r = store.create_phone_wish(&phone, later, &audited, now).await;
    run.expect("create_phone_wish", r, &[]);
    let r = store.record_call_attempt(&c.offer, &c.audit(), later).await;
    run.expect("record_call_attempt", r, &[]);
    let r = store.record_looks(&[c.audit()], now).await;
    run.expect("record_looks", r, &[]);
}

/// Reads: their key conditions bind values too.
async fn reads(run: &Run) {
    let Run { store, c, .. } = run;
    let (now, later) = (c.now, c.later());
    let lines = [(c.bilk.clone(), c.mon8)];
    let r = store.get_wish(&c.wish.id, now).await;
    run.expect("get_wish", done(r), &[]);
    let r = store
        .head_of_line((&c.bilk, &c.card, c.mon8), 1, None, 10)
        .await;
    run.expect("head_of_line", done(r), &[]);
    let r = store
        .head_of_line((&c.bilk, &c.card, c.mon8), 2, Some("x"), 10)
        .await;
    run.expect("head_of_line, further", done(r), &[]);
    let r = store.ahead_in_line(&c.bilk, &c.card, c.mon8, "2026").await;
    run.expect("ahead_in_line", done(r), &[]);
    let r = store.line_length(&c.bilk, &c.card, c.mon8).await;
    run.expect("line_length", done(r), &[]);
    let r = store.places_ahead(&c.wish, &lines).await;
    run.expect("places_ahead", done(r), &[]);
    let r = store.free_slots(&c.bilk, now, None, 10).await;
    run.expect("free_slots", done(r), &[]);
    let r = store.free_slots(&c.bilk, now, Some(&c.slot), 10).await;
    run.expect("free_slots, further", done(r), &[]);
    let r = store.free_slots_after(&c.slot, later, 10).await;
    run.expect("free_slots_after", done(r), &[]);
    let r = store.events_feed(None, now, 10).await;
    run.expect("events_feed", done(r), &[]);
    let r = store
        .events_feed(
            Some("2026-12-01T08:00:00.000Z#offer-o1-sent#0-OfferSent"),
            now,
            10,
        )
        .await;
    run.expect("events_feed, further", done(r), &[]);
    let r = store.due_outbox(now, 10).await;
    run.expect("due_outbox", done(r), &[]);
    let r = store.overdue_offers(now, 10).await;
    run.expect("overdue_offers", done(r), &[]);
    let r = store.wishes_by_age(now, 10).await;
    run.expect("wishes_by_age", done(r), &[]);
    let r = store.wishes_in_line(None, 10).await;
    run.expect("wishes_in_line", done(r), &[]);
    let r = store.wishes_to_enqueue(now, now).await;
    run.expect("wishes_to_enqueue", done(r), &[]);
    let r = store.stats().await;
    run.expect("stats", done(r), &[]);
    let r = store.overview(now).await;
    run.expect("overview", done(r), &[]);
    let r = store.audit_log(now, 2, 10).await;
    run.expect("audit_log", done(r), &[]);
    let r = store.call_attempts(&c.offer.id).await;
    run.expect("call_attempts", done(r), &[]);
    let r = store
        .phone_book(&PhoneNumber::parse("0211 555-0101").unwrap(), now)
        .await;
    run.expect("phone_book", done(r), &[]);
}

#[test]
fn a_write_is_told_by_its_expression_and_condition() {
    let (update, condition) = Write::SlotReturned.spec();
    assert!(matches!(
        named(update, condition),
        Some(Write::SlotReturned)
    ));
    let (update, condition) = Write::SlotReleased.spec();
    assert!(matches!(
        named(update, condition),
        Some(Write::SlotReleased)
    ));
    let (update, condition) = Write::WishOffered.spec();
    let run = format!("{} AND NOT contains(declined, :also0)", condition.unwrap());
    assert!(matches!(
        named(update, Some(&run)),
        Some(Write::WishOffered)
    ));
    assert!(named("ADD #bucket :delta", None).is_none());
}
