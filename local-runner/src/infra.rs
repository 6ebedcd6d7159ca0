//! The stack's tables, bus, rules and SES identity, created in the emulators from
//! `infra/template.yaml` itself, so local runs cannot drift from what SAM deploys.
//!
//! Only what the emulators need is read: table key schemas, attribute definitions, indexes,
//! streams and TTL; the event bus; rules with an `EventPattern` on that bus. Everything else
//! (IAM, alarms, functions, PITR, SSE, deletion protection) has no local meaning and is skipped.
//! Schedules (`ScheduleExpression`) are the runner's job, not a rule here.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, StreamSpecification,
    StreamViewType, TableStatus, TimeToLiveSpecification,
};
use serde_yaml::Value;

use crate::emulators::Clients;

/// What [`create_infra`] made; the names are what the functions' env vars take
/// (`WISHES_TABLE`, `SLOTS_TABLE`, `EVENT_BUS_NAME`, `MAIL_FROM`).
#[derive(Clone, Debug)]
pub struct Infra {
    pub wishes_table: String,
    pub slots_table: String,
    /// `LatestStreamArn` of the slots table, for [`crate::pollers::StreamPoller`].
    pub slots_stream_arn: String,
    pub event_bus: String,
    /// The one SQS queue that every rule targets, for [`crate::pollers::EventQueuePoller`].
    pub events_queue_url: String,
    pub mail_from: String,
}

/// An `AWS::DynamoDB::Table` as the template defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDef {
    pub logical_id: String,
    /// `(name, S|N|B)`.
    pub attribute_definitions: Vec<(String, String)>,
    pub key_schema: Vec<KeyDef>,
    pub global_secondary_indexes: Vec<IndexDef>,
    pub local_secondary_indexes: Vec<IndexDef>,
    /// `StreamSpecification.StreamViewType`, e.g. `NEW_AND_OLD_IMAGES`; `None` without a stream.
    pub stream_view_type: Option<String>,
    /// `TimeToLiveSpecification.AttributeName` when enabled.
    pub ttl_attribute: Option<String>,
}

/// One key schema element: `key_type` is `HASH` or `RANGE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDef {
    pub attribute_name: String,
    pub key_type: String,
}

/// A secondary index: `projection_type` is `ALL`, `KEYS_ONLY` or `INCLUDE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyDef>,
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

/// An `AWS::Events::Rule` with an event pattern on the template's custom bus.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleDef {
    pub logical_id: String,
    pub event_pattern: serde_json::Value,
}

/// The tables of the template, in template order.
///
/// # Errors
/// When the file cannot be read or parsed, or a table property the emulator needs is missing,
/// malformed or an intrinsic function (`!If`, `!Ref`…) that only `CloudFormation` can resolve.
pub fn template_tables(template: &Path) -> Result<Vec<TableDef>> {
    let doc = load(template)?;
    resources_of_type(&doc, "AWS::DynamoDB::Table")?
        .into_iter()
        .map(|(id, props)| {
            table_def(id, props).with_context(|| format!("table {id} in {}", template.display()))
        })
        .collect()
}

/// The event-pattern rules on the template's custom event bus, in template order.
///
/// # Errors
/// As [`template_tables`]; also when a rule's pattern contains an intrinsic function.
pub fn template_rules(template: &Path) -> Result<Vec<RuleDef>> {
    let doc = load(template)?;
    let buses: HashSet<&str> = resources_of_type(&doc, "AWS::Events::EventBus")?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut rules = Vec::new();
    for (id, props) in resources_of_type(&doc, "AWS::Events::Rule")? {
        let Some(pattern) = props.get("EventPattern") else {
            continue;
        };
        let on_custom_bus = props
            .get("EventBusName")
            .and_then(referenced_resource)
            .is_some_and(|bus| buses.contains(bus));
        if !on_custom_bus {
            continue;
        }
        let event_pattern = match pattern {
            // CloudFormation also takes the pattern as a JSON string.
            Value::String(json) => serde_json::from_str(json),
            other => {
                ensure_no_intrinsics(other)
                    .with_context(|| format!("EventPattern of rule {id}"))?;
                serde_json::to_value(other)
            }
        }
        .with_context(|| format!("EventPattern of rule {id}"))?;
        rules.push(RuleDef {
            logical_id: id.to_owned(),
            event_pattern,
        });
    }
    Ok(rules)
}

/// Creates, named `{prefix}{LogicalId}`, every table of `template` (on-demand, waiting until
/// active), the event bus `{prefix}bus`, each event-pattern rule of that bus with the queue
/// `{prefix}events` as its only target, and the SES identity `mail_from`. Running it twice with
/// the same prefix against the same emulators reuses what exists.
///
/// The rules target SQS, not the functions: moto's `PutEvents` fails when a rule targets a
/// Lambda it does not host, and the runner reads the queue instead
/// ([`crate::pollers::EventQueuePoller`]).
///
/// `prefix` may hold only ASCII letters, digits, `-` and `_` (the characters every one of these
/// names allows), at most 40 of them.
///
/// # Errors
/// On a bad prefix or template ([`template_tables`]), a template without `WishesTable` or
/// `SlotsTable`, a slots table without a stream, or an emulator call that fails.
pub async fn create_infra(
    clients: &Clients,
    template: &Path,
    prefix: &str,
    mail_from: &str,
) -> Result<Infra> {
    ensure!(
        prefix.len() <= 40
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "table prefix {prefix:?} must be at most 40 ASCII letters, digits, '-' or '_'"
    );
    let tables = template_tables(template)?;
    let rules = template_rules(template)?;

    let table_names = create_tables(&clients.dynamodb, &tables, prefix).await?;
    let table = |id: &str| {
        table_names
            .get(id)
            .cloned()
            .ok_or_else(|| anyhow!("{} has no AWS::DynamoDB::Table {id}", template.display()))
    };
    let wishes_table = table("WishesTable")?;
    let slots_table = table("SlotsTable")?;
    let slots_stream_arn = clients
        .dynamodb
        .describe_table()
        .table_name(&slots_table)
        .send()
        .await
        .with_context(|| format!("describing {slots_table}"))?
        .table
        .and_then(|t| t.latest_stream_arn)
        .ok_or_else(|| {
            anyhow!("{slots_table} has no stream; SlotsTable needs a StreamSpecification")
        })?;

    let (event_bus, events_queue_url) = create_bus_and_rules(clients, &rules, prefix).await?;

    // sesv2 CreateEmailIdentity is enough for moto: it marks the identity verified at once, and
    // SendEmail then accepts `From: mail_from` (ses VerifyEmailIdentity works too).
    if let Err(e) = clients
        .sesv2
        .create_email_identity()
        .email_identity(mail_from)
        .send()
        .await
    {
        let e = e.into_service_error();
        if !e.is_already_exists_exception() {
            return Err(e).context("creating the SES identity");
        }
    }

    Ok(Infra {
        wishes_table,
        slots_table,
        slots_stream_arn,
        event_bus,
        events_queue_url,
        mail_from: mail_from.to_owned(),
    })
}

/// Creates the tables, then waits for each and enables its TTL; logical id → table name.
async fn create_tables(
    client: &aws_sdk_dynamodb::Client,
    tables: &[TableDef],
    prefix: &str,
) -> Result<BTreeMap<String, String>> {
    let mut names = BTreeMap::new();
    for def in tables {
        let name = format!("{prefix}{}", def.logical_id);
        create_table(client, def, &name).await?;
        names.insert(def.logical_id.clone(), name);
    }
    for def in tables {
        let name = format!("{prefix}{}", def.logical_id);
        wait_until_active(client, &name).await?;
        if let Some(attribute) = &def.ttl_attribute {
            enable_ttl(client, &name, attribute).await?;
        }
    }
    Ok(names)
}

/// Creates the bus `{prefix}bus`, the queue `{prefix}events` and each rule on the bus with the
/// queue as its target; returns the bus name and the queue URL.
async fn create_bus_and_rules(
    clients: &Clients,
    rules: &[RuleDef],
    prefix: &str,
) -> Result<(String, String)> {
    let event_bus = format!("{prefix}bus");
    if let Err(e) = clients
        .eventbridge
        .create_event_bus()
        .name(&event_bus)
        .send()
        .await
    {
        let e = e.into_service_error();
        if !e.is_resource_already_exists_exception() {
            return Err(e).with_context(|| format!("creating event bus {event_bus}"));
        }
    }
    // CreateQueue with the same name and attributes returns the existing queue.
    let queue_name = format!("{prefix}events");
    let queue_url = clients
        .sqs
        .create_queue()
        .queue_name(&queue_name)
        .send()
        .await
        .with_context(|| format!("creating queue {queue_name}"))?
        .queue_url
        .ok_or_else(|| anyhow!("CreateQueue returned no QueueUrl"))?;
    let queue_arn = queue_arn(&clients.sqs, &queue_url).await?;
    for rule in rules {
        let name = format!("{prefix}{}", rule.logical_id);
        clients
            .eventbridge
            .put_rule()
            .name(&name)
            .event_bus_name(&event_bus)
            .event_pattern(rule.event_pattern.to_string())
            .send()
            .await
            .with_context(|| format!("creating rule {name}"))?;
        let failed = clients
            .eventbridge
            .put_targets()
            .rule(&name)
            .event_bus_name(&event_bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("local-runner")
                    .arn(&queue_arn)
                    .build()?,
            )
            .send()
            .await
            .with_context(|| format!("adding the queue target to rule {name}"))?
            .failed_entry_count;
        ensure!(failed == 0, "rule {name}: {failed} target(s) not added");
    }
    Ok((event_bus, queue_url))
}

async fn create_table(client: &aws_sdk_dynamodb::Client, def: &TableDef, name: &str) -> Result<()> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&def.key_schema)?));
    for (attribute, kind) in &def.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()?,
        );
    }
    for index in &def.global_secondary_indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(key_schema(&index.key_schema)?))
                .projection(projection(index))
                .build()?,
        );
    }
    for index in &def.local_secondary_indexes {
        request = request.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(key_schema(&index.key_schema)?))
                .projection(projection(index))
                .build()?,
        );
    }
    if let Some(view) = &def.stream_view_type {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view.as_str()))
                .build()?,
        );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = e.into_service_error();
            if e.is_resource_in_use_exception() {
                Ok(())
            } else {
                Err(e).with_context(|| format!("creating table {name}"))
            }
        }
    }
}

/// `DynamoDB` Local accepts TTL (and reports it) but never deletes expired items.
async fn enable_ttl(client: &aws_sdk_dynamodb::Client, table: &str, attribute: &str) -> Result<()> {
    let result = client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(attribute)
                .build()?,
        )
        .send()
        .await;
    match result.map_err(aws_sdk_dynamodb::error::SdkError::into_service_error) {
        Ok(_) => Ok(()),
        // "TimeToLive is already enabled" when run twice with one prefix.
        Err(e) if e.meta().code() == Some("ValidationException") => Ok(()),
        Err(e) => Err(e).with_context(|| format!("enabling TTL on {table}")),
    }
}

fn key_schema(keys: &[KeyDef]) -> Result<Vec<KeySchemaElement>> {
    keys.iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()?)
        })
        .collect()
}

fn projection(index: &IndexDef) -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::from(index.projection_type.as_str()))
        .set_non_key_attributes(
            (!index.non_key_attributes.is_empty()).then(|| index.non_key_attributes.clone()),
        )
        .build()
}

async fn wait_until_active(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
    // DynamoDB Local creates tables ACTIVE at once; the loop is for anything slower.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .with_context(|| format!("describing {name}"))?
            .table
            .and_then(|t| t.table_status);
        if status == Some(TableStatus::Active) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "table {name} not ACTIVE after 30 s ({status:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    use aws_sdk_sqs::types::QueueAttributeName;
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("reading the events queue's ARN")?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| anyhow!("GetQueueAttributes returned no QueueArn"))
}

// ---- template parsing ----------------------------------------------------------------------

fn load(template: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(template)
        .with_context(|| format!("reading {}", template.display()))?;
    // CloudFormation short forms (`!Ref X`, `!Sub ..`, `!GetAtt X.Y`) parse as tagged values.
    serde_yaml::from_str(&text).with_context(|| format!("parsing {}", template.display()))
}

/// `(logical id, Properties)` of each resource of `kind`, in template order.
fn resources_of_type<'a>(doc: &'a Value, kind: &str) -> Result<Vec<(&'a str, &'a Value)>> {
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| anyhow!("the template has no Resources mapping"))?;
    let mut found = Vec::new();
    for (id, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some(kind) {
            continue;
        }
        let id = id
            .as_str()
            .ok_or_else(|| anyhow!("a resource id is not a string: {id:?}"))?;
        let props = resource
            .get("Properties")
            .ok_or_else(|| anyhow!("resource {id} has no Properties"))?;
        found.push((id, props));
    }
    Ok(found)
}

/// The resource a value names: `!Ref X`, `!GetAtt X.Name`/`X.Arn`, `!GetAtt [X, Arn]`,
/// `{Ref: X}` or `{Fn::GetAtt: ..}`.
fn referenced_resource(value: &Value) -> Option<&str> {
    fn get_att(v: &Value) -> Option<&str> {
        match v {
            Value::String(s) => s.split('.').next(),
            Value::Sequence(parts) => parts.first().and_then(Value::as_str),
            _ => None,
        }
    }
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => get_att(&tagged.value),
        Value::Mapping(map) if map.len() == 1 => {
            if let Some(name) = map.get("Ref") {
                name.as_str()
            } else {
                map.get("Fn::GetAtt").and_then(get_att)
            }
        }
        _ => None,
    }
}

fn ensure_no_intrinsics(value: &Value) -> Result<()> {
    match value {
        Value::Tagged(tagged) => bail!("!{} cannot be resolved locally", tagged.tag),
        Value::Sequence(items) => items.iter().try_for_each(ensure_no_intrinsics),
        Value::Mapping(map) => map.iter().try_for_each(|(k, v)| {
            if let Some(key) = k.as_str().filter(|k| *k == "Ref" || k.starts_with("Fn::")) {
                bail!("{key} cannot be resolved locally");
            }
            ensure_no_intrinsics(v)
        }),
        _ => Ok(()),
    }
}

/// A literal string property (an intrinsic function is an error, not a guess).
fn literal<'a>(value: &'a Value, what: &str) -> Result<&'a str> {
    match value {
        Value::String(s) => Ok(s),
        Value::Tagged(tagged) => bail!(
            "{what} is !{}, which cannot be resolved locally",
            tagged.tag
        ),
        other => bail!("{what} is not a string: {other:?}"),
    }
}

fn field<'a>(value: &'a Value, key: &str) -> Result<&'a str> {
    literal(
        value.get(key).ok_or_else(|| anyhow!("{key} is missing"))?,
        key,
    )
}

fn list<'a>(value: &'a Value, key: &str) -> Result<&'a [Value]> {
    match value.get(key) {
        None => Ok(&[]),
        Some(Value::Sequence(items)) => Ok(items),
        Some(other) => bail!("{key} is not a list: {other:?}"),
    }
}

fn one_of(value: &str, allowed: &[&str], what: &str) -> Result<String> {
    ensure!(
        allowed.contains(&value),
        "{what} {value:?} is not one of {allowed:?}"
    );
    Ok(value.to_owned())
}

fn table_def(id: &str, props: &Value) -> Result<TableDef> {
    let attribute_definitions = list(props, "AttributeDefinitions")?
        .iter()
        .map(|a| {
            Ok((
                field(a, "AttributeName")?.to_owned(),
                one_of(
                    field(a, "AttributeType")?,
                    &["S", "N", "B"],
                    "AttributeType",
                )?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let key_schema = key_defs(props)?;
    ensure!(!key_schema.is_empty(), "KeySchema is missing");
    let indexes = |key: &str| -> Result<Vec<IndexDef>> {
        list(props, key)?
            .iter()
            .map(|index| {
                let name = field(index, "IndexName")?;
                index_def(name, index).with_context(|| format!("index {name}"))
            })
            .collect()
    };
    let stream_view_type = props
        .get("StreamSpecification")
        .map(|s| {
            one_of(
                field(s, "StreamViewType")?,
                &["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"],
                "StreamViewType",
            )
        })
        .transpose()?;
    let ttl_attribute = match props.get("TimeToLiveSpecification") {
        Some(ttl) if ttl.get("Enabled").and_then(Value::as_bool) == Some(true) => {
            Some(field(ttl, "AttributeName")?.to_owned())
        }
        Some(ttl) if ttl.get("Enabled").is_some_and(|e| !e.is_bool()) => {
            bail!("TimeToLiveSpecification.Enabled must be a literal true or false")
        }
        _ => None,
    };
    Ok(TableDef {
        logical_id: id.to_owned(),
        attribute_definitions,
        key_schema,
        global_secondary_indexes: indexes("GlobalSecondaryIndexes")?,
        local_secondary_indexes: indexes("LocalSecondaryIndexes")?,
        stream_view_type,
        ttl_attribute,
    })
}

fn key_defs(value: &Value) -> Result<Vec<KeyDef>> {
    list(value, "KeySchema")?
        .iter()
        .map(|k| {
            Ok(KeyDef {
                attribute_name: field(k, "AttributeName")?.to_owned(),
                key_type: one_of(field(k, "KeyType")?, &["HASH", "RANGE"], "KeyType")?,
            })
        })
        .collect()
}

fn index_def(name: &str, index: &Value) -> Result<IndexDef> {
    let projection = index
        .get("Projection")
        .ok_or_else(|| anyhow!("Projection is missing"))?;
    Ok(IndexDef {
        index_name: name.to_owned(),
        key_schema: key_defs(index)?,
        projection_type: one_of(
            field(projection, "ProjectionType")?,
            &["ALL", "KEYS_ONLY", "INCLUDE"],
            "ProjectionType",
        )?,
        non_key_attributes: list(projection, "NonKeyAttributes")?
            .iter()
            .map(|a| literal(a, "NonKeyAttributes").map(str::to_owned))
            .collect::<Result<_>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, key_type: &str) -> KeyDef {
        KeyDef {
            attribute_name: name.into(),
            key_type: key_type.into(),
        }
    }

    fn gsi1() -> IndexDef {
        IndexDef {
            index_name: "gsi1".into(),
            key_schema: vec![key("gsi1pk", "HASH"), key("gsi1sk", "RANGE")],
            projection_type: "ALL".into(),
            non_key_attributes: vec![],
        }
    }

    fn real_template() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml")
    }

    fn write_template(text: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "template-{}-{:?}.yaml",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_real_template_defines_the_wishes_and_slots_tables() {
        let tables = template_tables(&real_template()).unwrap();
        let ids: Vec<_> = tables.iter().map(|t| t.logical_id.as_str()).collect();
        assert_eq!(ids, ["WishesTable", "SlotsTable"]);

        let wishes = &tables[0];
        assert_eq!(wishes.key_schema, [key("pk", "HASH"), key("sk", "RANGE")]);
        assert_eq!(wishes.global_secondary_indexes, [gsi1()]);
        assert_eq!(wishes.stream_view_type, None);
        assert_eq!(wishes.ttl_attribute.as_deref(), Some("expires_at"));

        let slots = &tables[1];
        assert_eq!(slots.key_schema, [key("id", "HASH")]);
        assert_eq!(slots.global_secondary_indexes, [gsi1()]);
        assert_eq!(
            slots.stream_view_type.as_deref(),
            Some("NEW_AND_OLD_IMAGES")
        );
        assert!(
            slots
                .attribute_definitions
                .contains(&("id".into(), "S".into()))
        );
    }

    #[test]
    fn the_real_template_routes_slot_released_on_its_bus_and_leaves_the_schedule_out() {
        let rules = template_rules(&real_template()).unwrap();
        assert_eq!(
            rules,
            [RuleDef {
                logical_id: "SlotReleasedRule".into(),
                event_pattern: serde_json::json!({"source": ["terminagent"], "detail-type": ["SlotReleased"]}),
            }]
        );
    }

    #[test]
    fn an_intrinsic_where_a_literal_is_needed_is_an_error_not_a_guess() {
        let path = write_template(
            "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      \
             AttributeDefinitions: [{AttributeName: !Ref Key, AttributeType: S}]\n      \
             KeySchema: [{AttributeName: id, KeyType: HASH}]\n",
        );
        let err = format!("{:#}", template_tables(&path).unwrap_err());
        let _ = std::fs::remove_file(&path);
        assert!(err.contains("!Ref"), "{err}");
    }

    #[test]
    fn rules_on_the_default_bus_and_long_form_references_are_told_apart() {
        let path = write_template(
            "Resources:\n  Bus:\n    Type: AWS::Events::EventBus\n    Properties: {Name: b}\n  \
             OnBus:\n    Type: AWS::Events::Rule\n    Properties:\n      EventBusName: {Ref: Bus}\n      \
             EventPattern: '{\"source\": [\"x\"]}'\n  \
             OnDefault:\n    Type: AWS::Events::Rule\n    Properties:\n      EventPattern: {source: [y]}\n",
        );
        let rules = template_rules(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].logical_id, "OnBus");
        assert_eq!(rules[0].event_pattern, serde_json::json!({"source": ["x"]}));
    }
}
