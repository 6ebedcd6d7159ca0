//! Faults on the way out: a mail SES refuses is kept in the outbox and sent once SES accepts it.

use crate::helpers::TestEnv;
use serde_json::json;

#[tokio::test]
async fn a_mail_ses_refuses_is_retried_by_the_rescan_and_delivered_once() {
    let env = TestEnv::spawn().await;
    let email = env.email("retry");
    // A sender SES (moto) does not know yet: every send fails with MessageRejected.
    let sender = format!("absender.{}@stadt.example", std::process::id());
    let mut failing = env.system.deps.clone();
    failing.config.mail_from.clone_from(&sender);
    let request: shared::http::WishRequest = serde_json::from_value(
        json!({"email": email, "service": "id-card", "offices": ["bilk"], "windows": {"mon": [8]}}),
    )
    .unwrap();
    let wish = shared::app::submit_wish(&failing, &request.draft(), None, None)
        .await
        .unwrap()
        .wish;
    assert_eq!(wish.status.as_str(), "pending", "the wish is stored");
    // deliver-outbox, with SES refusing the sender: the mail is claimed, not sent.
    env.system.settle_with(&failing).await.unwrap();
    assert_eq!(
        wish.status.as_str(),
        "pending",
        "the wish is stored although the mail failed"
    );
    assert!(env.sent_to(&email).await.is_empty());

    // Within the sender's lease the rescan leaves the mail alone. (The rescan runs with the
    // test's sender too: IAM allows the functions to send only as the stack's identity.)
    assert_eq!(
        env.system.rescan_with(&failing).await.unwrap()["mails_retried"],
        0
    );

    // SES recovers; after the lease the rescan sends it — once.
    env.system
        .clients
        .sesv2
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .unwrap();
    env.system.deps.clock.advance(3);
    assert_eq!(
        env.system.rescan_with(&failing).await.unwrap()["mails_retried"],
        1
    );
    assert_eq!(
        env.system.rescan_with(&failing).await.unwrap()["mails_retried"],
        0
    );
    let mails = env.mails_to(&email).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].subject.contains("bestätigen"));
}

#[tokio::test]
async fn slot_release_reports_only_the_records_it_could_not_publish() {
    let env = TestEnv::spawn().await;
    let stream: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_str(include_str!("../../../events/slots-stream.json")).unwrap();
    let working = env.system.outlets(&env.system.deps).unwrap();
    let failed_records = |response: aws_lambda_events::event::streams::DynamoDbEventResponse| {
        response
            .batch_item_failures
            .iter()
            .filter_map(|f| f.item_identifier.clone())
            .collect::<Vec<_>>()
    };
    // A bus that does not exist: publishing fails, the released record is reported back.
    let mut broken = working.clone();
    broken.events =
        shared::events::Events::new(env.system.clients.eventbridge.clone(), "no-such-bus");
    assert_eq!(
        failed_records(shared::triggers::handle_slot_stream(&broken, stream.clone()).await),
        vec!["4421584500000000017450439091".to_owned()],
        "only the record that released a slot"
    );
    // A match queue that does not exist: the same record is reported back.
    let mut broken = working.clone();
    broken.queue = shared::matchqueue::MatchQueue::new(
        env.system.clients.sqs.clone(),
        format!("{}/000000000000/no-such-queue.fifo", env.system.moto_url),
    );
    assert_eq!(
        failed_records(shared::triggers::handle_slot_stream(&broken, stream.clone()).await),
        vec!["4421584500000000017450439091".to_owned()],
        "only the record that released a slot"
    );
    // With both back, the same batch goes through, and the slot waits in the match queue in
    // its line's message group. Sent again (Lambda retrying the batch), it is not queued twice.
    let response = shared::triggers::handle_slot_stream(&working, stream.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(
        shared::triggers::handle_slot_stream(&working, stream)
            .await
            .batch_item_failures
            .is_empty()
    );
    let received = env
        .system
        .clients
        .sqs
        .receive_message()
        .queue_url(&env.system.infra.match_queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let messages = received.messages();
    assert_eq!(messages.len(), 1, "one message for the one released slot");
    let group = messages[0]
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId))
        .cloned();
    assert!(
        group.as_deref().is_some_and(|g| g.starts_with("Q#")),
        "grouped by its line: {group:?}"
    );
}

/// A proxy in front of DynamoDB Local that answers the first `n` requests of chosen operations
/// with an error, as DynamoDB does under load.
mod proxy {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct Faults {
        pub target: &'static str,
        pub error_type: &'static str,
        pub body: String,
        pub remaining: AtomicUsize,
        pub injected: AtomicUsize,
    }

    #[derive(Clone)]
    struct Proxy {
        upstream: String,
        http: reqwest::Client,
        faults: Arc<Vec<Faults>>,
    }

    async fn forward(
        State(p): State<Proxy>,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::response::Response {
        let target = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        for f in p.faults.iter() {
            if target.ends_with(f.target)
                && f.remaining
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                f.injected.fetch_add(1, Ordering::SeqCst);
                return (
                    StatusCode::BAD_REQUEST,
                    [("content-type", "application/x-amz-json-1.0")],
                    f.body.clone(),
                )
                    .into_response();
            }
        }
        let mut request = p.http.post(&p.upstream).body(body);
        for (k, v) in &headers {
            if k != "host" && k != "content-length" {
                request = request.header(k, v);
            }
        }
        let response = request.send().await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let content_type = response.headers().get("content-type").cloned();
        let bytes = response.bytes().await.unwrap();
        let mut answer = (status, bytes).into_response();
        if let Some(ct) = content_type {
            answer.headers_mut().insert("content-type", ct);
        }
        answer
    }

    pub async fn start(upstream: String, faults: Arc<Vec<Faults>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(forward).with_state(Proxy {
            upstream,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            faults,
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    pub fn fault(target: &'static str, error_type: &'static str, n: usize) -> Faults {
        let body = if error_type == "TransactionCanceledException" {
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled","CancellationReasons":[{"Code":"TransactionConflict"},{"Code":"None"},{"Code":"None"}]}"#.to_owned()
        } else {
            format!(
                r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{error_type}","message":"injected"}}"#
            )
        };
        Faults {
            target,
            error_type,
            body,
            remaining: AtomicUsize::new(n),
            injected: AtomicUsize::new(0),
        }
    }
}

#[tokio::test]
async fn throttling_and_transaction_conflicts_are_retried_and_nothing_is_lost_or_doubled() {
    use std::sync::atomic::Ordering;
    let env = TestEnv::spawn().await;
    let upstream = env.system.dynamodb_url.clone();
    let faults = std::sync::Arc::new(vec![
        proxy::fault("TransactWriteItems", "ThrottlingException", 2),
        proxy::fault("TransactWriteItems", "TransactionCanceledException", 2),
        proxy::fault("GetItem", "ProvisionedThroughputExceededException", 2),
        // The lines' entries are written in transactions (with their counts); the address book's
        // wishes are read in a batch.
        proxy::fault("BatchGetItem", "ThrottlingException", 1),
    ]);
    let url = proxy::start(upstream, faults.clone()).await;
    let flaky_db = aws_sdk_dynamodb::Client::from_conf(
        env.system
            .clients
            .dynamodb
            .config()
            .to_builder()
            .endpoint_url(&url)
            .build(),
    );
    let d = &env.system.deps;
    let deps = shared::Deps::from_clients(
        d.config.clone(),
        flaky_db,
        env.system.clients.sesv2.clone(),
        env.system.clients.eventbridge.clone(),
        d.clock.clone(),
    );

    let email = env.email("flaky");
    let request: shared::http::WishRequest = serde_json::from_value(
        json!({"email": email, "service": "id-card", "offices": ["bilk"], "windows": {"mon": [8]}}),
    )
    .unwrap();
    let wish = shared::app::submit_wish(&deps, &request.draft(), None, None)
        .await
        .unwrap()
        .wish;
    let link = crate::helpers::page_link(&env.mails_to(&email).await[0], "/w/");
    let token = link.rsplit('/').next().unwrap();
    let confirmed = shared::app::confirm_wish(&deps, token).await.unwrap();
    assert_eq!(confirmed.id, wish.id);
    assert_eq!(confirmed.status.as_str(), "waiting");
    let injected: Vec<(&str, usize)> = faults
        .iter()
        .map(|f| (f.error_type, f.injected.load(Ordering::SeqCst)))
        .collect();
    println!("faults injected: {injected:?}");
    assert!(
        faults.iter().all(|f| f.injected.load(Ordering::SeqCst) > 0),
        "every planned fault was hit: {injected:?}"
    );
    assert_eq!(
        env.mails_to(&email).await.len(),
        2,
        "opt-in and confirmation, once each"
    );
    let line = env
        .system
        .deps
        .store
        .line_length(
            &confirmed.offices[0],
            &confirmed.service,
            *confirmed.windows.iter().next().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(line, 1, "the wish stands in its line once");
    crate::helpers::assert_line_counts_match_entries(&env).await;
}

/// A crash point: the offer's answer is committed, but the bus refuses its event when
/// deliver-outbox publishes it. The event was written in the answer's transaction, so the rescan
/// publishes it after the publisher's lease — once; the booking system hears of the booking all
/// the same.
#[tokio::test]
async fn an_event_the_bus_refuses_after_the_commit_is_published_by_the_rescan_once() {
    let env = TestEnv::spawn().await;
    let observer = crate::helpers::Observer::attach(&env).await;
    let email = env.email("bus-down");
    env.confirmed_wish(&email, json!({"wed": [8]})).await;
    let start = crate::helpers::next_local(chrono::Weekday::Wed, 8, 30, 3);
    assert_eq!(
        env.put_slots(
            &json!([{"id": "bus-down-wed", "office": "bilk", "service": "id-card",
            "start": start, "minutes": 15, "status": "free"}])
        )
        .await,
        ["created"]
    );
    env.settle().await;
    let mails = env.mails_to(&email).await;
    let offer_mail = mails
        .iter()
        .find(|m| m.subject.starts_with("Terminangebot"))
        .expect("an offer mail");
    let link = crate::helpers::page_link(offer_mail, "/o/");
    let token = link.rsplit('/').next().unwrap();
    let before = observer.drain().await;
    assert!(before.iter().any(|(t, _)| t == "OfferSent"));

    let bus_down = env.bus_down();
    let offer = shared::app::accept_offer(&env.system.deps, token)
        .await
        .unwrap();
    assert_eq!(offer.status.as_str(), "accepted");
    // deliver-outbox runs while the bus is down: the mail goes out, the event does not.
    env.system.settle_with(&bus_down).await.unwrap();
    assert!(
        observer.drain().await.is_empty(),
        "nothing reached the bus while it was down"
    );

    // Within the publisher's lease the rescan leaves the event alone; after it, it publishes it.
    assert_eq!(env.system.rescan().await.unwrap()["events_retried"], 0);
    env.system.deps.clock.advance(3);
    assert_eq!(env.system.rescan().await.unwrap()["events_retried"], 1);
    assert_eq!(env.system.rescan().await.unwrap()["events_retried"], 0);
    let seen = observer.drain().await;
    let accepted: Vec<_> = seen.iter().filter(|(t, _)| t == "OfferAccepted").collect();
    assert_eq!(accepted.len(), 1, "exactly one OfferAccepted: {seen:?}");
    assert_eq!(accepted[0].1["offer"], offer.id.to_string());
    assert_eq!(accepted[0].1["slot"], "bus-down-wed");
    // The citizen's booking mail went out at once: SES was up.
    assert!(
        env.mails_to(&email)
            .await
            .iter()
            .any(|m| m.subject.starts_with("Termin bestätigt")),
        "the booking mail"
    );
}

/// Crash points: each change below commits while delivery is down (deliver-outbox runs, but SES
/// and the bus are unreachable — as if it crashed after the transaction). After the lease the
/// rescan delivers what each change owes: exactly one mail and its events, nothing lost, nothing
/// twice. Confirm, offer, decline, withdraw and cancel in turn.
#[tokio::test]
async fn every_change_committed_while_delivery_is_down_is_delivered_once_by_the_rescan() {
    use crate::helpers::{Observer, next_local, page_link};
    let env = TestEnv::spawn().await;
    let observer = Observer::attach(&env).await;
    let down = env.delivery_down();
    let email = env.email("crash");
    let mails = || env.sent_to(&email);
    // After a change: delivery down (nothing arrives), then the rescan after the lease.
    let recover = |before: usize| {
        let (env, observer, down) = (&env, &observer, &down);
        async move {
            env.system.settle_with(down).await.unwrap();
            assert_eq!(mails().await.len(), before, "no mail while SES is down");
            assert_eq!(
                observer.drain().await,
                Vec::new(),
                "no event while the bus is down"
            );
            env.system.deps.clock.advance(3);
            env.system.rescan().await.unwrap();
            // What the rescan itself committed (an offer of a slot whose SlotReleased the bus
            // refused) goes out through deliver-outbox, now that it works.
            env.settle().await;
            let after = mails().await;
            let events: Vec<String> = observer.drain().await.into_iter().map(|(t, _)| t).collect();
            (after, events)
        }
    };

    // The wish is submitted and its opt-in mail delivered normally.
    let (status, _) = env
        .post_json(
            "/api/wishes",
            &json!({"email": email, "service": "id-card", "offices": ["bilk"], "windows": {"mon": [8], "tue": [8]}}),
        )
        .await;
    assert_eq!(status, 202);
    env.settle().await;
    let opt_in = mails().await;
    assert_eq!(opt_in.len(), 1);
    let wish_link = page_link(&opt_in[0], "/w/");

    // Confirm.
    let (status, _) = env.click(&format!("{wish_link}/confirm")).await;
    assert_eq!(status, 200);
    let (after, events) = recover(1).await;
    assert_eq!(after.len(), 2, "the confirmation mail, once");
    assert_eq!(events, ["WishConfirmed"]);

    // Offer: the slot's SlotReleased does not reach the bus either; the rescan offers it.
    let monday = next_local(chrono::Weekday::Mon, 8, 0, 3);
    env.put_slots(
        &json!([{"id": "crash-mon", "office": "bilk", "service": "id-card",
        "start": monday, "minutes": 15, "status": "free"}]),
    )
    .await;
    let (after, events) = recover(2).await;
    assert_eq!(after.len(), 3, "the offer mail, once");
    assert_eq!(
        events.iter().filter(|e| *e == "OfferSent").count(),
        1,
        "{events:?}"
    );
    let offer_link = page_link(after.last().unwrap(), "/o/");

    // Decline: the wish waits on; nobody else wants the slot.
    let (status, _) = env.click(&format!("{offer_link}/decline")).await;
    assert_eq!(status, 200);
    let (after, events) = recover(3).await;
    assert_eq!(after.len(), 4, "the decline's mail, once");
    assert_eq!(
        events.iter().filter(|e| *e == "OfferDeclined").count(),
        1,
        "{events:?}"
    );

    // Withdraw an offered slot: a second slot is offered, then the office takes it back.
    let tuesday = next_local(chrono::Weekday::Tue, 8, 0, 3);
    env.put_slots(
        &json!([{"id": "crash-tue", "office": "bilk", "service": "id-card",
        "start": tuesday, "minutes": 15, "status": "free"}]),
    )
    .await;
    let (after, _) = recover(4).await;
    assert_eq!(after.len(), 5, "the second offer's mail");
    let (status, _) = env
        .admin(reqwest::Method::DELETE, "/admin/slots/crash-tue", None)
        .await;
    assert_eq!(status, 204);
    let (after, events) = recover(5).await;
    assert_eq!(after.len(), 6, "the withdrawal's mail, once");
    assert_eq!(
        events.iter().filter(|e| *e == "OfferWithdrawn").count(),
        1,
        "{events:?}"
    );

    // Cancel.
    let (status, _) = env.click(&format!("{wish_link}/cancel")).await;
    assert_eq!(status, 200);
    let (after, events) = recover(6).await;
    assert_eq!(after.len(), 7, "the cancellation mail, once");
    assert_eq!(
        events.iter().filter(|e| *e == "WishCancelled").count(),
        1,
        "{events:?}"
    );

    // Nothing is owed any more: another rescan later delivers nothing.
    env.system.deps.clock.advance(3);
    let report = env.system.rescan().await.unwrap();
    assert_eq!(
        (
            report["mails_retried"].as_u64(),
            report["events_retried"].as_u64()
        ),
        (Some(0), Some(0))
    );
}

/// The last crash point: a wish reaches its maximum age while delivery is down. The rescan
/// that expires it cannot send the mail nor publish the event; the next rescan after the lease
/// delivers both, once.
#[tokio::test]
async fn a_wish_expired_while_delivery_is_down_is_told_once_by_the_next_rescan() {
    let env = TestEnv::spawn().await;
    let observer = crate::helpers::Observer::attach(&env).await;
    let email = env.email("old");
    env.confirmed_wish(&email, json!({"mon": [8]})).await;
    // The reminder a week before the end, delivered normally.
    env.system.deps.clock.advance(83 * 24 * 60 + 1);
    assert_eq!(env.system.rescan().await.unwrap()["wishes_reminded"], 1);
    assert_eq!(env.mails_to(&email).await.len(), 3);
    observer.drain().await;

    let down = env.delivery_down();
    env.system.deps.clock.advance(7 * 24 * 60 + 1);
    let report = shared::app::rescan(&down).await.unwrap();
    assert_eq!(report.wishes_expired, 1);
    env.system.settle_with(&down).await.unwrap();
    let sent = || async { env.sent_to(&email).await.len() };
    assert_eq!(sent().await, 3, "no mail while SES is down");
    assert!(observer.drain().await.is_empty());

    env.system.deps.clock.advance(3);
    let report = env.system.rescan().await.unwrap();
    assert_eq!(report["mails_retried"], 1, "{report}");
    assert_eq!(report["events_retried"], 1, "{report}");
    assert_eq!(sent().await, 4, "the expiry mail, once");
    let events: Vec<String> = observer.drain().await.into_iter().map(|(t, _)| t).collect();
    assert_eq!(events, ["WishExpired"]);
}

/// A mail SES keeps refusing is tried less and less often, then given up after its bound: it is
/// marked failed with its body and address gone, counted, `MailFailed` is published for the
/// alarm, and its wish is paused so it holds no slot its citizen cannot hear of — the offer's
/// slot goes on to the next wish at once.
#[tokio::test]
async fn a_mail_that_cannot_be_delivered_is_given_up_and_its_wish_paused() {
    use crate::helpers::{Observer, next_local, page_link};
    let env = TestEnv::spawn().await;
    let (anna, ben) = (env.email("undeliverable"), env.email("next-in-line"));
    let anna_page = env.confirmed_wish(&anna, json!({"wed": [8]})).await;
    env.confirmed_wish(&ben, json!({"wed": [8]})).await;
    env.settle().await;
    let observer = Observer::attach(&env).await;

    // From here SES is unreachable for this deliverer, and it gives mails up after an hour (a
    // day by default).
    let mut failing = env.system.deps.clone();
    crate::helpers::senders(&mut failing).mailer =
        crate::helpers::senders(&mut env.delivery_down())
            .mailer
            .clone();
    failing.config.mail_retry_for = chrono::Duration::hours(1);
    let wednesday = next_local(chrono::Weekday::Wed, 8, 30, 3);
    env.put_slots(
        &json!([{"id": "undeliverable-wed", "office": "bilk", "service": "id-card",
        "start": wednesday, "minutes": 15, "status": "free"}]),
    )
    .await;
    env.system.settle_with(&failing).await.unwrap();
    assert_eq!(
        env.sent_to(&anna).await.len(),
        2,
        "the offer mail is not sent"
    );

    // The waits grow: tried again after 2 minutes, then only after 4 more.
    let rescan = |minutes: i64| {
        let (env, failing) = (&env, &failing);
        async move {
            env.system.deps.clock.advance(minutes);
            shared::app::rescan(failing).await.unwrap()
        }
    };
    assert_eq!(rescan(3).await.mails_retried, 1);
    assert_eq!(
        rescan(3).await.mails_retried,
        0,
        "its second wait is 4 minutes"
    );
    assert_eq!(rescan(2).await.mails_retried, 1);
    // Past the bound: given up, and the slot it held is offered to the next wish at once.
    let report = rescan(61).await;
    assert_eq!(
        (report.mails_failed, report.offers_made, report.failures),
        (1, 1, 0),
        "{report:?}"
    );

    // Anna's wish is paused with its place; nobody holds the slot for her.
    let (_, wish) = env.get_json(&anna_page).await;
    assert_eq!(wish["status"], "paused", "{wish}");
    let (_, stats) = env.admin(reqwest::Method::GET, "/admin/stats", None).await;
    assert_eq!(stats["mails_failed"], 1, "{stats}");
    // The next wish's offer goes out (delivered as usual), with the events of it all.
    let to_ben = env.mails_to(&ben).await;
    assert_eq!(to_ben.len(), 3, "opt-in, confirmation, the offer");
    page_link(to_ben.last().unwrap(), "/o/");
    let (_, slot) = env
        .admin(reqwest::Method::GET, "/admin/slots/undeliverable-wed", None)
        .await;
    assert_eq!(slot["status"], "offered", "{slot}");
    let events: Vec<String> = observer.drain().await.into_iter().map(|(t, _)| t).collect();
    for (expected, n) in [
        ("OfferSent", 2),
        ("MailFailed", 1),
        ("WishPaused", 1),
        ("OfferWithdrawn", 1),
    ] {
        let seen = events.iter().filter(|e| *e == expected).count();
        assert_eq!(seen, n, "{expected}: {events:?}");
    }
    // Given up means never tried again (nor sent by the delivery that runs first here).
    env.system.deps.clock.advance(300);
    let report = env.system.rescan().await.unwrap();
    assert_eq!(report["mails_retried"], 0, "{report}");
    assert_eq!(env.mails_to(&anna).await.len(), 2);

    // The failed mail keeps neither its body nor its address.
    let mails = env
        .system
        .clients
        .dynamodb
        .scan()
        .table_name(&env.system.infra.wishes_table)
        .filter_expression("#status = :failed")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(
            ":failed",
            aws_sdk_dynamodb::types::AttributeValue::S("failed".into()),
        )
        .send()
        .await
        .unwrap();
    let failed = mails.items();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(!failed[0].contains_key("mime_z") && !failed[0].contains_key("to"));
    assert!(failed[0].contains_key("expires_at"));
}

/// SES's reports arrive on the default bus, which every test's system listens to: the tests that
/// publish them and count suppressed addresses take turns, each spawning its system only once
/// it has its turn (so no other's reports reach it).
static DEFAULT_BUS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// SES reports a bounce of `address` (`bounce_type` `Permanent` or `Transient`) as AWS sends it:
/// on the default bus, from `aws.ses`; the system then settles.
async fn publish_bounce(env: &TestEnv, address: &str, bounce_type: &str) {
    let mut event: serde_json::Value =
        serde_json::from_str(include_str!("../../../events/ses-bounce.json")).unwrap();
    let detail = &mut event["detail"];
    detail["bounce"]["bounceType"] = json!(bounce_type);
    detail["bounce"]["bouncedRecipients"][0]["emailAddress"] = json!(address);
    detail["mail"]["destination"][0] = json!(address);
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .source("aws.ses")
        .detail_type("Email Bounced")
        .detail(detail.to_string())
        .event_bus_name("default")
        .build();
    let out = env
        .system
        .clients
        .eventbridge
        .put_events()
        .entries(entry)
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_entry_count, 0);
    env.settle().await;
}

/// The address with a `+tag` before the @.
fn tagged(email: &str, tag: &str) -> String {
    let (local, domain) = email.split_once('@').unwrap();
    format!("{local}+{tag}@{domain}")
}

/// SES reports a permanent bounce (sent as AWS sends it: on the default bus, from `aws.ses`):
/// the address's wish in line is paused with no further mail, that very address is not
/// accepted again for a while (its `+tag` variants are other addresses: they are), and it is
/// counted. A transient bounce changes nothing; a repeated event changes nothing more.
#[tokio::test]
async fn a_bounce_pauses_the_wishes_of_the_address_and_suppresses_it() {
    use crate::helpers::next_local;
    let _turn = DEFAULT_BUS.lock().await;
    let env = TestEnv::spawn().await;
    let gone = env.email("bounced");
    let page = env.confirmed_wish(&gone, json!({"wed": [8]})).await;
    let wednesday = next_local(chrono::Weekday::Wed, 8, 30, 3);
    env.put_slots(
        &json!([{"id": "bounce-wed", "office": "bilk", "service": "id-card",
        "start": wednesday, "minutes": 15, "status": "free"}]),
    )
    .await;
    let before = env.mails_to(&gone).await.len();
    assert_eq!(before, 3, "opt-in, confirmation, the offer");

    publish_bounce(&env, &gone, "Transient").await;
    assert_eq!(
        env.get_json(&page).await.1["status"],
        "offered",
        "a full mailbox says nothing"
    );

    publish_bounce(&env, &gone, "Permanent").await;
    assert_eq!(env.get_json(&page).await.1["status"], "paused");
    let (_, slot) = env
        .admin(reqwest::Method::GET, "/admin/slots/bounce-wed", None)
        .await;
    assert_eq!(
        slot["status"], "free",
        "the slot is not held for the address: {slot}"
    );
    publish_bounce(&env, &gone, "Permanent").await;
    let (_, stats) = env.admin(reqwest::Method::GET, "/admin/stats", None).await;
    assert_eq!(stats["addresses_suppressed"], 1, "counted once: {stats}");
    assert_eq!(env.mails_to(&gone).await.len(), before, "no further mail");

    // The address itself is refused, on its field, saying why and how to go on.
    let wish = |email: &str| json!({"email": email, "service": "passport", "offices": ["bilk"], "windows": {"mon": [8]}});
    let (status, body) = env.post_json("/api/wishes", &wish(&gone)).await;
    assert_eq!(status, 422, "{body}");
    let said = body["fields"]["email"].as_str().unwrap();
    for part in [
        "could not be delivered",
        "another address",
        "phone",
        "counter",
    ] {
        assert!(said.contains(part), "{part}: {said}");
    }
    assert_eq!(env.mails_to(&gone).await.len(), before);
    // The form says it in the page's language.
    for (lang, part) in [
        ("de", "Unsere E-Mails an diese Adresse kamen nicht an"),
        ("en", "Our emails to this address could not be delivered"),
    ] {
        let page = env
            .http
            .post(env.url(&format!("/api/wishes?lang={lang}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "email={}&service=passport&offices=bilk&w=mon-8&language={lang}",
                gone.replace('@', "%40")
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 422);
        let html = page
            .text()
            .await
            .unwrap()
            .replace('\u{2060}', "")
            .replace('\u{a0}', " ");
        assert!(html.contains(part), "{lang}: {html}");
    }
    // A `+tag` variant is another address: SES did not report it.
    let (status, body) = env
        .post_json("/api/wishes", &wish(&tagged(&gone, "neu")))
        .await;
    assert_eq!(status, 202, "{body}");
}

/// Lock-out by bounce: someone leaves a wish for a `+tag` variant of Anna's address (many
/// providers refuse such addresses, so its confirmation mail bounces). The bounce names that
/// variant only: Anna's own wish keeps its offer, her address takes new wishes; the variant
/// alone is suppressed.
#[tokio::test]
async fn a_bounce_of_a_tagged_variant_neither_suppresses_nor_pauses_the_plain_address() {
    use crate::helpers::next_local;
    let _turn = DEFAULT_BUS.lock().await;
    let env = TestEnv::spawn().await;
    let anna = env.email("anna");
    let page = env.confirmed_wish(&anna, json!({"wed": [8]})).await;
    let wednesday = next_local(chrono::Weekday::Wed, 8, 30, 3);
    env.put_slots(
        &json!([{"id": "tagged-wed", "office": "bilk", "service": "id-card",
        "start": wednesday, "minutes": 15, "status": "free"}]),
    )
    .await;
    env.settle().await;
    assert_eq!(env.get_json(&page).await.1["status"], "offered");
    let wish = |email: &str| json!({"email": email, "service": "passport", "offices": ["bilk"], "windows": {"mon": [8]}});
    let variant = tagged(&anna, "x");
    let (status, body) = env.post_json("/api/wishes", &wish(&variant)).await;
    assert_eq!(status, 202, "{body}");
    publish_bounce(&env, &variant, "Permanent").await;

    let (_, shown) = env.get_json(&page).await;
    assert_eq!(shown["status"], "offered", "Anna's offer stands: {shown}");
    let (_, slot) = env
        .admin(reqwest::Method::GET, "/admin/slots/tagged-wed", None)
        .await;
    assert_eq!(slot["status"], "offered", "{slot}");
    let (status, body) = env.post_json("/api/wishes", &wish(&anna)).await;
    assert_eq!(status, 202, "Anna's address takes wishes: {body}");
    let (status, body) = env.post_json("/api/wishes", &wish(&variant)).await;
    assert_eq!(status, 422, "the variant is suppressed: {body}");
    let (_, stats) = env.admin(reqwest::Method::GET, "/admin/stats", None).await;
    assert_eq!(stats["addresses_suppressed"], 1, "{stats}");
}
