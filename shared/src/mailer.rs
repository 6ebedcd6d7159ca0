//! The SES adapter: sends a finished MIME message, nothing else.

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::ProvideErrorMetadata as _;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};

/// Why SES did not take a mail: its error code only. The message text of a rejection can quote
/// the recipient's address, and these errors are logged.
#[derive(Debug, thiserror::Error)]
#[error("mail not sent: {0}")]
pub struct SendError(pub String);

#[derive(Clone, Debug)]
pub struct Mailer {
    client: Client,
    configuration_set: Option<String>,
}

impl Mailer {
    #[must_use]
    pub fn new(client: Client, configuration_set: Option<String>) -> Self {
        Self {
            client,
            configuration_set,
        }
    }

    /// Sends a raw message (text + HTML parts, attachments, `List-Unsubscribe` headers survive
    /// only in raw form).
    pub async fn send_raw(&self, to: &str, raw: &str) -> Result<(), SendError> {
        let message = RawMessage::builder()
            .data(Blob::new(raw.as_bytes()))
            .build()
            .map_err(|e| SendError(e.to_string()))?;
        self.client
            .send_email()
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().raw(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|e| SendError(e.code().unwrap_or("unreachable").to_owned()))?;
        Ok(())
    }
}
