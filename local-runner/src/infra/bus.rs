//! The event bus, its event-pattern rules and the SQS queue they all target.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, ensure};
use serde_yaml::Value;

use super::template::{ensure_no_intrinsics, load, referenced_resource, resources_of_type};
use crate::emulators::Clients;

/// An `AWS::Events::Rule` with an event pattern that invokes one of the template's functions.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleDef {
    pub logical_id: String,
    pub event_pattern: serde_json::Value,
    /// On the account's default bus (where AWS services such as SES put their events) rather
    /// than the template's own.
    pub default_bus: bool,
}

/// The event-pattern rules that invoke one of the template's functions, on its custom event bus
/// or on the default bus, in template order (a rule that only keeps events in a log group has
/// nothing to run locally; a schedule has no pattern).
///
/// # Errors
/// As [`template_tables`](super::template_tables); also when a rule's pattern contains an
/// intrinsic function.
pub fn template_rules(template: &Path) -> Result<Vec<RuleDef>> {
    let doc = load(template)?;
    let buses: HashSet<&str> = resources_of_type(&doc, "AWS::Events::EventBus")?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let functions: HashSet<&str> = resources_of_type(&doc, "AWS::Serverless::Function")?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut rules = Vec::new();
    for (id, props) in resources_of_type(&doc, "AWS::Events::Rule")? {
        let Some(pattern) = props.get("EventPattern") else {
            continue;
        };
        let bus = props.get("EventBusName");
        let on_custom_bus = bus
            .and_then(referenced_resource)
            .is_some_and(|bus| buses.contains(bus));
        let default_bus = bus.is_none();
        let invokes_function = props
            .get("Targets")
            .and_then(Value::as_sequence)
            .is_some_and(|targets| {
                targets.iter().any(|target| {
                    target
                        .get("Arn")
                        .and_then(referenced_resource)
                        .is_some_and(|arn| functions.contains(arn))
                })
            });
        if !(on_custom_bus || default_bus) || !invokes_function {
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
            default_bus,
        });
    }
    Ok(rules)
}

/// Creates the bus `{prefix}bus`, the queue `{prefix}events` and each rule on the bus with the
/// queue as its target; returns the bus name and the queue URL.
pub(super) async fn create_bus_and_rules(
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
        let bus = if rule.default_bus {
            "default"
        } else {
            event_bus.as_str()
        };
        clients
            .eventbridge
            .put_rule()
            .name(&name)
            .event_bus_name(bus)
            .event_pattern(rule.event_pattern.to_string())
            .send()
            .await
            .with_context(|| format!("creating rule {name}"))?;
        let failed = clients
            .eventbridge
            .put_targets()
            .rule(&name)
            .event_bus_name(bus)
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

pub(super) async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
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
