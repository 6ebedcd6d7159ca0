//! One pair of emulators per test binary; each test gets its own tables, bus and HTTP server.

use chrono::{Datelike, Duration, TimeZone, Utc};
use local_runner::devmail::DevMail;
use local_runner::emulators::{Emulators, default_log_dir};
use local_runner::runner::LocalSystem;
use serde_json::Value;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

fn emulators() -> &'static Emulators {
    static EMULATORS: OnceLock<Emulators> = OnceLock::new();
    EMULATORS.get_or_init(|| {
        // Started from a thread of its own so the children outlive any one test's runtime.
        std::thread::spawn(|| {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(Emulators::start(&default_log_dir()))
                .expect("emulators start (run scripts/bootstrap.sh first)")
        })
        .join()
        .unwrap()
    })
}

pub struct TestEnv {
    pub base: String,
    pub system: LocalSystem,
    pub http: reqwest::Client,
    id: String,
}

impl TestEnv {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// As [`TestEnv::spawn`], with the configuration changed first (e.g. the proof of work).
    pub async fn spawn_with(tweak: impl FnOnce(&mut shared::config::Config)) -> Self {
        Self::spawn_from(
            &local_runner::runner::repo_root().join("infra/template.yaml"),
            tweak,
        )
        .await
    }

    /// As [`TestEnv::spawn_with`], with the system built from `template` (a changed copy of
    /// `infra/template.yaml`: its routes, permissions and roles).
    pub async fn spawn_from(
        template: &std::path::Path,
        tweak: impl FnOnce(&mut shared::config::Config),
    ) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let id = format!(
            "t{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut system =
            LocalSystem::setup_from(emulators(), template, &format!("{id}-"), &base, ADMIN_KEY)
                .await
                .unwrap();
        tweak(&mut system.deps.config);
        let router = system.router();
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Self {
            base,
            system,
            http: reqwest::Client::new(),
            id,
        }
    }

    /// An address only this test uses, so mails can be told apart on the shared mail emulator.
    pub fn email(&self, name: &str) -> String {
        format!("{name}.{}@example.de", self.id)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        answered("POST", path, r).await
    }

    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    /// A POST as the page's button sends it, asking for JSON.
    pub async fn click(&self, url: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(url))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        answered("POST", url, r).await
    }

    /// The page at `url` as a browser gets it (HTML).
    pub async fn get_html(&self, url: &str) -> String {
        let r = self.http.get(self.url(url)).send().await.unwrap();
        r.text().await.unwrap()
    }

    pub async fn get_json(&self, url: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(url))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        answered("GET", url, r).await
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method.clone(), self.url(path))
            .bearer_auth(ADMIN_KEY);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        answered(method.as_str(), path, r).await
    }

    /// `PUT /admin/slots` as the booking system sends it. Asserts the `200` and that the answer
    /// accounts for every row sent, in order, with totals that match the rows; returns each row's
    /// outcome (`created`, `updated`, `unchanged` or `conflict`) for the caller to assert.
    pub async fn put_slots(&self, slots: &Value) -> Vec<String> {
        let (status, body) = self
            .admin(reqwest::Method::PUT, "/admin/slots", Some(slots.clone()))
            .await;
        assert_eq!(status, 200, "PUT /admin/slots: {body}");
        let sent: Vec<&str> = slots
            .as_array()
            .expect("a batch of slots")
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        let rows = body["slots"]
            .as_array()
            .unwrap_or_else(|| panic!("no per-row answer: {body}"));
        let answered: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(answered, sent, "one answer per row, in order: {body}");
        let outcomes: Vec<String> = rows
            .iter()
            .map(|r| r["result"].as_str().unwrap().to_owned())
            .collect();
        let mut counted = 0;
        for (total, outcome) in [
            ("created", "created"),
            ("updated", "updated"),
            ("unchanged", "unchanged"),
            ("conflicts", "conflict"),
        ] {
            let n = outcomes.iter().filter(|o| *o == outcome).count();
            assert_eq!(body[total].as_u64(), Some(n as u64), "{total}: {body}");
            counted += n;
        }
        assert_eq!(counted, outcomes.len(), "unknown outcomes: {body}");
        outcomes
    }

    /// The mails sent to `to` so far, once the outbox has been delivered (as deliver-outbox
    /// does in AWS, from the wishes table's stream).
    pub async fn mails_to(&self, to: &str) -> Vec<DevMail> {
        self.settle().await;
        self.sent_to(to).await
    }

    /// The mails sent to `to` so far, as they are (no delivery run first).
    pub async fn sent_to(&self, to: &str) -> Vec<DevMail> {
        self.system
            .mails()
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .collect()
    }

    /// This system's dependencies with the bus unreachable (a bus that does not exist).
    pub fn bus_down(&self) -> shared::Deps {
        let mut deps = self.system.deps.clone();
        senders(&mut deps).events =
            shared::events::Events::new(self.system.clients.eventbridge.clone(), "no-such-bus");
        deps
    }

    /// This system's dependencies with SES and the bus unreachable: whatever delivers with them
    /// delivers nothing (as if it crashed after its transaction).
    pub fn delivery_down(&self) -> shared::Deps {
        let mut deps = self.bus_down();
        let nowhere = aws_sdk_sesv2::Client::from_conf(
            self.system
                .clients
                .sesv2
                .config()
                .to_builder()
                .endpoint_url("http://127.0.0.1:9")
                .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled())
                .build(),
        );
        senders(&mut deps).mailer = shared::mailer::Mailer::new(nowhere, None);
        deps
    }

    pub async fn settle(&self) {
        self.system.settle().await.unwrap();
    }

    /// The newest mail to `email`, which must be an offer: the mail and its offer page's link.
    pub async fn latest_offer(&self, email: &str) -> (DevMail, String) {
        let mail = self.mails_to(email).await.pop().expect("a mail");
        assert!(
            mail.subject.starts_with("Terminangebot"),
            "{:?}",
            mail.subject
        );
        let link = page_link(&mail, "/o/");
        (mail, link)
    }

    /// Submits and confirms a wish; returns its page link.
    pub async fn confirmed_wish(&self, email: &str, windows: Value) -> String {
        self.confirmed_wish_with_id(email, windows).await.0
    }

    /// Submits and confirms a wish; returns its page link and the id the submission answered.
    pub async fn confirmed_wish_with_id(&self, email: &str, windows: Value) -> (String, String) {
        let (status, submitted) = self
            .post_json("/api/wishes", &serde_json::json!({"email": email, "service": "id-card", "offices": ["bilk"], "windows": windows}))
            .await;
        assert_eq!(status, 202);
        let id = submitted["id"].as_str().unwrap().to_owned();
        let link = page_link(&self.mails_to(email).await[0], "/w/");
        let (status, wish) = self.click(&format!("{link}/confirm")).await;
        assert_eq!((status, wish["status"].as_str()), (200, Some("waiting")));
        assert_eq!(
            wish["id"],
            id.as_str(),
            "the confirmed wish is the one submitted"
        );
        (link, id)
    }
}

/// The next `weekday` at `hour:minute` Berlin time at least `min_days` ahead, as RFC 3339.
pub fn next_local(weekday: chrono::Weekday, hour: u32, minute: u32, min_days: i64) -> String {
    let tz = chrono_tz::Europe::Berlin;
    let mut day = (Utc::now() + Duration::days(min_days))
        .with_timezone(&tz)
        .date_naive();
    while day.weekday() != weekday {
        day = day.succ_opt().unwrap();
    }
    let local = tz
        .from_local_datetime(&day.and_hms_opt(hour, minute, 0).unwrap())
        .single()
        .unwrap();
    local.to_rfc3339()
}

/// The first link in a mail to a page of this kind (`/w/` or `/o/`), without an action suffix.
pub fn page_link(mail: &DevMail, kind: &str) -> String {
    mail.links
        .iter()
        .find(|l| {
            l.split_once(kind)
                .is_some_and(|(_, rest)| !rest.contains('/'))
        })
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} link in {:?}", mail.links))
}

pub fn parse_time(s: &str) -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&Utc)
}

/// A consumer of the bus, as the city's booking system would add one: a rule for every
/// Terminagent event, into a queue of its own.
pub struct Observer {
    queue: local_runner::pollers::EventQueuePoller,
}

impl Observer {
    pub async fn attach(env: &TestEnv) -> Self {
        use aws_sdk_sqs::types::QueueAttributeName;
        let clients = &env.system.clients;
        let bus = &env.system.infra.event_bus;
        let name = format!("{bus}-observer");
        let url = clients
            .sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = clients
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()
            .remove(&QueueAttributeName::QueueArn)
            .unwrap();
        clients
            .eventbridge
            .put_rule()
            .name(&name)
            .event_bus_name(bus)
            .event_pattern(serde_json::json!({"source": [shared::events::SOURCE]}).to_string())
            .send()
            .await
            .unwrap();
        let added = clients
            .eventbridge
            .put_targets()
            .rule(&name)
            .event_bus_name(bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("observer")
                    .arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(added.failed_entry_count, 0);
        Self {
            queue: local_runner::pollers::EventQueuePoller::new(clients.sqs.clone(), url),
        }
    }

    /// The events published since the last call: (detail-type, detail), each checked against
    /// its JSON Schema in `docs/events/`.
    pub async fn drain(&self) -> Vec<(String, serde_json::Value)> {
        let mut seen = Vec::new();
        let mut empty = 0;
        while empty < 2 {
            let batch = self.queue.poll(0).await.unwrap();
            if batch.is_empty() {
                empty += 1;
            }
            for e in batch {
                assert_matches_schema(&e.detail_type, &e.detail);
                seen.push((e.detail_type, e.detail));
            }
        }
        seen
    }
}

/// Checks an event's detail against `docs/events/<detail-type>.schema.json`; every event type
/// must have one.
pub fn assert_matches_schema(detail_type: &str, detail: &serde_json::Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/events")
        .join(format!("{detail_type}.schema.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no schema for {detail_type} at {}: {e}", path.display()));
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let problems: Vec<String> = validator
        .iter_errors(detail)
        .map(|e| e.to_string())
        .collect();
    assert!(
        problems.is_empty(),
        "{detail_type} does not match its schema: {problems:?} in {detail}"
    );
}

/// The status and JSON body of an answer (`Null` when it is not JSON), after checking it against
/// the OpenAPI document: a documented route answers only documented statuses, and a JSON body
/// matches the schema documented for its status.
async fn answered(method: &str, url: &str, response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let is_json = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = response.json().await.unwrap_or(Value::Null);
    assert_matches_openapi(method, url, status, is_json.then_some(&body));
    (status, body)
}

fn openapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(shared::http::openapi::DOCUMENT).unwrap())
}

/// The documented path template a request path falls under (`/w/{token}` for `/w/abc`).
fn path_template(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    openapi()["paths"]
        .as_object()?
        .keys()
        .find(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()))
        })
        .map(String::as_str)
}

/// Checks one answer against the OpenAPI document (see [`answered`]); paths it does not
/// describe (the local runner's `/_dev/…`, unknown paths) are not checked.
pub fn assert_matches_openapi(method: &str, url: &str, status: u16, json: Option<&Value>) {
    let path = url.split_once("://").map_or(url, |(_, rest)| {
        rest.find('/').map_or("/", |at| &rest[at..])
    });
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let Some(template) = path_template(path) else {
        return;
    };
    let doc = openapi();
    let Some(operation) = doc["paths"][template].get(method.to_lowercase()) else {
        assert_eq!(status, 405, "{method} {template} is not documented");
        return;
    };
    let response = operation["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| {
            panic!("{method} {template} answered {status}, which is not documented")
        });
    let Some(body) = json else {
        return;
    };
    let schema = response["content"]["application/json"]["schema"].clone();
    assert!(
        schema.is_object(),
        "{method} {template} {status} answered JSON, documented without: {body}"
    );
    let mut root = serde_json::json!({"$schema": "https://json-schema.org/draft/2020-12/schema"});
    root["allOf"] = serde_json::json!([schema]);
    root["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&root).unwrap();
    let problems: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(
        problems.is_empty(),
        "{method} {template} {status} does not match the OpenAPI document: {problems:?} in {body}"
    );
}

/// The lines' counts (`QN#…` items) hold exactly what the entries (`Q#…` items) of this test's
/// table say: per line, the entries per UTC day of confirmation and, per day, per hour — no count
/// missing, none left over, no count left at zero; and each one-person line's `#parties` counts
/// the entries of the families' lines of its hour, by size.
pub async fn assert_line_counts_match_entries(env: &TestEnv) {
    use shared::store::keys;
    use std::collections::BTreeMap;
    let db = &env.system.clients.dynamodb;
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = db
            .scan()
            .table_name(&env.system.infra.wishes_table)
            .filter_expression("begins_with(pk, :q)")
            .expression_attribute_values(
                ":q",
                aws_sdk_dynamodb::types::AttributeValue::S("Q".into()),
            )
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    let text =
        |item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
         name: &str| { item[name].as_s().unwrap().clone() };
    let mut expected: BTreeMap<(String, String), BTreeMap<String, i64>> = BTreeMap::new();
    let mut actual: BTreeMap<(String, String), BTreeMap<String, i64>> = BTreeMap::new();
    for item in &items {
        let (pk, sk) = (text(item, "pk"), text(item, "sk"));
        if sk == keys::PARTIES_SK {
            let counts: BTreeMap<String, i64> = item
                .iter()
                .filter(|(name, _)| *name != "pk" && *name != "sk")
                .map(|(name, v)| (name.clone(), v.as_n().unwrap().parse().unwrap()))
                .filter(|(_, n)| *n != 0)
                .collect();
            if !counts.is_empty() {
                actual.insert((pk, sk), counts);
            }
        } else if pk.starts_with("QN#") {
            let counts: BTreeMap<String, i64> = item
                .iter()
                .filter(|(name, _)| *name != "pk" && *name != "sk")
                .map(|(name, v)| (name.clone(), v.as_n().unwrap().parse().unwrap()))
                .collect();
            if !counts.is_empty() {
                actual.insert((pk, sk), counts);
            }
        } else if pk.starts_with("Q#") && sk.as_str() >= keys::ENTRIES_FROM {
            let at = parse_time(sk.split_once('#').unwrap().0);
            if let Some((one_person_line, persons)) = keys::family_of_line(&pk) {
                *expected
                    .entry((one_person_line.to_owned(), keys::PARTIES_SK.to_owned()))
                    .or_default()
                    .entry(keys::party_count(persons))
                    .or_default() += 1;
            }
            let counts = keys::line_counts_pk(&pk);
            *expected
                .entry((counts.clone(), keys::LINE_DAYS_SK.to_owned()))
                .or_default()
                .entry(keys::day_count(at))
                .or_default() += 1;
            *expected
                .entry((counts, keys::line_hours_sk(at)))
                .or_default()
                .entry(keys::hour_count(at))
                .or_default() += 1;
        }
    }
    assert_eq!(actual, expected, "the lines' counts against their entries");
}

/// The senders of the local system's dependencies (which deliver, as the runner builds them).
pub fn senders(deps: &mut shared::Deps) -> &mut shared::Senders {
    deps.senders
        .as_mut()
        .expect("the local system's dependencies deliver")
}
