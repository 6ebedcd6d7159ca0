//! The deliver step after a commit: the mail to SES, the events to the bus. Both are already
//! decided and safe in the outbox, so a failure here delays, never loses, them (the rescan
//! delivers them once their lease has run out).

use super::Deps;
use crate::domain::{Effects, OutgoingMail, OwedEvent};

impl Deps {
    /// Delivers what a committed change owes: its mail and its events, side by side (neither
    /// waits for the other: the events do not depend on SES accepting the mail).
    pub(crate) async fn deliver(&self, out: &Effects) {
        let events: Vec<OwedEvent> = out
            .event_keys()
            .map(|(key, event)| OwedEvent {
                key,
                name: event.name().to_owned(),
                detail: event.detail().to_string(),
                lease: String::new(),
            })
            .collect();
        // Boxed: the two futures side by side would otherwise bloat every caller's future.
        tokio::join!(
            Box::pin(async {
                if let Some(mail) = &out.mail {
                    self.send_mail(mail).await;
                }
            }),
            Box::pin(self.publish_events(&events))
        );
    }

    /// Sends a mail that is already safe in the outbox. A failure is only logged: the rescan
    /// sends it once the lease has run out.
    #[tracing::instrument(skip_all, fields(mail = %mail.key))]
    pub(crate) async fn send_mail(&self, mail: &OutgoingMail) {
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

    /// Publishes events that are already safe in the outbox, in order, and records each. A
    /// failure is only logged: the rescan publishes it once the lease has run out (an event
    /// published but not recorded is published again: delivery is at least once).
    pub(crate) async fn publish_events(&self, events: &[OwedEvent]) {
        for event in events {
            let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap_or_default();
            match self.events.publish(&event.name, &detail).await {
                Ok(()) => {
                    let now = self.clock.now();
                    if let Err(e) = self.store.mark_event_published(&event.key, now).await {
                        tracing::error!(error = %e, event = %event.key, "event published but not marked");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, event = %event.key, "event not published, the rescan retries");
                }
            }
        }
    }
}
