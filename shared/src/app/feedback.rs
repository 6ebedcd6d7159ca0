//! SES's word on an address: a permanent bounce or a complaint (its configuration set sends
//! both to `EventBridge`, and match-offers receives them). The address is not accepted for a new
//! wish for a while (`SUPPRESS_DAYS`, 30), and its wishes in line are paused with no further
//! mail, so that none holds a slot its citizen cannot hear of.
//!
//! Only the very address SES named: the limits count an address's `+tag` variants together
//! (one book), but a bounce of `anna+x@…` (many providers refuse plus addresses) says nothing
//! about `anna@…`, and anyone can leave a wish for a variant of someone else's address.

use super::{AppError, Deps};
use crate::domain::Email;

/// What SES reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackKind {
    /// A permanent bounce: the address does not exist or refuses all mail.
    Bounce,
    /// The recipient marked a mail as spam.
    Complaint,
}

impl FeedbackKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Bounce => "bounce",
            FeedbackKind::Complaint => "complaint",
        }
    }
}

/// One bounce or complaint event: its kind, the SES message id, the addresses it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFeedback {
    pub kind: FeedbackKind,
    pub message: String,
    pub addresses: Vec<String>,
}

/// Suppresses each address the event names and pauses its wishes in line (those of that very
/// address, not of its `+tag` variants); answers how many were paused. A repeated event finds
/// them paused already and changes nothing.
pub async fn mail_feedback(deps: &Deps, feedback: &MailFeedback) -> Result<usize, AppError> {
    let now = deps.clock.now();
    let until = now + deps.config.limits.suppress_for;
    // The key `MailFailed` carries: which SES message, and why (no address).
    let message: String = feedback
        .message
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(100)
        .collect();
    let mail_key = format!("ses-{message}-{}", feedback.kind.as_str());
    let mut paused = 0;
    for address in &feedback.addresses {
        let Ok(email) = Email::parse(address) else {
            continue;
        };
        let known = deps.store.address_book(&email).await?;
        let was_suppressed = deps.store.suppressed_until(&known, &email, now)?.is_some();
        let book = deps.store.suppress_address(&email, until, now).await?;
        if !was_suppressed {
            deps.store.count_suppressed().await;
        }
        let wishes = deps.store.get_wishes(&book.wishes, now).await?;
        for wish in wishes.iter().filter(|w| w.contact.email() == Some(&email)) {
            if deps
                .pause_unreachable(Some(&wish.id), &mail_key, None)
                .await?
            {
                paused += 1;
            }
        }
        tracing::info!(kind = feedback.kind.as_str(), paused, "address suppressed");
    }
    Ok(paused)
}
