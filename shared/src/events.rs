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
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(detail_type)
            .detail(detail.to_string())
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| PublishError(e.code().unwrap_or("unreachable").to_owned()))?;
        if out.failed_entry_count > 0 {
            let reason = out
                .entries()
                .iter()
                .filter_map(|e| e.error_code())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(PublishError(reason));
        }
        Ok(())
    }
}
