//! The `EventBridge` publisher of domain events (`SlotReleased`, `OfferSent`, …).

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

/// Source of every event we publish.
pub const SOURCE: &str = "terminagent";

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
            .map_err(|e| PublishError(format!("{e:?}")))?;
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

    /// Domain events for other consumers are informative: a failure is logged, never fatal.
    pub async fn notify(&self, detail_type: &str, detail: serde_json::Value) {
        if let Err(e) = self.publish(detail_type, &detail).await {
            tracing::warn!(detail_type, error = %e, "domain event not published");
        }
    }
}
