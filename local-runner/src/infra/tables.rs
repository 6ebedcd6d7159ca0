//! The tables: read from the template, then created in `DynamoDB` Local with indexes, streams, TTL.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, StreamSpecification,
    StreamViewType, TableStatus, TimeToLiveSpecification,
};
use serde_yaml::Value;

use super::template::{field, list, literal, load, one_of, resources_of_type};

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

/// Creates the tables, then waits for each and enables its TTL; logical id → table name.
pub(super) async fn create_tables(
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

// ---- template parsing ----------------------------------------------------------------------

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
