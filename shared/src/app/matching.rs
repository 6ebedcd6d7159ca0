//! A free slot offered to the first wish in line that may take it (DESIGN.md, "Matching rule").

use super::{AppError, Deps};
use crate::domain::allocation::{
    AllocationRecord, ChainLink, Entry, QueueLine, Skip, Skipped, why_not_run,
};
use crate::domain::lifecycle;
use crate::domain::matching::fits;
use crate::domain::party;
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
/// How many queue entries the first read takes when the heads' wishes are read before the
/// first try ([`match_slot_in_storm`]): in a storm many of the first are offered a slot already,
/// and one read of each line and one batch read of the wishes should reach one that is not.
const STORM_HEAD: i32 = 15;
/// How many queue entries each later read takes.
const PAGE: i32 = 25;
/// Most free slots read after a slot to find families' runs from it.
const FOLLOWING: i32 = 100;

/// Offers a free slot to the first wish in line — or, for families, the run of back-to-back free
/// slots that starts with it to the first family of that size (DESIGN.md, "several persons").
///
/// The usual offer costs one query (the head of the slot's line; its entries say whom to write
/// to, and the line's first item which party sizes wait in the same hour) and one transaction
/// whose conditions check that the slot is still free and the wish still waiting and has not
/// declined this slot — independent of the length of the line. Only when families wait in the
/// hour are the free slots after it read (one query) and the heads of those families' lines (one
/// query per party size a run serves): the cost is bounded by the party sizes, never by the
/// queue. When only the wish's condition fails (it holds another offer, declined this slot, or
/// left), the slot is known to be free still: the wishes of the entries already read are looked
/// at in one batch read and the first that may take it gets the offer. Only when the slot's
/// condition fails is the slot read again.
pub async fn match_slot(
    deps: &Deps,
    slot: &Slot,
) -> Result<Option<crate::domain::Offer>, AppError> {
    match_slot_in(deps, slot, false).await
}

/// [`match_slot`] for one of several slots matched in a row (a batch of match-offers' queue, that
/// is a storm): the heads' wishes are read before the first try, 15 entries of each line. In a
/// storm the head of a line has usually just been offered a slot of another line (a wish stands
/// in several, and keeps its place while offered), so a try of the head would mostly fail and
/// read them anyway.
pub async fn match_slot_in_storm(
    deps: &Deps,
    slot: &Slot,
) -> Result<Option<crate::domain::Offer>, AppError> {
    match_slot_in(deps, slot, true).await
}

#[tracing::instrument(skip_all, fields(slot_id = %slot.id))]
async fn match_slot_in(
    deps: &Deps,
    slot: &Slot,
    read_first: bool,
) -> Result<Option<crate::domain::Offer>, AppError> {
    let catalog = deps.catalog().await?;
    let mut slot = slot.clone();
    let mut lines = Lines {
        verify: read_first,
        head: if read_first { STORM_HEAD } else { HEAD },
        ..Lines::default()
    };
    // Every lost race means another change won (an offer made in this line, the wish or the slot
    // taken): the line makes progress. A line's offers all append to its chain head, so a storm
    // of duplicated releases and rescans on one line may lose many times in a row; 24 rounds
    // cover the stress test's 170 concurrent matchers on one line with room to spare.
    for _attempt in 0..24 {
        let now = deps.clock.now();
        // Read: who is first in line (from the heads' entries on the first try, from the
        // wishes' states after a conflict), and the run they would get.
        let Some(first) = lines.first(deps, &slot, now).await? else {
            return unclaimed(deps, &slot, now).await;
        };
        let to = first.who.recipient();
        // Decide: the offer and its mail.
        let Some(deadline) = offer_deadline(now, slot.start, deps.config.timing) else {
            return unclaimed(deps, &slot, now).await;
        };
        let wish = (to.id, first.persons);
        let Ok(change) = lifecycle::offer(OfferId::generate(), &first.run, wish, deadline, now)
        else {
            return Ok(None);
        };
        let offer = change.state;
        let token = Token::generate();
        let mail = deps.mails(&catalog, now).offer(&offer, to, &token)?;
        let out = Effects::mail(mail, change.events);
        // The allocation record: whom the lines' heads passed over, and why.
        let record = lines.record(deps, &slot, &first, now)?;
        // Commit, conditioned on the slots being free, the wish waiting as read and the line's
        // chain where it was read.
        match deps
            .store
            .create_offer(&offer, &token.hash(), &out, &record, now)
            .await?
        {
            OfferCommit::Made => {
                tracing::info!(offer_id = %offer.id, wish_id = %offer.wish, "offer sent");
                return Ok(Some(offer));
            }
            // The wish cannot take it (any more): the slot is still free for the next.
            OfferCommit::WishTaken => lines.verify(),
            // A later slot of the run was taken: families get only what the slot alone serves.
            OfferCommit::RunChanged => lines.alone(),
            // Another offer in this line came first: its chain head, again.
            OfferCommit::ChainMoved { wish_taken } => {
                lines.chain = deps
                    .store
                    .chain_head(&QueueLine::of(&slot).to_string())
                    .await?;
                if wish_taken {
                    lines.verify();
                }
            }
            // Someone else changed the slot: read it again, and the wishes with it.
            OfferCommit::SlotChanged => {
                slot = match deps.store.get_slot(&slot.id).await? {
                    Some(s) => s,
                    None => return Ok(None),
                };
                lines.verify();
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

/// Whom a slot is offered to: the entry at the head of a line (which says whom to write to), or
/// a wish read with its current state and the time its place sorts by.
enum Who {
    Entry(QueueEntry, Email),
    Wish(Box<Wish>, DateTime<Utc>),
}

impl Who {
    fn recipient(&self) -> Recipient<'_> {
        match self {
            Who::Entry(entry, email) => Recipient {
                id: &entry.wish,
                email: Some(email),
                language: entry.language,
                active: true,
            },
            Who::Wish(wish, _) => wish.as_ref().into(),
        }
    }

    /// The wish and its place, as the allocation record names them.
    fn ranked(&self) -> (&WishId, DateTime<Utc>) {
        match self {
            Who::Entry(entry, _) => (&entry.wish, entry.ranked_at),
            Who::Wish(wish, ranked_at) => (&wish.id, *ranked_at),
        }
    }
}

/// The first in line for the slot: who, and the run they get (the slot alone, or a family's
/// back-to-back slots from it) for how many persons.
struct First {
    who: Who,
    run: Vec<Slot>,
    persons: u8,
}

/// The line of one party size that a run from the slot serves: the run, and the entries read
/// from its head that are still to be looked at.
struct SizeLine {
    persons: u8,
    run: Vec<Slot>,
    entries: Vec<QueueEntry>,
    /// Where the next read of the line starts (its last place read), when there may be more.
    next: Option<String>,
}

/// An entry passed over on the way to the one chosen: whose, its place, the rule's reason.
type Passed = (WishId, DateTime<Utc>, Skip);

/// What one matching has read of the slot's lines, and whether the heads' entries can still be
/// trusted (the first try) or the wishes' states must be read.
#[derive(Default)]
struct Lines {
    sizes: Vec<SizeLine>,
    read: bool,
    /// A try failed on a wish's condition: from now on, states are read, not assumed.
    verify: bool,
    /// A later slot of a run was taken meanwhile: only runs of the slot alone are offered.
    alone: bool,
    /// The entries passed over, with the rule's reason: those of the pages left behind, and
    /// those of the current look ahead of the one chosen.
    passed: Vec<Passed>,
    skipped: Vec<Passed>,
    /// The last record of the slot's line's allocation chain, read with the head of the line
    /// (and again when another offer appended first).
    chain: Option<ChainLink>,
    /// How many entries the first read of each line takes.
    head: i32,
}

impl Lines {
    fn verify(&mut self) {
        self.verify = true;
    }

    fn alone(&mut self) {
        (self.alone, self.read, self.verify) = (true, false, true);
        self.passed.clear();
    }

    /// Reads the heads of the slot's lines: the one-person line of its hour (whose first items
    /// say which families wait in that hour and where the line's allocation chain stands) and,
    /// for each such family size that a run from the slot serves, that size's line.
    async fn read(&mut self, deps: &Deps, slot: &Slot) -> Result<(), AppError> {
        let line = (&slot.office, &slot.service, local_window(slot.start));
        let head = deps.store.head_of_line(line, 1, None, self.head).await?;
        self.chain = head.chain;
        self.sizes = vec![SizeLine {
            persons: 1,
            run: vec![slot.clone()],
            entries: head.entries,
            next: head.next,
        }];
        // Free slots after this one are read only for families the slot alone cannot serve.
        let following = if self.alone || head.families.iter().all(|n| *n <= slot.persons) {
            Vec::new()
        } else {
            let until = party::run_reach(slot);
            deps.store.free_slots_after(slot, until, FOLLOWING).await?
        };
        for persons in head.families {
            let Some(run) = party::run_for(slot, &following, persons) else {
                continue;
            };
            let head = deps
                .store
                .head_of_line(line, persons, None, self.head)
                .await?;
            self.sizes.push(SizeLine {
                persons,
                run,
                entries: head.entries,
                next: head.next,
            });
        }
        self.read = true;
        Ok(())
    }

    /// The first in line that may take the slot (or a run from it), if the slot is free: on the
    /// first try the earliest head entry of the lines (the offer's conditions catch a head that
    /// cannot take it), after a conflict the first of the entries read, over all lines in queue
    /// order, whose wish may take its run (one batch read of their states), reading further
    /// pages only when none may. Every entry passed over is kept with the rule's reason, for
    /// the allocation record.
    async fn first(
        &mut self,
        deps: &Deps,
        slot: &Slot,
        now: DateTime<Utc>,
    ) -> Result<Option<First>, AppError> {
        if slot.status != SlotStatus::Free {
            return Ok(None);
        }
        if !self.read {
            self.read(deps, slot).await?;
        }
        self.skipped.clear();
        if !self.verify {
            let Some(line) = self
                .sizes
                .iter()
                .filter(|l| !l.entries.is_empty())
                .min_by(|a, b| a.entries[0].place.cmp(&b.entries[0].place))
            else {
                return Ok(None);
            };
            let entry = &line.entries[0];
            if let Some(email) = entry.email.clone() {
                return Ok(Some(First {
                    who: Who::Entry(entry.clone(), email),
                    run: line.run.clone(),
                    persons: line.persons,
                }));
            }
        }
        loop {
            // Entries up to the last place read of a line that has more are in queue order over
            // all lines; those after it wait until that line is read further.
            let bound: Option<String> = self.sizes.iter().filter_map(|l| l.next.clone()).min();
            let within = |e: &QueueEntry| bound.as_ref().is_none_or(|b| e.place <= *b);
            let mut ahead: Vec<(usize, &QueueEntry)> = self
                .sizes
                .iter()
                .enumerate()
                .flat_map(|(i, l)| l.entries.iter().map(move |e| (i, e)))
                .filter(|(_, e)| within(e))
                .collect();
            ahead.sort_by(|a, b| a.1.place.cmp(&b.1.place));
            let ids: Vec<WishId> = ahead.iter().map(|(_, e)| e.wish.clone()).collect();
            let wishes = deps.store.get_wishes(&ids, now).await?;
            for (i, entry) in ahead {
                let line = &self.sizes[i];
                let wish = wishes.iter().find(|w| w.id == entry.wish);
                if let Some(w) = wish
                    && fits(w, &line.run, line.persons)
                {
                    return Ok(Some(First {
                        who: Who::Wish(Box::new(w.clone()), entry.ranked_at),
                        run: line.run.clone(),
                        persons: line.persons,
                    }));
                }
                let reason = wish.map_or(Some(Skip::Gone), |w| {
                    why_not_run(w, &line.run, line.persons)
                });
                let reason = reason.unwrap_or_else(Skip::unexplained);
                self.skipped
                    .push((entry.wish.clone(), entry.ranked_at, reason));
            }
            // None of these may take it: the next page of the lines read least far.
            self.passed.append(&mut self.skipped);
            let Some(bound) = bound else {
                return Ok(None);
            };
            for line in &mut self.sizes {
                line.entries.retain(|e| e.place > bound);
                if line.entries.is_empty()
                    && let Some(after) = line.next.take()
                {
                    let head = deps
                        .store
                        .head_of_line(
                            (&slot.office, &slot.service, local_window(slot.start)),
                            line.persons,
                            Some(&after),
                            PAGE,
                        )
                        .await?;
                    (line.entries, line.next) = (head.entries, head.next);
                }
            }
        }
    }

    /// The allocation record of offering `slot` (the first of the run) to `first`: the entries
    /// passed over to reach it (by pseudonym), appended to the slot's line's chain as read.
    fn record(
        &self,
        deps: &Deps,
        slot: &Slot,
        first: &First,
        now: DateTime<Utc>,
    ) -> Result<AllocationRecord, AppError> {
        let (wish, ranked_at) = first.who.ranked();
        let skipped = self
            .passed
            .iter()
            .chain(&self.skipped)
            .map(|(id, ranked_at, reason)| {
                Ok(Skipped {
                    who: deps.store.pseudonym(id)?,
                    ranked_at: *ranked_at,
                    reason: reason.clone(),
                })
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        let chosen = Entry {
            who: deps.store.pseudonym(wish)?,
            ranked_at,
        };
        Ok(AllocationRecord::append(
            self.chain.as_ref(),
            slot,
            skipped,
            chosen,
            now,
            deps.store.retention.ended,
        ))
    }
}
