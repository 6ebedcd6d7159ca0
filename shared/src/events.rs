//! The `EventBridge` publisher of domain events (`SlotReleased`, `OfferSent`, …) and the JSON
//! detail of each.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::ProvideErrorMetadata as _;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

/// Source of every event we publish.
pub const SOURCE: &str = "terminagent";

/// Why an event was not published: the service's error code, never its message text.
#[derive(Debug, thiserror::Error)]
#[error("event not published: {0}")]
pub struct PublishError(pub String);

#[derive(Clone, Debug)]
pub struct Events {
    client: Client,
    bus: String,
}

impl Events {
    #[must_use]
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }

    /// Publishes one event. `PutEvents` reports per-entry failures in a 200 answer, so those are
    /// checked too.
    pub async fn publish(
        &self,
        detail_type: &str,
        detail: &serde_json::Value,
    ) -> Result<(), PublishError> {
        let detail = detail.to_string();
        self.publish_all(&[(detail_type, detail.as_str())])
            .await
            .pop()
            .unwrap_or_else(|| Err(PublishError("no answer".into())))
    }

    /// Publishes events given as (`detail-type`, JSON detail), up to [`MAX_BATCH`] per
    /// `PutEvents` request; the answer says for each, in order, whether it is on the bus (a
    /// request can fail as a whole, or for single entries in a 200 answer).
    pub async fn publish_all(&self, events: &[(&str, &str)]) -> Vec<Result<(), PublishError>> {
        let mut results = Vec::with_capacity(events.len());
        for batch in events.chunks(MAX_BATCH) {
            let entries = batch
                .iter()
                .map(|(detail_type, detail)| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(SOURCE)
                        .detail_type(*detail_type)
                        .detail(*detail)
                        .build()
                })
                .collect();
            match self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    let answers = out.entries();
                    for i in 0..batch.len() {
                        results.push(match answers.get(i) {
                            Some(a) => match a.error_code() {
                                None => Ok(()),
                                Some(code) => Err(PublishError(code.to_owned())),
                            },
                            None => Err(PublishError("no answer for the entry".into())),
                        });
                    }
                }
                Err(e) => {
                    let code = e.code().unwrap_or("unreachable").to_owned();
                    results.extend(batch.iter().map(|_| Err(PublishError(code.clone()))));
                }
            }
        }
        results
    }
}

/// The most entries one `PutEvents` request takes.
pub const MAX_BATCH: usize = 10;
