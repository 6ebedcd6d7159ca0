//! The local AWS stand-in: `DynamoDB` Local and moto as child processes, the tables, bus, rule and
//! SES identity created from `infra/template.yaml`, and pollers that feed the functions the way
//! Lambda's event source mappings and `EventBridge` targets would.

use anyhow::{Context, Result, anyhow, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use mail_parser::MimeHeaders;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

pub const REGION: &str = "eu-central-1";

/// The repository root (where `infra/` and `.local/` live).
#[must_use]
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn env_path(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| {
        anyhow!("{name} is not set: run `bash scripts/bootstrap.sh` and `. .local/env.sh` first")
    })
}

/// `DynamoDB` Local and moto, running. Killed on drop; a watchdog also kills them when the process
/// that started them exits without dropping (a test binary's shared instance).
pub struct Emulators {
    pub dynamodb_url: String,
    pub moto_url: String,
    children: Vec<Child>,
}

/// Starts `program` under a small shell watchdog that ends it when `parent` is gone.
fn spawn_watched(program: &str, args: &[String], log: &Path) -> Result<Child> {
    let parent = std::process::id();
    let quoted: Vec<String> = std::iter::once(program.to_owned())
        .chain(args.iter().cloned())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let script = format!(
        "{} & child=$!; trap 'kill $child 2>/dev/null; exit 0' TERM INT; \
         while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done; kill $child 2>/dev/null; wait $child",
        quoted.join(" ")
    );
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {program}"))
}

async fn wait_until_up(url: &str, log: &Path) -> Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..240 {
        if http
            .get(url)
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let tail = std::fs::read_to_string(log).unwrap_or_default();
    let tail: String = tail
        .lines()
        .rev()
        .take(20)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    bail!(
        "{url} did not come up within 60 s; log {}:\n{tail}",
        log.display()
    )
}

impl Emulators {
    /// Starts both emulators on free loopback ports, logs under `log_dir`.
    pub async fn start(log_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(log_dir)?;
        let jar = env_path("TERMINAGENT_DDB_JAR")?;
        let lib = env_path("TERMINAGENT_DDB_LIB")?;
        let moto = env_path("TERMINAGENT_MOTO_SERVER")?;
        let (ddb_port, moto_port) = (free_port()?, free_port()?);
        let ddb_log = log_dir.join(format!("dynamodb-{ddb_port}.log"));
        let moto_log = log_dir.join(format!("moto-{moto_port}.log"));
        let ddb = spawn_watched(
            "java",
            &[
                format!("-Djava.library.path={lib}"),
                "-jar".into(),
                jar,
                "-inMemory".into(),
                "-sharedDb".into(),
                "-port".into(),
                ddb_port.to_string(),
            ],
            &ddb_log,
        )?;
        let moto = spawn_watched(
            &moto,
            &[
                "-H".into(),
                "127.0.0.1".into(),
                "-p".into(),
                moto_port.to_string(),
            ],
            &moto_log,
        )?;
        let me = Self {
            dynamodb_url: format!("http://127.0.0.1:{ddb_port}"),
            moto_url: format!("http://127.0.0.1:{moto_port}"),
            children: vec![ddb, moto],
        };
        wait_until_up(&me.dynamodb_url, &ddb_log).await?;
        wait_until_up(&format!("{}/moto-api/data.json", me.moto_url), &moto_log).await?;
        Ok(me)
    }

    /// Environment for processes that should reach these emulators with the real SDK.
    #[must_use]
    pub fn endpoint_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL_DYNAMODB", self.dynamodb_url.as_str()),
            (
                "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
                self.dynamodb_url.as_str(),
            ),
            ("AWS_ENDPOINT_URL_SESV2", self.moto_url.as_str()),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", self.moto_url.as_str()),
            ("AWS_ENDPOINT_URL_SQS", self.moto_url.as_str()),
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Real SDK clients, each pointed at its emulator. Build them inside the runtime that uses them.
    pub async fn clients(&self) -> Clients {
        let sdk: SdkConfig = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "static",
            ))
            .load()
            .await;
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .endpoint_url(&self.dynamodb_url)
                    .build(),
            ),
            streams: aws_sdk_dynamodbstreams::Client::from_conf(
                aws_sdk_dynamodbstreams::config::Builder::from(&sdk)
                    .endpoint_url(&self.dynamodb_url)
                    .build(),
            ),
            sesv2: aws_sdk_sesv2::Client::from_conf(
                aws_sdk_sesv2::config::Builder::from(&sdk)
                    .endpoint_url(&self.moto_url)
                    .build(),
            ),
            eventbridge: aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(&sdk)
                    .endpoint_url(&self.moto_url)
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&sdk)
                    .endpoint_url(&self.moto_url)
                    .build(),
            ),
        }
    }

    pub async fn stop(mut self) {
        for child in &mut self.children {
            let _ = child.kill().await;
        }
    }
}

impl Drop for Emulators {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.start_kill();
        }
    }
}

#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sesv2: aws_sdk_sesv2::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
}

// ---- infrastructure from the SAM template -----------------------------------------------------

/// A table as the template defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    pub logical_id: String,
    pub attributes: Vec<(String, String)>,
    pub keys: Vec<(String, String)>,
    pub indexes: Vec<(String, Vec<(String, String)>)>,
    pub stream: Option<String>,
}

fn load_template(path: &Path) -> Result<serde_yaml::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn resources(t: &serde_yaml::Value) -> Result<&serde_yaml::Mapping> {
    t.get("Resources")
        .and_then(serde_yaml::Value::as_mapping)
        .ok_or_else(|| anyhow!("template has no Resources"))
}

fn text(v: &serde_yaml::Value, key: &str) -> Result<String> {
    v.get(key)
        .and_then(serde_yaml::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("missing {key}"))
}

fn pairs(v: Option<&serde_yaml::Value>, a: &str, b: &str) -> Result<Vec<(String, String)>> {
    v.and_then(serde_yaml::Value::as_sequence).map_or_else(
        || Ok(Vec::new()),
        |s| s.iter().map(|e| Ok((text(e, a)?, text(e, b)?))).collect(),
    )
}

/// The `AWS::DynamoDB::Table` resources of the template.
pub fn template_tables(template: &Path) -> Result<Vec<TableDef>> {
    let t = load_template(template)?;
    let mut tables = Vec::new();
    for (id, res) in resources(&t)? {
        if res.get("Type").and_then(serde_yaml::Value::as_str) != Some("AWS::DynamoDB::Table") {
            continue;
        }
        let id = id.as_str().unwrap_or_default().to_owned();
        let p = res
            .get("Properties")
            .ok_or_else(|| anyhow!("{id} has no Properties"))?;
        let indexes = p
            .get("GlobalSecondaryIndexes")
            .and_then(serde_yaml::Value::as_sequence)
            .map(|s| {
                s.iter()
                    .map(|g| {
                        Ok((
                            text(g, "IndexName")?,
                            pairs(g.get("KeySchema"), "AttributeName", "KeyType")?,
                        ))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default();
        tables.push(TableDef {
            attributes: pairs(
                p.get("AttributeDefinitions"),
                "AttributeName",
                "AttributeType",
            )?,
            keys: pairs(p.get("KeySchema"), "AttributeName", "KeyType")?,
            indexes,
            stream: p
                .get("StreamSpecification")
                .and_then(|s| s.get("StreamViewType"))
                .and_then(serde_yaml::Value::as_str)
                .map(str::to_owned),
            logical_id: id,
        });
    }
    Ok(tables)
}

/// The event patterns of the template's `AWS::Events::Rule` resources that have one.
pub fn template_rules(template: &Path) -> Result<Vec<(String, serde_json::Value)>> {
    let t = load_template(template)?;
    let mut rules = Vec::new();
    for (id, res) in resources(&t)? {
        if res.get("Type").and_then(serde_yaml::Value::as_str) != Some("AWS::Events::Rule") {
            continue;
        }
        if let Some(pattern) = res.get("Properties").and_then(|p| p.get("EventPattern")) {
            rules.push((
                id.as_str().unwrap_or_default().to_owned(),
                serde_json::to_value(pattern)?,
            ));
        }
    }
    Ok(rules)
}

/// What `create_infra` made.
#[derive(Debug, Clone)]
pub struct Infra {
    pub wishes_table: String,
    pub slots_table: String,
    pub slots_stream_arn: String,
    pub event_bus: String,
    pub events_queue_url: String,
    pub mail_from: String,
}

fn key_type(k: &str) -> KeyType {
    if k == "RANGE" {
        KeyType::Range
    } else {
        KeyType::Hash
    }
}

fn keys(list: &[(String, String)]) -> Result<Vec<KeySchemaElement>> {
    list.iter()
        .map(|(n, k)| {
            Ok(KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(key_type(k))
                .build()?)
        })
        .collect()
}

#[allow(clippy::too_many_lines)] // one linear set-up script; splitting it hides the order
/// Creates every table, the bus, each rule (with an SQS target the runner reads) and the SES
/// sender identity, named with `prefix`.
pub async fn create_infra(
    clients: &Clients,
    template: &Path,
    prefix: &str,
    mail_from: &str,
) -> Result<Infra> {
    let mut names = HashMap::new();
    for def in template_tables(template)? {
        let name = format!("{prefix}{}", def.logical_id);
        let mut req = clients
            .dynamodb
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(keys(&def.keys)?));
        for (n, t) in &def.attributes {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(n)
                    .attribute_type(ScalarAttributeType::from(t.as_str()))
                    .build()?,
            );
        }
        for (index, schema) in &def.indexes {
            req = req.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index)
                    .set_key_schema(Some(keys(schema)?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()?,
            );
        }
        if let Some(view) = &def.stream {
            req = req.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view.as_str()))
                    .build()?,
            );
        }
        req.send()
            .await
            .with_context(|| format!("creating table {name}"))?;
        names.insert(def.logical_id, name);
    }
    let wishes_table = names
        .get("WishesTable")
        .cloned()
        .ok_or_else(|| anyhow!("template has no WishesTable"))?;
    let slots_table = names
        .get("SlotsTable")
        .cloned()
        .ok_or_else(|| anyhow!("template has no SlotsTable"))?;
    let described = clients
        .dynamodb
        .describe_table()
        .table_name(&slots_table)
        .send()
        .await?;
    let slots_stream_arn = described
        .table()
        .and_then(|t| t.latest_stream_arn())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("SlotsTable has no stream"))?;

    let event_bus = format!("{prefix}bus");
    clients
        .eventbridge
        .create_event_bus()
        .name(&event_bus)
        .send()
        .await?;
    let queue_url = clients
        .sqs
        .create_queue()
        .queue_name(format!("{prefix}events"))
        .send()
        .await?
        .queue_url
        .ok_or_else(|| anyhow!("no queue url"))?;
    let queue_arn = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .ok_or_else(|| anyhow!("no queue arn"))?;
    for (id, pattern) in template_rules(template)? {
        let rule = format!("{prefix}{id}");
        clients
            .eventbridge
            .put_rule()
            .name(&rule)
            .event_bus_name(&event_bus)
            .event_pattern(pattern.to_string())
            .send()
            .await?;
        clients
            .eventbridge
            .put_targets()
            .rule(&rule)
            .event_bus_name(&event_bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("runner")
                    .arn(&queue_arn)
                    .build()?,
            )
            .send()
            .await?;
    }
    clients
        .sesv2
        .create_email_identity()
        .email_identity(mail_from)
        .send()
        .await?;
    Ok(Infra {
        wishes_table,
        slots_table,
        slots_stream_arn,
        event_bus,
        events_queue_url: queue_url,
        mail_from: mail_from.to_owned(),
    })
}

// ---- pollers ----------------------------------------------------------------------------------

/// Reads the slots table's stream like Lambda's event source mapping and hands over records in
/// Lambda's own shape.
pub struct StreamPoller {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    shards: HashMap<String, ShardState>,
}

#[derive(Default)]
struct ShardState {
    iterator: Option<String>,
    last_sequence: Option<String>,
    closed: bool,
}

impl StreamPoller {
    #[must_use]
    pub fn new(client: aws_sdk_dynamodbstreams::Client, arn: String) -> Self {
        Self {
            client,
            arn,
            shards: HashMap::new(),
        }
    }

    async fn iterator(&self, shard: &str, after: Option<&str>) -> Result<Option<String>> {
        use aws_sdk_dynamodbstreams::types::ShardIteratorType;
        let mut req = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard);
        req = match after {
            Some(seq) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(seq),
            None => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        Ok(req.send().await?.shard_iterator)
    }

    /// New records since the last call, oldest first.
    pub async fn poll(&mut self) -> Result<Vec<aws_lambda_events::event::dynamodb::EventRecord>> {
        let desc = self
            .client
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await?;
        for shard in desc
            .stream_description()
            .map(aws_sdk_dynamodbstreams::types::StreamDescription::shards)
            .unwrap_or_default()
        {
            if let Some(id) = shard.shard_id() {
                self.shards.entry(id.to_owned()).or_default();
            }
        }
        let mut out = Vec::new();
        let ids: Vec<String> = self.shards.keys().cloned().collect();
        for id in ids {
            let (iterator, last, closed) = {
                let st = &self.shards[&id];
                (st.iterator.clone(), st.last_sequence.clone(), st.closed)
            };
            if closed {
                continue;
            }
            let iterator = match iterator {
                Some(it) => Some(it),
                None => self.iterator(&id, last.as_deref()).await?,
            };
            let Some(it) = iterator else { continue };
            match self
                .client
                .get_records()
                .shard_iterator(it)
                .limit(100)
                .send()
                .await
            {
                Ok(page) => {
                    let st = self.shards.entry(id.clone()).or_default();
                    st.closed = page.next_shard_iterator.is_none();
                    st.iterator.clone_from(&page.next_shard_iterator);
                    for r in page.records.unwrap_or_default() {
                        if let Some(seq) = r.dynamodb().and_then(|d| d.sequence_number()) {
                            st.last_sequence = Some(seq.to_owned());
                        }
                        out.push(to_lambda_record(&r, &self.arn)?);
                    }
                }
                // DynamoDB Local answers an empty shard read at TRIM_HORIZON this way, and
                // iterators expire after 15 minutes: start again after the last record seen.
                Err(e) => {
                    let text = format!("{e:?}");
                    if text.contains("TrimmedDataAccess") || text.contains("ExpiredIterator") {
                        if let Some(st) = self.shards.get_mut(&id) {
                            st.iterator = None;
                        }
                    } else {
                        return Err(e.into());
                    }
                }
            }
        }
        Ok(out)
    }
}

fn image(
    map: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>,
) -> Result<serde_json::Value> {
    let item: serde_dynamo::Item = map.cloned().unwrap_or_default().into();
    Ok(serde_json::to_value(item)?)
}

fn to_lambda_record(
    r: &aws_sdk_dynamodbstreams::types::Record,
    arn: &str,
) -> Result<aws_lambda_events::event::dynamodb::EventRecord> {
    let d = r
        .dynamodb()
        .ok_or_else(|| anyhow!("stream record without dynamodb part"))?;
    let json = serde_json::json!({
        "eventID": r.event_id(),
        "eventName": r.event_name().map(|n| n.as_str().to_owned()),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "eventSourceARN": arn,
        "dynamodb": {
            "ApproximateCreationDateTime": d.approximate_creation_date_time().map_or(0, aws_smithy_types_secs),
            "Keys": image(d.keys.as_ref())?,
            "NewImage": image(d.new_image.as_ref())?,
            "OldImage": image(d.old_image.as_ref())?,
            "SequenceNumber": d.sequence_number(),
            "SizeBytes": d.size_bytes().unwrap_or(0),
            "StreamViewType": d.stream_view_type().map(|v| v.as_str().to_owned()),
        }
    });
    Ok(serde_json::from_value(json)?)
}

fn aws_smithy_types_secs(t: &aws_sdk_dynamodbstreams::primitives::DateTime) -> i64 {
    t.secs()
}

/// Reads the events the bus routed into the runner's queue (the rule's target).
pub struct EventQueuePoller {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl EventQueuePoller {
    #[must_use]
    pub fn new(client: aws_sdk_sqs::Client, url: String) -> Self {
        Self { client, url }
    }

    /// Up to 10 events (waits at most `wait_secs`), removed from the queue.
    pub async fn poll(&self, wait_secs: i32) -> Result<Vec<serde_json::Value>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_secs)
            .send()
            .await?;
        let mut events = Vec::new();
        for m in out.messages.unwrap_or_default() {
            if let Some(Ok(e)) = m.body().map(serde_json::from_str::<serde_json::Value>) {
                events.push(e);
            } else {
                tracing::warn!("unreadable event in queue dropped");
            }
            if let Some(h) = m.receipt_handle() {
                self.client
                    .delete_message()
                    .queue_url(&self.url)
                    .receipt_handle(h)
                    .send()
                    .await?;
            }
        }
        Ok(events)
    }
}

// ---- sent mail ----------------------------------------------------------------------------------

/// A mail as a person would read it, from moto's record of what SES sent.
#[derive(Debug, Clone, Serialize)]
pub struct DevMail {
    pub id: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub links: Vec<String>,
    pub sent_at: String,
    pub attachments: Vec<String>,
    pub headers: Vec<(String, String)>,
}

fn links_in(text: &str) -> Vec<String> {
    let mut links: Vec<String> = Vec::new();
    for start in text.match_indices("http").map(|(i, _)| i) {
        let rest = &text[start..];
        if !(rest.starts_with("http://") || rest.starts_with("https://")) {
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>' | ')' | '\''))
            .unwrap_or(rest.len());
        let link = rest[..end].trim_end_matches(['.', ',']).to_owned();
        if !links.contains(&link) {
            links.push(link);
        }
    }
    links
}

/// Every mail moto's SES has accepted so far, oldest first.
///
/// moto keeps raw sends under `ses.RawMessage[]` of `/moto-api/data.json` as
/// `{id, destinations, raw_data, ...}`; the MIME is parsed here.
pub async fn sent_mails(http: &reqwest::Client, moto_url: &str) -> Result<Vec<DevMail>> {
    let data: serde_json::Value = http
        .get(format!("{moto_url}/moto-api/data.json"))
        .send()
        .await?
        .json()
        .await?;
    let mut mails = Vec::new();
    let raw_messages = data
        .get("ses")
        .and_then(|s| s.get("RawMessage"))
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    for m in raw_messages {
        let raw = m
            .get("raw_data")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let Some(parsed) = mail_parser::MessageParser::default().parse(raw.as_bytes()) else {
            continue;
        };
        let text = parsed
            .body_text(0)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_default();
        let html = parsed
            .body_html(0)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_default();
        let mut to: Vec<String> = Vec::new();
        for d in m
            .get("destinations")
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            if let Some(d) = d.as_str()
                && !to.iter().any(|x| x == d)
            {
                to.push(d.to_owned());
            }
        }
        let headers = parsed
            .headers()
            .iter()
            .map(|h| {
                (
                    h.name().to_owned(),
                    h.value().as_text().map(str::to_owned).unwrap_or_default(),
                )
            })
            .collect();
        mails.push(DevMail {
            id: m
                .get("id")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            to,
            subject: parsed.subject().unwrap_or_default().to_owned(),
            links: links_in(&text),
            text,
            html,
            sent_at: parsed.date().map(ToString::to_string).unwrap_or_default(),
            attachments: parsed
                .attachments()
                .filter_map(|a| a.attachment_name().map(str::to_owned))
                .collect(),
            headers,
        });
    }
    Ok(mails)
}
