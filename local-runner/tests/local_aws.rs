//! The local AWS stand-in against the real emulators: run `. .local/env.sh` first.
//!
//! One emulator pair serves the whole binary ([`emulators::shared`]); each test makes its own
//! clients (its own runtime) and its own resource prefix and recipients.

// Helpers outside #[test] fns are test code too (clippy.toml's allow-*-in-tests misses them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsBatchResponse;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use local_runner::devmail::sent_mails;
use local_runner::emulators::{self, Clients, Emulators};
use local_runner::infra::{Infra, create_infra, template_tables};
use local_runner::pollers::{EventQueuePoller, MatchQueuePoller, StreamPoller};
use serde::Deserialize;

const MAIL_FROM: &str = "termine@example.org";

fn template() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml")
}

/// A prefix no other test in this process uses.
fn unique_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}x{}-",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn setup() -> (&'static Emulators, Clients, Infra) {
    let emulators = emulators::shared().await.unwrap();
    let clients = emulators.clients(&emulators.sdk_config().await);
    let infra = create_infra(&clients, &template(), &unique_prefix(), MAIL_FROM)
        .await
        .unwrap();
    (emulators, clients, infra)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn create_infra_builds_every_table_as_the_template_defines_it() {
    let (_, clients, infra) = setup().await;
    let prefix = infra.wishes_table.trim_end_matches("WishesTable");

    for def in template_tables(&template()).unwrap() {
        let table = clients
            .dynamodb
            .describe_table()
            .table_name(format!("{prefix}{}", def.logical_id))
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        let keys: Vec<(String, String)> = table
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    k.key_type().as_str().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = def
            .key_schema
            .iter()
            .map(|k| (k.attribute_name.clone(), k.key_type.clone()))
            .collect();
        assert_eq!(keys, expected, "{}", def.logical_id);

        let mut indexes: Vec<String> = table
            .global_secondary_indexes()
            .iter()
            .map(|i| i.index_name().unwrap().to_owned())
            .collect();
        indexes.sort();
        let mut expected: Vec<String> = def
            .global_secondary_indexes
            .iter()
            .map(|i| i.index_name.clone())
            .collect();
        expected.sort();
        assert_eq!(indexes, expected, "{}", def.logical_id);

        let stream = table
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str().to_owned());
        assert_eq!(stream, def.stream_view_type, "{}", def.logical_id);
        assert_eq!(
            table
                .billing_mode_summary()
                .and_then(|b| b.billing_mode())
                .map(aws_sdk_dynamodb::types::BillingMode::as_str),
            Some("PAY_PER_REQUEST")
        );
    }
    let ttl = clients
        .dynamodb
        .describe_time_to_live()
        .table_name(&infra.wishes_table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|t| t.attribute_name()),
        Some("expires_at")
    );
    assert!(infra.slots_stream_arn.contains(&infra.slots_table));

    clients
        .eventbridge
        .describe_event_bus()
        .name(&infra.event_bus)
        .send()
        .await
        .unwrap();
    let identity = clients
        .sesv2
        .get_email_identity()
        .email_identity(MAIL_FROM)
        .send()
        .await
        .unwrap();
    assert!(identity.verified_for_sending_status() || identity.verification_status().is_some());
}

#[tokio::test]
async fn create_infra_twice_with_one_prefix_reuses_what_exists() {
    let (_, clients, first) = setup().await;
    let prefix = first.wishes_table.trim_end_matches("WishesTable");
    let again = create_infra(&clients, &template(), prefix, MAIL_FROM)
        .await
        .unwrap();
    assert_eq!(again.slots_stream_arn, first.slots_stream_arn);
    assert_eq!(again.events_queue_url, first.events_queue_url);
}

#[derive(Debug, Deserialize, PartialEq)]
struct SlotItem {
    id: String,
    status: String,
    minutes: u32,
}

async fn poll_stream_until(
    poller: &mut StreamPoller,
    count: usize,
) -> Vec<aws_lambda_events::event::dynamodb::EventRecord> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut records = Vec::new();
    while records.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} stream records after 15 s",
            records.len()
        );
        records.extend(poller.poll().await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    records
}

#[tokio::test]
async fn the_stream_poller_hands_out_slot_changes_as_lambda_records() {
    let (_, clients, infra) = setup().await;
    let mut poller = StreamPoller::new(clients.streams.clone(), &infra.slots_stream_arn);
    // An empty stream is not an error, however often it is read.
    for _ in 0..3 {
        assert!(poller.poll().await.unwrap().is_empty());
    }

    let put = |status: &str| {
        clients
            .dynamodb
            .put_item()
            .table_name(&infra.slots_table)
            .item("id", AttributeValue::S("slot-1".into()))
            .item("status", AttributeValue::S(status.into()))
            .item("minutes", AttributeValue::N("15".into()))
            .send()
    };
    put("free").await.unwrap();
    let records = poll_stream_until(&mut poller, 1).await;
    assert_eq!(records.len(), 1);
    let insert = &records[0];
    assert_eq!(insert.event_name, "INSERT");
    assert_eq!(insert.event_source.as_deref(), Some("aws:dynamodb"));
    assert_eq!(insert.aws_region, emulators::REGION);
    assert_eq!(
        insert.event_source_arn.as_deref(),
        Some(infra.slots_stream_arn.as_str())
    );
    assert!(!insert.event_id.is_empty());
    assert!(insert.change.sequence_number.is_some());
    assert_eq!(
        insert.change.stream_view_type,
        Some(aws_lambda_events::event::dynamodb::StreamViewType::NewAndOldImages)
    );
    let slot: SlotItem = serde_dynamo::from_item(insert.change.new_image.clone()).unwrap();
    assert_eq!(
        slot,
        SlotItem {
            id: "slot-1".into(),
            status: "free".into(),
            minutes: 15
        }
    );
    assert!(insert.change.old_image.is_empty());

    put("booked").await.unwrap();
    clients
        .dynamodb
        .delete_item()
        .table_name(&infra.slots_table)
        .key("id", AttributeValue::S("slot-1".into()))
        .send()
        .await
        .unwrap();
    let records = poll_stream_until(&mut poller, 2).await;
    let names: Vec<&str> = records.iter().map(|r| r.event_name.as_str()).collect();
    assert_eq!(names, ["MODIFY", "REMOVE"]);
    let old: SlotItem = serde_dynamo::from_item(records[0].change.old_image.clone()).unwrap();
    let new: SlotItem = serde_dynamo::from_item(records[0].change.new_image.clone()).unwrap();
    assert_eq!(
        (old.status.as_str(), new.status.as_str()),
        ("free", "booked")
    );
    assert!(records[1].change.new_image.is_empty());

    // Read once, handed out once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(poller.poll().await.unwrap().is_empty());
}

#[tokio::test]
async fn ses_feedback_reaches_the_events_queue_and_our_own_events_do_not() {
    use aws_sdk_eventbridge::types::PutEventsRequestEntry;
    let (_, clients, infra) = setup().await;
    let poller = EventQueuePoller::new(clients.sqs.clone(), &infra.events_queue_url);
    let ours = |detail_type: &str, detail: &str| {
        PutEventsRequestEntry::builder()
            .event_bus_name(&infra.event_bus)
            .source("terminagent")
            .detail_type(detail_type)
            .detail(detail)
            .build()
    };
    let out = clients
        .eventbridge
        .put_events()
        .entries(ours("OfferSent", r#"{"offer":"o-1"}"#))
        // Released slots reach match-offers through its FIFO queue, not through the bus.
        .entries(ours(
            "SlotReleased",
            r#"{"slot":{"id":"s-1","minutes":15}}"#,
        ))
        .entries(
            PutEventsRequestEntry::builder()
                .source("aws.ses")
                .detail_type("Email Bounced")
                .detail(r#"{"eventType":"Bounce"}"#)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_entry_count(), 0);

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut events = Vec::new();
    while events.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no event in the queue after 10 s"
        );
        events = poller.poll(1).await.unwrap();
    }
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].detail_type, "Email Bounced");
    assert_eq!(events[0].detail, serde_json::json!({"eventType": "Bounce"}));
    assert!(events[0].id.is_some());
    // Deleted once read, and our own events were never routed.
    assert!(poller.poll(1).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_match_queue_hands_out_a_lines_slots_one_batch_at_a_time_in_order() {
    use shared::matchqueue::{MatchQueue, Release};
    let (_, clients, infra) = setup().await;
    let slot = |id: &str, start: &str| shared::triggers::ReleasedSlot {
        id: id.into(),
        office: "bilk".into(),
        service: "id-card".into(),
        start: start.into(),
        minutes: 15,
        persons: 1,
    };
    // a1 and a2 in one line (Wednesday 8:00–9:00), b1 in another (9:00–10:00).
    let slots = [
        slot("a1", "2026-12-09T07:00:00Z"),
        slot("b1", "2026-12-09T08:00:00Z"),
        slot("a2", "2026-12-09T07:15:00Z"),
    ];
    let releases: Vec<Release> = slots
        .iter()
        .enumerate()
        .map(|(n, slot)| Release {
            dedup: ["1", "2", "3"][n],
            slot,
        })
        .collect();
    let queue = MatchQueue::new(clients.sqs.clone(), &infra.match_queue_url);
    assert!(queue.send_all(&releases).await.iter().all(Result::is_ok));
    // The same releases again (a stream batch retried): dropped as duplicates.
    assert!(queue.send_all(&releases).await.iter().all(Result::is_ok));

    let ids = |batch: &aws_lambda_events::event::sqs::SqsEvent| -> Vec<String> {
        batch
            .records
            .iter()
            .map(|m| {
                let body: serde_json::Value =
                    serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
                body["detail"]["slot"]["id"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    // One matcher takes a1 alone; while it is in flight, another gets only b1.
    let first = clients
        .sqs
        .receive_message()
        .queue_url(&infra.match_queue_url)
        .max_number_of_messages(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.messages().len(), 1);
    let poller = MatchQueuePoller::new(clients.sqs.clone(), &infra.match_queue_url);
    let second = poller.receive(0).await.unwrap();
    assert_eq!(ids(&second), ["b1"], "a2 waits behind a1 in flight");
    poller
        .finish(&second, &SqsBatchResponse::default())
        .await
        .unwrap();
    clients
        .sqs
        .delete_message()
        .queue_url(&infra.match_queue_url)
        .receipt_handle(first.messages()[0].receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    // a1 done: a2 comes; reported as failed, it comes back at once; matched, it is gone.
    let third = poller.receive(0).await.unwrap();
    assert_eq!(ids(&third), ["a2"]);
    let mut failed = SqsBatchResponse::default();
    failed.add_failure(third.records[0].message_id.clone().unwrap());
    poller.finish(&third, &failed).await.unwrap();
    let again = poller.receive(0).await.unwrap();
    assert_eq!(ids(&again), ["a2"]);
    poller
        .finish(&again, &SqsBatchResponse::default())
        .await
        .unwrap();
    assert!(poller.receive(0).await.unwrap().records.is_empty());
}

#[tokio::test]
async fn a_raw_mime_mail_sent_through_sesv2_is_read_back_as_sent() {
    let (emulators, clients, _) = setup().await;
    let to = format!("{}@example.com", unique_prefix().trim_end_matches('-'));
    let raw = format!(
        "From: Terminagent <{MAIL_FROM}>\r\n\
         To: {to}\r\n\
         Subject: =?utf-8?Q?Terminangebot_f=C3=BCr_Sie?=\r\n\
         Date: Fri, 20 Nov 2026 23:25:00 +0100\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"m\"\r\n\
         \r\n\
         --m\r\n\
         Content-Type: multipart/alternative; boundary=\"a\"\r\n\
         \r\n\
         --a\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Annehmen: http://127.0.0.1:3000/o/abc/accept\r\n\
         Ablehnen: http://127.0.0.1:3000/o/abc/decline\r\n\
         --a\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         \r\n\
         <a href=\"http://127.0.0.1:3000/o/abc/accept\">Annehmen</a> \
         <a href=\"http://127.0.0.1:3000/o/abc\">Ansehen</a>\r\n\
         --a--\r\n\
         --m\r\n\
         Content-Type: text/calendar; charset=utf-8\r\n\
         Content-Disposition: attachment; filename=\"termin.ics\"\r\n\
         \r\n\
         BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n\
         --m--\r\n"
    );
    let sent = clients
        .sesv2
        .send_email()
        .from_email_address(MAIL_FROM)
        .destination(Destination::builder().to_addresses(&to).build())
        .content(
            EmailContent::builder()
                .raw(RawMessage::builder().data(Blob::new(raw)).build().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let id = sent.message_id().unwrap();

    let mails = sent_mails(&http(), emulators.mail_endpoint())
        .await
        .unwrap();
    let mail = mails
        .iter()
        .find(|m| m.id == id)
        .expect("the sent mail is listed");
    assert_eq!(mail.to, [to.as_str()]);
    assert_eq!(mail.subject, "Terminangebot für Sie");
    assert!(
        mail.text
            .starts_with("Annehmen: http://127.0.0.1:3000/o/abc/accept")
    );
    assert!(mail.html.contains("Ansehen"));
    assert_eq!(
        mail.links,
        [
            "http://127.0.0.1:3000/o/abc/accept",
            "http://127.0.0.1:3000/o/abc/decline",
            "http://127.0.0.1:3000/o/abc",
        ]
    );
    assert_eq!(mail.attachments, ["termin.ics"]);
    assert_eq!(mail.sent_at, "2026-11-20T23:25:00+01:00");

    // Oldest first: a second mail comes after the first.
    let second = clients
        .sesv2
        .send_email()
        .from_email_address(MAIL_FROM)
        .destination(Destination::builder().to_addresses(&to).build())
        .content(
            EmailContent::builder()
                .raw(
                    RawMessage::builder()
                        .data(Blob::new(format!(
                            "From: {MAIL_FROM}\r\nTo: {to}\r\nSubject: 2\r\n\r\nx\r\n"
                        )))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mails = sent_mails(&http(), emulators.mail_endpoint())
        .await
        .unwrap();
    let position = |id: &str| mails.iter().position(|m| m.id == id).unwrap();
    assert!(position(id) < position(second.message_id().unwrap()));
}

/// Whether nothing listens any more. A stopped emulator refuses at once; a live one may be slow to
/// answer on a loaded machine, so the timeout is generous.
async fn refuses(endpoint: &str) -> bool {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    client.get(endpoint).send().await.is_err()
}

async fn wait_until_refused(endpoint: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while !refuses(endpoint).await {
        assert!(Instant::now() < deadline, "{endpoint} still answers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn stopping_the_emulators_ends_every_process() {
    let logs = std::env::temp_dir().join(format!("terminagent-stop-{}", std::process::id()));
    let emulators = Emulators::start(&logs).await.unwrap();
    let (ddb, moto, mail) = (
        emulators.dynamodb_endpoint().to_owned(),
        emulators.moto_endpoint().to_owned(),
        emulators.mail_endpoint().to_owned(),
    );
    assert!(!refuses(&ddb).await && !refuses(&moto).await && !refuses(&mail).await);
    emulators.stop().await;
    wait_until_refused(&ddb, Duration::from_secs(2)).await;
    wait_until_refused(&moto, Duration::from_secs(2)).await;
    wait_until_refused(&mail, Duration::from_secs(2)).await;
}

const HELPER_ENV: &str = "TERMINAGENT_EMULATOR_EXIT_HELPER";

/// Run by `emulators_die_with_the_process_that_started_them` in a child process: starts a pair,
/// prints their endpoints, and exits without dropping them.
#[tokio::test]
#[ignore = "a helper process for another test"]
async fn helper_start_emulators_and_exit_without_cleanup() {
    let Some(logs) = std::env::var_os(HELPER_ENV) else {
        return;
    };
    let emulators = Emulators::start(Path::new(&logs)).await.unwrap();
    println!(
        "ENDPOINTS {} {}",
        emulators.dynamodb_endpoint(),
        emulators.moto_endpoint()
    );
    std::mem::forget(emulators);
    std::process::exit(0);
}

#[tokio::test]
async fn emulators_die_with_the_process_that_started_them() {
    let logs = std::env::temp_dir().join(format!("terminagent-exit-{}", std::process::id()));
    let out = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_start_emulators_and_exit_without_cleanup",
            "--ignored",
            "--nocapture",
        ])
        .env(HELPER_ENV, &logs)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ENDPOINTS "))
        .unwrap_or_else(|| {
            panic!(
                "helper printed no endpoints:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let (ddb, moto) = line.split_once(' ').unwrap();
    // The watchdog looks once a second, then gives TERM up to 5 s before KILL.
    wait_until_refused(moto, Duration::from_secs(10)).await;
    wait_until_refused(ddb, Duration::from_secs(10)).await;
}
