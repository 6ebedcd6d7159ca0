//! Delivery: what a committed change owes — its mail to SES, its events to the bus — read from
//! the outbox, never from the use case that committed it. deliver-outbox does it for each new
//! outbox item on the wishes table's stream; the rescan does it for what is still owed after its
//! lease. Both first claim the item (a conditional update of its lease), so a stream record
//! delivered twice, or the stream and the rescan at once, deliver it once.

use super::{AppError, Deps};
use crate::domain::OwedEvent;
use crate::store::DueMail;
use crate::store::stream::Owed;

impl Deps {
    /// Claims an owed mail or event and delivers it. `Ok(false)` when someone else holds it (or
    /// already delivered it); an error only when the claim itself could not be made (the item
    /// stays owed: whoever retries may claim it). A failed send or publication after the claim
    /// is logged, and the rescan retries it after the lease.
    pub async fn deliver_owed(&self, owed: &Owed) -> Result<bool, AppError> {
        if !self.store.claim(owed, self.clock.now()).await? {
            return Ok(false);
        }
        match owed {
            Owed::Mail(mail) => self.send_mail(mail).await,
            Owed::Event(event) => self.publish_event(event).await,
        }
        Ok(true)
    }

    /// Sends a claimed mail and records the send (which drops its body and address).
    #[tracing::instrument(skip_all, fields(mail = %mail.key))]
    async fn send_mail(&self, mail: &DueMail) {
        match self.mailer.send_raw(&mail.to, &mail.raw).await {
            Ok(()) => {
                if let Err(e) = self.store.mark_mail_sent(&mail.key, self.clock.now()).await {
                    // Sent but not recorded: the rescan would send it again after the lease.
                    tracing::error!(error = %e, "mail sent but not marked");
                }
            }
            Err(e) => tracing::warn!(error = %e, "mail not sent, the rescan retries"),
        }
    }

    /// Publishes a claimed event and records it. An event published but not recorded is
    /// published again after the lease: delivery is at least once.
    #[tracing::instrument(skip_all, fields(event = %event.key))]
    async fn publish_event(&self, event: &OwedEvent) {
        let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap_or_default();
        match self.events.publish(&event.name, &detail).await {
            Ok(()) => {
                let now = self.clock.now();
                if let Err(e) = self.store.mark_event_published(&event.key, now).await {
                    tracing::error!(error = %e, "event published but not marked");
                }
            }
            Err(e) => tracing::warn!(error = %e, "event not published, the rescan retries"),
        }
    }
}
