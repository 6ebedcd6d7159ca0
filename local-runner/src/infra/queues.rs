//! match-offers' FIFO queue and its dead letters, as the template's `MatchQueue` describes them.

use super::template::{load, referenced_resource, resources_of_type};
use crate::emulators::Clients;
use anyhow::{Context as _, Result, anyhow, ensure};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_yaml::Value;
use std::path::Path;

/// What the template says of the match queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchQueueDef {
    pub visibility_timeout: u64,
    pub max_receive_count: u64,
    /// The logical id of its dead-letter queue.
    pub dead_letters: String,
}

/// Reads `MatchQueue` (it must be FIFO, with a visibility timeout and a redrive policy to a FIFO
/// queue of the template).
///
/// # Errors
/// When the template has no such queue, or it is not so.
pub fn template_match_queue(template: &Path) -> Result<MatchQueueDef> {
    let doc = load(template)?;
    let queues = resources_of_type(&doc, "AWS::SQS::Queue")?;
    let props = |id: &str| {
        queues
            .iter()
            .find(|(q, _)| *q == id)
            .map(|(_, p)| *p)
            .ok_or_else(|| anyhow!("{} has no AWS::SQS::Queue {id}", template.display()))
    };
    let fifo = |p: &Value| p.get("FifoQueue").and_then(Value::as_bool) == Some(true);
    let queue = props("MatchQueue")?;
    ensure!(fifo(queue), "MatchQueue must be a FIFO queue");
    let number = |v: Option<&Value>, what: &str| {
        v.and_then(Value::as_u64)
            .ok_or_else(|| anyhow!("MatchQueue's {what} must be a literal number"))
    };
    let redrive = queue
        .get("RedrivePolicy")
        .ok_or_else(|| anyhow!("MatchQueue has no RedrivePolicy"))?;
    let dead_letters = redrive
        .get("deadLetterTargetArn")
        .and_then(referenced_resource)
        .ok_or_else(|| anyhow!("MatchQueue's deadLetterTargetArn names no resource"))?
        .to_owned();
    ensure!(
        fifo(props(&dead_letters)?),
        "{dead_letters} (MatchQueue's dead letters) must be a FIFO queue"
    );
    Ok(MatchQueueDef {
        visibility_timeout: number(queue.get("VisibilityTimeout"), "VisibilityTimeout")?,
        max_receive_count: number(redrive.get("maxReceiveCount"), "maxReceiveCount")?,
        dead_letters,
    })
}

/// Creates `{prefix}MatchQueue.fifo` and its dead letters; returns the queue's URL.
/// `CreateQueue` with the same name and attributes returns the existing queue.
pub(super) async fn create_match_queue(
    clients: &Clients,
    def: &MatchQueueDef,
    prefix: &str,
) -> Result<String> {
    let create = |name: String, attributes: Vec<(QueueAttributeName, String)>| async move {
        let mut request = clients
            .sqs
            .create_queue()
            .queue_name(&name)
            .attributes(QueueAttributeName::FifoQueue, "true");
        for (k, v) in attributes {
            request = request.attributes(k, v);
        }
        request
            .send()
            .await
            .with_context(|| format!("creating queue {name}"))?
            .queue_url
            .ok_or_else(|| anyhow!("CreateQueue returned no QueueUrl"))
    };
    let dead_url = create(format!("{prefix}{}.fifo", def.dead_letters), vec![]).await?;
    let dead_arn = super::bus::queue_arn(&clients.sqs, &dead_url).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dead_arn,
        "maxReceiveCount": def.max_receive_count,
    });
    create(
        format!("{prefix}MatchQueue.fifo"),
        vec![
            (
                QueueAttributeName::VisibilityTimeout,
                def.visibility_timeout.to_string(),
            ),
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
        ],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_match_queue_is_fifo_with_fifo_dead_letters() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml");
        let def = template_match_queue(&path).unwrap();
        assert_eq!(def.dead_letters, "MatchQueueDeadLetters");
        assert_eq!(def.max_receive_count, 5);
        assert_eq!(def.visibility_timeout, 360);
    }
}
