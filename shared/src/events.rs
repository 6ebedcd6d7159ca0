//! The `EventBridge` publisher of domain events (`SlotReleased`, `OfferSent`, …) and the JSON
//! detail of each.

use crate::domain::DomainEvent;
use crate::domain::time::rfc3339;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::ProvideErrorMetadata as _;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::json;

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

/// The `detail` of a domain event on the bus: ids and the slot's state, never an address.
#[must_use]
pub fn detail(event: &DomainEvent) -> serde_json::Value {
    match event {
        DomainEvent::WishConfirmed {
            wish,
            service,
            offices,
        } => json!({"wish": wish, "service": service, "offices": offices}),
        DomainEvent::WishResumed { wish }
        | DomainEvent::WishPaused { wish }
        | DomainEvent::WishCancelled { wish }
        | DomainEvent::WishExpired { wish } => json!({"wish": wish}),
        DomainEvent::OfferSent {
            offer,
            slot,
            wish,
            deadline,
        } => json!({"offer": offer, "slot": slot, "wish": wish, "deadline": rfc3339(*deadline)}),
        DomainEvent::OfferAccepted { offer, slot, wish }
        | DomainEvent::OfferDeclined { offer, slot, wish }
        | DomainEvent::OfferExpired { offer, slot, wish } => {
            json!({"offer": offer, "slot": slot, "wish": wish})
        }
        DomainEvent::OfferWithdrawn { offer, slot } => json!({"offer": offer, "slot": slot}),
        DomainEvent::SlotWithdrawn { slot } => json!({"slot": slot}),
    }
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

    /// Publishes the events of a committed change, in order. A failure is logged.
    pub async fn notify_all(&self, events: &[DomainEvent]) {
        for event in events {
            if let Err(e) = self.publish(event.name(), &detail(event)).await {
                tracing::warn!(detail_type = event.name(), error = %e, "domain event not published");
            }
        }
    }
}
