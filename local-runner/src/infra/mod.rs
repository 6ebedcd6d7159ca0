//! The stack's tables, bus, rules and SES identity, created in the emulators from
//! `infra/template.yaml` itself, so local runs cannot drift from what SAM deploys.
//!
//! Only what the emulators need is read: table key schemas, attribute definitions, indexes,
//! streams and TTL; the event bus; rules with an `EventPattern` on that bus. Everything else
//! (IAM, alarms, functions, PITR, SSE, deletion protection) has no local meaning and is skipped.
//! Schedules (`ScheduleExpression`) are the runner's job, not a rule here.

mod bus;
mod filters;
mod queues;
mod staff;
mod tables;
pub(crate) mod template;

use std::path::Path;

use anyhow::{Context as _, Result, anyhow, ensure};

use crate::emulators::Clients;
use bus::create_bus_and_rules;
use tables::create_tables;

pub use bus::{RuleDef, template_rules};
pub use filters::{passes, stream_filters};
pub use queues::{MatchQueueDef, template_match_queue};
pub use staff::{StaffPool, StaffUser, create_staff_pool};
pub use tables::{IndexDef, KeyDef, TableDef, template_tables};

/// What [`create_infra`] made; the names are what the functions' env vars take
/// (`WISHES_TABLE`, `SLOTS_TABLE`, `EVENT_BUS_NAME`, `MAIL_FROM`).
#[derive(Clone, Debug)]
pub struct Infra {
    pub wishes_table: String,
    pub slots_table: String,
    /// `LatestStreamArn` of the slots table, for [`crate::pollers::StreamPoller`].
    pub slots_stream_arn: String,
    /// `LatestStreamArn` of the wishes table (the outbox items deliver-outbox reads).
    pub wishes_stream_arn: String,
    /// The filter patterns of deliver-outbox's event source, as the template gives them.
    pub outbox_filters: Vec<serde_json::Value>,
    pub event_bus: String,
    /// The one SQS queue that every rule targets, for [`crate::pollers::EventQueuePoller`].
    pub events_queue_url: String,
    /// match-offers' FIFO queue (`MatchQueue`), which slot-release sends released slots to, for
    /// [`crate::pollers::MatchQueuePoller`].
    pub match_queue_url: String,
    pub mail_from: String,
}

/// Creates, named `{prefix}{LogicalId}`, every table of `template` (on-demand, waiting until
/// active), the event bus `{prefix}bus`, each event-pattern rule of that bus with the queue
/// `{prefix}events` as its only target, match-offers' FIFO queue `{prefix}MatchQueue.fifo` with
/// its dead letters, and the SES identity `mail_from`. Running it twice with
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
    let match_queue = template_match_queue(template)?;

    let table_names = create_tables(&clients.dynamodb, &tables, prefix).await?;
    let table = |id: &str| {
        table_names
            .get(id)
            .cloned()
            .ok_or_else(|| anyhow!("{} has no AWS::DynamoDB::Table {id}", template.display()))
    };
    let wishes_table = table("WishesTable")?;
    let slots_table = table("SlotsTable")?;
    let slots_stream_arn = stream_arn(clients, &slots_table, "SlotsTable").await?;
    let wishes_stream_arn = stream_arn(clients, &wishes_table, "WishesTable").await?;
    let outbox_filters = stream_filters(template, "DeliverOutboxFunction")?;

    let (event_bus, events_queue_url) = create_bus_and_rules(clients, &rules, prefix).await?;
    let match_queue_url = queues::create_match_queue(clients, &match_queue, prefix).await?;

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
        wishes_stream_arn,
        outbox_filters,
        event_bus,
        events_queue_url,
        match_queue_url,
        mail_from: mail_from.to_owned(),
    })
}

/// The `LatestStreamArn` of a table the template gives a stream.
async fn stream_arn(clients: &Clients, table: &str, id: &str) -> Result<String> {
    clients
        .dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .with_context(|| format!("describing {table}"))?
        .table
        .and_then(|t| t.latest_stream_arn)
        .ok_or_else(|| anyhow!("{table} has no stream; {id} needs a StreamSpecification"))
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
        assert_eq!(wishes.global_secondary_indexes[0], gsi1());
        assert_eq!(
            wishes.global_secondary_indexes[1].index_name, "gsi2",
            "the events feed"
        );
        assert_eq!(wishes.stream_view_type.as_deref(), Some("NEW_IMAGE"));
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
    fn the_real_template_routes_ses_feedback_and_leaves_the_schedule_and_the_log_out() {
        let rules = template_rules(&real_template()).unwrap();
        assert_eq!(
            rules,
            [RuleDef {
                logical_id: "MailFeedbackRule".into(),
                event_pattern: serde_json::json!({"source": ["aws.ses"], "detail-type": ["Email Bounced", "Email Complaint Received"]}),
                default_bus: true,
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
    fn rules_on_either_bus_that_invoke_a_function_are_read_and_log_targets_left_out() {
        let path = write_template(
            "Resources:\n  Bus:\n    Type: AWS::Events::EventBus\n    Properties: {Name: b}\n  \
             Fn:\n    Type: AWS::Serverless::Function\n    Properties: {}\n  \
             OnBus:\n    Type: AWS::Events::Rule\n    Properties:\n      EventBusName: {Ref: Bus}\n      \
             EventPattern: '{\"source\": [\"x\"]}'\n      Targets: [{Id: f, Arn: {'Fn::GetAtt': [Fn, Arn]}}]\n  \
             ToLog:\n    Type: AWS::Events::Rule\n    Properties:\n      EventBusName: {Ref: Bus}\n      \
             EventPattern: {source: [z]}\n      Targets: [{Id: l, Arn: arn:aws:logs:x}]\n  \
             OnDefault:\n    Type: AWS::Events::Rule\n    Properties:\n      EventPattern: {source: [y]}\n      \
             Targets: [{Id: f, Arn: {'Fn::GetAtt': [Fn, Arn]}}]\n",
        );
        let rules = template_rules(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let ids: Vec<(&str, bool)> = rules
            .iter()
            .map(|r| (r.logical_id.as_str(), r.default_bus))
            .collect();
        assert_eq!(ids, [("OnBus", false), ("OnDefault", true)]);
        assert_eq!(rules[0].event_pattern, serde_json::json!({"source": ["x"]}));
    }
}
