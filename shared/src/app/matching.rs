//! A free slot offered to the first wish in line that may take it (DESIGN.md, "Matching rule").

use super::{AppError, Deps};
use crate::domain::lifecycle;
use crate::domain::matching::pick;
use crate::domain::{
    Effects, Email, OfferId, Slot, SlotStatus, Token, Wish, WishId, local_window, offer_deadline,
};
use crate::mails::Recipient;
use crate::store::{OfferCommit, QueueEntry};
use chrono::{DateTime, Utc};

/// How many queue entries the first read takes from the head of a line: enough that when the
/// head holds another offer (in a release storm, the usual case: a wish stands in several lines)
/// the next ones are known without reading the line again.
const HEAD: i32 = 5;
/// How many queue entries each later read takes.
const PAGE: i32 = 25;

/// Offers a free slot to the first wish in line.
///
/// The usual offer costs one query (the head of the line; its entries say whom to write to) and
/// one transaction whose conditions check that the slot is still free and the wish still waiting
/// and has not declined this slot — independent of the length of the line. When only the
/// wish's condition fails (it holds another offer, declined this slot, or left), the slot is
/// known to be free still: the wishes of the entries already read are looked at in one batch
/// read and the first that may take it gets the offer — one read and one transaction more.
/// Only when the slot's condition fails is the slot read again.
#[tracing::instrument(skip_all, fields(slot_id = %slot.id))]
pub async fn match_slot(
    deps: &Deps,
    slot: &Slot,
) -> Result<Option<crate::domain::Offer>, AppError> {
    let catalog = deps.catalog().await?;
    let mut slot = slot.clone();
    let mut line = Line::default();
    for _attempt in 0..8 {
        let now = deps.clock.now();
        // Read: who is first in line (from the head's entry on the first try, from the wishes'
        // states after a conflict).
        let Some(first) = line.first(deps, &slot, now).await? else {
            return unclaimed(deps, &slot, now).await;
        };
        let to = first.recipient();
        // Decide: the offer and its mail.
        let Some(deadline) = offer_deadline(now, slot.start, deps.config.timing) else {
            return unclaimed(deps, &slot, now).await;
        };
        let Ok(change) = lifecycle::offer(OfferId::generate(), &slot, to.id, deadline, now) else {
            return Ok(None);
        };
        let offer = change.state;
        let token = Token::generate();
        let mail = deps.mails(&catalog, now).offer(&offer, to, &token)?;
        let out = Effects::mail(mail, change.events);
        // Commit, conditioned on the slot being free and the wish waiting as read.
        match deps
            .store
            .create_offer(&offer, &token.hash(), &out, now)
            .await?
        {
            OfferCommit::Made => {
                tracing::info!(offer_id = %offer.id, wish_id = %offer.wish, "offer sent");
                return Ok(Some(offer));
            }
            // The wish cannot take it (any more): the slot is still free for the next.
            OfferCommit::WishTaken => line.verify(),
            // Someone else changed the slot: read it again, and the wishes with it.
            OfferCommit::SlotChanged => {
                slot = match deps.store.get_slot(&slot.id).await? {
                    Some(s) => s,
                    None => return Ok(None),
                };
                line.verify();
            }
        }
    }
    Err(AppError::Conflict("slot while matching"))
}

/// No wish can take the free slot: the booking system hears of it once (`SlotUnclaimed`), until
/// the slot changes. Never an offer.
async fn unclaimed(
    deps: &Deps,
    slot: &Slot,
    now: DateTime<Utc>,
) -> Result<Option<crate::domain::Offer>, AppError> {
    let Ok(event) = lifecycle::unclaimed(slot) else {
        return Ok(None);
    };
    let key = format!("slot-{}-unclaimed-{}", slot.id, now.timestamp_millis());
    let out = Effects::events(key, vec![event]);
    if deps.store.mark_unclaimed(slot, &out, now).await? {
        tracing::info!(slot_id = %slot.id, "slot unclaimed");
    }
    Ok(None)
}

/// Whom a slot is offered to: the entry at the head of its line (which says whom to write to),
/// or a wish read with its current state.
enum First {
    Entry(QueueEntry, Email),
    Wish(Box<Wish>),
}

impl First {
    fn recipient(&self) -> Recipient<'_> {
        match self {
            First::Entry(entry, email) => Recipient {
                id: &entry.wish,
                email: Some(email),
                language: entry.language,
                active: true,
            },
            First::Wish(wish) => wish.as_ref().into(),
        }
    }
}

/// What one matching has read of the slot's line: the entries from its head, and whether the
/// head's entry can still be trusted (the first try) or the wishes' states must be read.
#[derive(Default)]
struct Line {
    /// The entries read so far, from the head, and where the next read starts.
    entries: Vec<QueueEntry>,
    next: Option<String>,
    read: bool,
    /// A try failed on a wish's condition: from now on, states are read, not assumed.
    verify: bool,
}

impl Line {
    fn verify(&mut self) {
        self.verify = true;
    }

    /// The first wish in the slot's line that may take it, if the slot is free: on the first
    /// try the head's entry (one query; the offer's conditions catch a head that cannot take
    /// it), after a conflict the first of the entries read whose wish may take it (one batch
    /// read of their states), reading further pages only when none may.
    async fn first(
        &mut self,
        deps: &Deps,
        slot: &Slot,
        now: DateTime<Utc>,
    ) -> Result<Option<First>, AppError> {
        if slot.status != SlotStatus::Free {
            return Ok(None);
        }
        let window = local_window(slot.start);
        if !self.read {
            let (entries, next) = deps
                .store
                .head_of_line(&slot.office, &slot.service, window, None, HEAD)
                .await?;
            (self.entries, self.next, self.read) = (entries, next, true);
        }
        if !self.verify {
            let Some(entry) = self.entries.first() else {
                return Ok(None);
            };
            if let Some(email) = entry.email.clone() {
                return Ok(Some(First::Entry(entry.clone(), email)));
            }
        }
        loop {
            let ids: Vec<WishId> = self.entries.iter().map(|e| e.wish.clone()).collect();
            let wishes = deps.store.get_wishes(&ids, now).await?;
            // Back into queue order: the batch read returns items in any order.
            let ordered: Vec<&Wish> = ids
                .iter()
                .filter_map(|id| wishes.iter().find(|w| &w.id == id))
                .collect();
            if let Some(w) = pick(slot, ordered) {
                return Ok(Some(First::Wish(Box::new(w.clone()))));
            }
            // None of these may take it: the next page of the line.
            let Some(after) = self.next.take() else {
                return Ok(None);
            };
            let (entries, next) = deps
                .store
                .head_of_line(&slot.office, &slot.service, window, Some(&after), PAGE)
                .await?;
            (self.entries, self.next) = (entries, next);
        }
    }
}
