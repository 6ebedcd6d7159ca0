//! The deliver step after a commit: the mail to SES, the events to the bus. Both are already
//! decided and the mail is safe in the outbox, so a failure here delays, never loses, the mail
//! (the rescan sends it after its lease).

use super::Deps;
use crate::domain::{DomainEvent, OutgoingMail};

impl Deps {
    /// Sends a committed change's mail and publishes its events, side by side (neither waits
    /// for the other: the events do not depend on SES accepting the mail).
    pub(crate) async fn deliver_and_notify(&self, mail: &OutgoingMail, events: &[DomainEvent]) {
        // Boxed: the two futures side by side would otherwise bloat every caller's future.
        tokio::join!(
            Box::pin(self.deliver(mail)),
            Box::pin(self.events.notify_all(events))
        );
    }

    /// Sends a mail that is already safe in the outbox. A failure is only logged: the rescan
    /// sends it once the lease has run out.
    #[tracing::instrument(skip_all, fields(mail = %mail.key))]
    pub(crate) async fn deliver(&self, mail: &OutgoingMail) {
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
}
