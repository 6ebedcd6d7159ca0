//! Delivery: what a committed change owes — its mail to SES, its events to the bus — read from
//! the outbox, never from the use case that committed it. deliver-outbox does it for each new
//! outbox item on the wishes table's stream; the rescan does it for what is still owed after its
//! lease. Both first claim the item (a conditional update of its lease), so a stream record
//! delivered twice, or the stream and the rescan at once, deliver it once.
//!
//! Each claim holds the item longer than the one before (2, 4, 8 … minutes, at most 4 hours), so
//! a mail that keeps failing is retried less and less often. A mail still failing after its
//! bound (`MAIL_RETRY_HOURS`, 24) is given up on: marked failed, counted, its wish paused (so it
//! holds no slot its citizen cannot hear of) and `MailFailed` published for the alarm.

use super::{AppError, Deps};
use crate::domain::public_stats;
use crate::domain::{DomainEvent, Effects, OfferId, OwedEvent, WishId};
use crate::store::stream::Owed;
use crate::store::{DueMail, StoreError};

/// What became of one owed item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Sent or published by this call.
    Delivered,
    /// Someone else holds it, or it was delivered already.
    Skipped,
    /// Claimed but not delivered: tried again after its lease.
    Failed,
    /// A mail given up on after its retries' bound.
    GaveUp,
}

impl Deps {
    /// Claims each owed item in order and delivers what it claimed: each mail on its own, the
    /// events together (one `PutEvents` per ten). The answer for each item, in order: an error
    /// only when its claim could not be made (the item stays owed: whoever retries may claim
    /// it) — then the later items are not claimed either, and answer an error too.
    /// A function built without senders ([`Deps::new`]) claims nothing and answers an error for
    /// each item.
    pub async fn deliver_all(&self, owed: &[Owed]) -> Vec<Result<Delivery, AppError>> {
        let Some(senders) = &self.senders else {
            return owed
                .iter()
                .map(|_| {
                    Err(AppError::NotConfigured(
                        "this function was built without SES and the bus",
                    ))
                })
                .collect();
        };
        let mut answers = Vec::with_capacity(owed.len());
        let mut events: Vec<(usize, &OwedEvent)> = Vec::new();
        let mut broken = false;
        for item in owed {
            if broken {
                answers.push(Err(AppError::Conflict(
                    "an earlier item could not be claimed",
                )));
                continue;
            }
            match self.store.claim(item, self.clock.now()).await {
                Ok(false) => answers.push(Ok(Delivery::Skipped)),
                Ok(true) => match item {
                    Owed::Mail(mail) => answers.push(Ok(self.send_mail(senders, mail).await)),
                    Owed::Event(event) => {
                        events.push((answers.len(), event));
                        answers.push(Ok(Delivery::Failed));
                    }
                },
                Err(e) => {
                    broken = true;
                    answers.push(Err(e.into()));
                }
            }
        }
        let entries: Vec<(&str, &str)> = events
            .iter()
            .map(|(_, e)| (e.name.as_str(), e.detail.as_str()))
            .collect();
        let published = senders.events.publish_all(&entries).await;
        for ((at, event), result) in events.iter().zip(published) {
            answers[*at] = Ok(self.published(event, result).await);
        }
        answers
    }

    /// Sends a claimed mail and records the send (which drops its body and address); gives it
    /// up once it has failed for longer than its bound.
    #[tracing::instrument(skip_all, fields(mail = %mail.key, attempt = mail.attempts + 1))]
    async fn send_mail(&self, senders: &super::Senders, mail: &DueMail) -> Delivery {
        let error = match senders.mailer.send_raw(&mail.to, &mail.raw).await {
            Ok(()) => {
                if let Err(e) = self.store.mark_mail_sent(&mail.key, self.clock.now()).await {
                    // Sent but not recorded: the rescan would send it again after the lease.
                    tracing::error!(error = %e, "mail sent but not marked");
                }
                return Delivery::Delivered;
            }
            Err(e) => e,
        };
        if self.clock.now() - mail.created_at < self.config.mail_retry_for {
            tracing::warn!(%error, "mail not sent, retried after its lease");
            return Delivery::Failed;
        }
        match self.give_up_mail(mail).await {
            Ok(()) => {
                tracing::warn!(%error, "mail given up after its retries; its wish is paused");
                Delivery::GaveUp
            }
            Err(e) => {
                tracing::error!(%error, give_up = %e, "mail not given up, retried after its lease");
                Delivery::Failed
            }
        }
    }

    /// Gives up on an undeliverable mail: marks it failed and pauses its wish
    /// ([`Deps::pause_unreachable`]).
    async fn give_up_mail(&self, mail: &DueMail) -> Result<(), AppError> {
        self.pause_unreachable(mail.wish.as_ref(), &mail.key, Some(mail))
            .await
            .map(|_| ())
    }

    /// A wish whose citizen mail cannot reach — `failed`, an outbox mail given up on, or SES's
    /// word on the address (`mail_key` names which mail): read the wish and its open offer,
    /// decide with [`crate::domain::Wish::undeliverable`], commit the pause (an open offer
    /// withdrawn, its slot free for the next wish) with `MailFailed` and the failed mail's mark.
    /// A wish that changed meanwhile is read again. `true` when a wish was paused.
    pub(super) async fn pause_unreachable(
        &self,
        wish_id: Option<&crate::domain::WishId>,
        mail_key: &str,
        failed: Option<&DueMail>,
    ) -> Result<bool, AppError> {
        for _ in 0..3 {
            let now = self.clock.now();
            let wish = match wish_id {
                Some(id) => self.store.get_wish(id, now).await?,
                None => None,
            };
            let offer = match &wish {
                Some(w) => self.open_offer(w).await?,
                None => None,
            };
            let (paused, events) = match &wish {
                Some(w) => {
                    let change = w.undeliverable(offer.as_ref(), mail_key);
                    let paused = change.state.is_some().then_some((w, offer.as_ref()));
                    (paused, change.events)
                }
                // The wish is gone (or unknown): nothing to pause, the alarm hears of it.
                None => (
                    None,
                    vec![DomainEvent::MailFailed {
                        mail: mail_key.to_owned(),
                        wish: wish_id.cloned(),
                    }],
                ),
            };
            if failed.is_none() && paused.is_none() {
                // Nothing to record: no failed mail, no wish to pause.
                return Ok(false);
            }
            let out = Effects::events(format!("{mail_key}-failed"), events);
            match self.store.fail_mail(failed, paused, now, &out).await {
                Ok(()) => return Ok(paused.is_some()),
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict("wish while pausing it"))
    }

    /// Records a claimed event that `PutEvents` took. An event published but not recorded is
    /// published again after the lease: delivery is at least once.
    #[tracing::instrument(skip_all, fields(event = %event.key))]
    async fn published(
        &self,
        event: &OwedEvent,
        result: Result<(), crate::events::PublishError>,
    ) -> Delivery {
        if let Err(e) = result {
            tracing::warn!(error = %e, "event not published, retried after its lease");
            return Delivery::Failed;
        }
        let now = self.clock.now();
        if let Err(e) = self.store.mark_event_published(&event.key, now).await {
            tracing::error!(error = %e, "event published but not marked");
        }
        if event.name == "OfferSent" {
            self.count_first_offer(event).await;
        }
        Delivery::Delivered
    }

    /// The public statistics count a wish's first offer, by the whole days it waited for it, once
    /// its `OfferSent` is published: off the offer path (which stays one query and one
    /// transaction), from a read of the offer and the wish ([`crate::store::Store::offer_facts`])
    /// and the rule [`public_stats::first_offer_wait`]. Only an event published and then
    /// published again (its mark lost) counts twice. Failures are only logged.
    async fn count_first_offer(&self, event: &OwedEvent) {
        let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap_or_default();
        let id = |k: &str| detail[k].as_str().unwrap_or_default().to_owned();
        let (Ok(offer), Ok(wish)) = (OfferId::parse(&id("offer")), WishId::parse(&id("wish")))
        else {
            tracing::warn!("OfferSent without offer and wish ids: first offer not counted");
            return;
        };
        match self.store.offer_facts(&offer, &wish).await {
            Ok(Some(facts)) => {
                if let Some(days) = public_stats::first_offer_wait(&facts) {
                    self.store
                        .tally_first_offer(&facts.office, &facts.service, facts.offered_at, days)
                        .await;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "first offer not counted"),
        }
    }
}
