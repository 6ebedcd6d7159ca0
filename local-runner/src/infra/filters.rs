//! Lambda's event filtering for stream event sources, which `DynamoDB` does not apply: the
//! patterns are read from the template's `FilterCriteria` and applied to each record, so the
//! local runner hands a function exactly the records Lambda would.

use std::path::Path;

use anyhow::{Result, anyhow};
use aws_lambda_events::event::dynamodb::EventRecord;
use serde_json::Value;

use super::template::{load, resources_of_type};

/// The filter patterns of `function`'s `DynamoDB` event source (`Events.<name>.Properties.
/// FilterCriteria.Filters[].Pattern`), parsed. Empty when the event source has no filter.
///
/// # Errors
/// When the template cannot be read, has no such function or event source, or a pattern is not
/// JSON.
pub fn stream_filters(template: &Path, function: &str) -> Result<Vec<Value>> {
    let doc = load(template)?;
    let (_, props) = resources_of_type(&doc, "AWS::Serverless::Function")?
        .into_iter()
        .find(|(id, _)| *id == function)
        .ok_or_else(|| anyhow!("{} has no function {function}", template.display()))?;
    let source = props
        .get("Events")
        .and_then(serde_yaml::Value::as_mapping)
        .and_then(|events| {
            events
                .values()
                .find(|e| e.get("Type").and_then(serde_yaml::Value::as_str) == Some("DynamoDB"))
        })
        .ok_or_else(|| anyhow!("{function} has no DynamoDB event source"))?;
    let Some(filters) = source
        .get("Properties")
        .and_then(|p| p.get("FilterCriteria"))
        .and_then(|c| c.get("Filters"))
        .and_then(serde_yaml::Value::as_sequence)
    else {
        return Ok(Vec::new());
    };
    filters
        .iter()
        .map(|f| {
            let pattern = f
                .get("Pattern")
                .and_then(serde_yaml::Value::as_str)
                .ok_or_else(|| anyhow!("a filter of {function} has no Pattern text"))?;
            serde_json::from_str(pattern)
                .map_err(|e| anyhow!("a filter pattern of {function} is not JSON: {e}"))
        })
        .collect()
}

/// Whether Lambda would pass `record` to the function: no patterns, or one that matches.
#[must_use]
pub fn passes(patterns: &[Value], record: &EventRecord) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let Ok(record) = serde_json::to_value(record) else {
        return false;
    };
    patterns.iter().any(|p| matches(p, &record))
}

/// One pattern against a value: an object's every key must match; a list is the values a leaf
/// may have, each a literal or `{"prefix": "…"}` (the forms the template uses).
fn matches(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(k, p)| value.get(k).is_some_and(|v| matches(p, v))),
        Value::Array(allowed) => allowed.iter().any(|a| match a {
            Value::Object(op) => match (op.get("prefix"), value.as_str()) {
                (Some(Value::String(prefix)), Some(v)) => v.starts_with(prefix.as_str()),
                _ => false,
            },
            literal => literal == value,
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event_name: &str, pk: &str) -> EventRecord {
        serde_json::from_value(serde_json::json!({
            "eventID": "1", "eventName": event_name, "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "eu-central-1",
            "dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": "X"}}, "SequenceNumber": "1",
                "SizeBytes": 1, "StreamViewType": "NEW_IMAGE"},
            "eventSourceARN": "arn:aws:dynamodb:eu-central-1:000000000000:table/t/stream/x"
        }))
        .unwrap()
    }

    #[test]
    fn the_outbox_filter_of_the_template_passes_new_outbox_items_only() {
        let template = crate::runner::repo_root().join("infra/template.yaml");
        let patterns = stream_filters(&template, "DeliverOutboxFunction").unwrap();
        assert_eq!(patterns.len(), 2);
        assert!(passes(&patterns, &record("INSERT", "MAIL#offer-1-sent")));
        assert!(passes(
            &patterns,
            &record("INSERT", "EVENT#offer-1-sent#0-OfferSent")
        ));
        // The mark of a send, a wish, a queue entry, a TTL deletion: not for deliver-outbox.
        assert!(!passes(&patterns, &record("MODIFY", "MAIL#offer-1-sent")));
        assert!(!passes(&patterns, &record("INSERT", "WISH#w1")));
        assert!(!passes(
            &patterns,
            &record("INSERT", "Q#bilk#id-card#mon#8")
        ));
        assert!(!passes(&patterns, &record("REMOVE", "EVENT#x")));
    }

    #[test]
    fn a_function_without_a_filter_gets_every_record() {
        let template = crate::runner::repo_root().join("infra/template.yaml");
        let patterns = stream_filters(&template, "SlotReleaseFunction").unwrap();
        assert!(patterns.is_empty());
        assert!(passes(&patterns, &record("MODIFY", "anything")));
    }
}
