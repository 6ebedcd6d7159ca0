//! The scheduled rescan: the safety net behind every other path.

use super::deliver::Delivery;
use super::matching::match_slot;
use super::offers::release_offer;
use super::{AppError, Deps};
use crate::domain::{AgeStep, Catalog, Effects, OfferStatus, Release, Slot, Wish, age_step};
use crate::store::stream::Owed;
use crate::store::{AgeMark, StoreError};
use chrono::{DateTime, Duration, Utc};

/// What one rescan did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RescanReport {
    pub offers_expired: usize,
    /// Owed mails and events tried again after their lease (delivered or not).
    pub mails_retried: usize,
    pub events_retried: usize,
    /// Mails given up on after their retries' bound (their wishes paused).
    pub mails_failed: usize,
    pub wishes_enqueued: usize,
    pub slots_checked: usize,
    pub offers_made: usize,
    pub wishes_reminded: usize,
    pub wishes_expired: usize,
    /// Booked appointments whose reminder went out.
    pub appointments_reminded: usize,
    /// Items that failed (logged); the next run tries them again.
    pub failures: usize,
}

/// Applies the age rule to one wish: remind, expire, or look again later. Returns what was done.
async fn age_wish(
    deps: &Deps,
    catalog: &Catalog,
    wish: Wish,
    now: DateTime<Utc>,
) -> Result<Option<AgeStep>, AppError> {
    if !wish.in_line() {
        return Ok(None);
    }
    let mails = deps.mails(catalog, now);
    match age_step(&wish, now, deps.config.wish_age) {
        AgeStep::WaitUntil(at) => {
            deps.store.schedule_age_check(&wish, at).await?;
            Ok(None)
        }
        AgeStep::Remind { ends_at } => {
            if wish.remind(now).is_err() {
                return Ok(None);
            }
            let out = Effects::mail(mails.reminder(&wish, ends_at)?, Vec::new());
            match deps
                .store
                .mark_age(&wish, AgeMark::Reminded, ends_at, now, &out)
                .await
            {
                Ok(()) => Ok(Some(AgeStep::Remind { ends_at })),
                Err(StoreError::Conflict) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        AgeStep::Expire if wish.earlier.is_some() => {
            // A search for an earlier appointment ends; the appointment stays.
            let stopped =
                super::appointments::stop_looking(deps, catalog, (&wish, None), now).await?;
            Ok(stopped.then_some(AgeStep::Expire))
        }
        AgeStep::Expire => {
            let Ok(change) = wish.expire() else {
                // An offer is out: let the citizen answer it first, look again tomorrow.
                deps.store
                    .schedule_age_check(&wish, now + Duration::days(1))
                    .await?;
                return Ok(None);
            };
            let mail = mails.wish_expired(&change.state)?;
            let out = Effects::mail(mail, change.events);
            match deps.store.expire_wish(&wish, now, &out).await {
                Ok(()) => {
                    deps.store.dequeue(&wish, &wish.lines(catalog)).await?;
                    Ok(Some(AgeStep::Expire))
                }
                Err(StoreError::Conflict) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// The scheduled rescan: expires overdue offers, retries owed mails, finishes interrupted
/// enqueueing, and offers free slots nobody wanted yet. Its cost grows with open offers, owed
/// mails and free slots — never with the number of waiting wishes.
pub async fn rescan(deps: &Deps) -> Result<RescanReport, AppError> {
    let mut report = RescanReport::default();
    let catalog = deps.catalog().await?;
    let now = deps.clock.now();

    for offer in deps.store.overdue_offers(now, 100).await? {
        let id = offer.id.clone();
        match expire_overdue(deps, offer, now).await {
            Ok(true) => report.offers_expired += 1,
            Ok(false) => {}
            Err(e) => report.failed(&e, "offer", id.as_ref()),
        }
    }

    let due = deps.store.due_outbox(now, 100).await?;
    for (owed, result) in due.iter().zip(deps.deliver_all(&due).await) {
        match (result, owed) {
            (Ok(Delivery::Delivered | Delivery::Failed), Owed::Mail(_)) => {
                report.mails_retried += 1;
            }
            (Ok(Delivery::Delivered | Delivery::Failed), Owed::Event(_)) => {
                report.events_retried += 1;
            }
            (Ok(Delivery::GaveUp), _) => report.mails_failed += 1,
            (Ok(Delivery::Skipped), _) => {}
            (Err(e), Owed::Mail(m)) => report.failed(&e, "mail", &m.key),
            (Err(e), Owed::Event(ev)) => report.failed(&e, "event", &ev.key),
        }
    }

    for wish in deps
        .store
        .wishes_to_enqueue(now - Duration::minutes(1), now)
        .await?
    {
        match super::wishes::enqueue(deps, &wish, &catalog, now).await {
            Ok(()) => report.wishes_enqueued += 1,
            Err(e) => report.failed(&e, "enqueue", wish.id.as_ref()),
        }
    }

    for wish in deps.store.wishes_by_age(now, 100).await? {
        let id = wish.id.clone();
        match age_wish(deps, &catalog, wish, now).await {
            Ok(Some(AgeStep::Remind { .. })) => report.wishes_reminded += 1,
            Ok(Some(AgeStep::Expire)) => report.wishes_expired += 1,
            Ok(_) => {}
            Err(e) => report.failed(&e, "wish", id.as_ref()),
        }
    }

    for offer in deps.store.appointments_to_remind(now, 100).await? {
        match super::appointments::remind(deps, &catalog, &offer, now).await {
            Ok(true) => report.appointments_reminded += 1,
            Ok(false) => {}
            Err(e) => report.failed(&e, "appointment", offer.id.as_ref()),
        }
    }

    // Every free slot, a page at a time; one that fails is logged and counted, the rest go on.
    let earliest = now + deps.config.timing.before_start + deps.config.timing.min_response;
    for office in &catalog.offices {
        let mut after: Option<Slot> = None;
        loop {
            let (page, more) = deps
                .store
                .free_slots(&office.id, earliest, after.as_ref(), SLOT_PAGE)
                .await?;
            for slot in &page {
                report.slots_checked += 1;
                match match_slot(deps, slot).await {
                    Ok(Some(_)) => report.offers_made += 1,
                    Ok(None) => {}
                    Err(e) => report.failed(&e, "slot", slot.id.as_ref()),
                }
            }
            after = page.into_iter().last();
            if !more || after.is_none() {
                break;
            }
        }
    }
    Ok(report)
}

/// Free slots read per page by the rescan.
const SLOT_PAGE: i32 = 100;

impl RescanReport {
    fn failed(&mut self, e: &AppError, what: &'static str, id: &str) {
        self.failures += 1;
        tracing::warn!(error = %e, item = what, id, "rescan: item failed, the next run tries again");
    }
}

/// An overdue offer is expired: the wish waits again (or pauses) and the slot moves on. When the
/// wish's data is already gone, the offer expires all the same and the slot moves on: it is
/// never left stuck in the index. `true` when this call expired it.
async fn expire_overdue(
    deps: &Deps,
    offer: crate::domain::Offer,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    if let Some(wish) = deps.store.get_wish(&offer.wish, now).await? {
        let after = release_offer(deps, offer, &wish, Release::Expired).await?;
        return Ok(after.status == OfferStatus::Expired);
    }
    if offer.effective_status(now) != OfferStatus::Expired {
        return Ok(false);
    }
    let event = crate::domain::DomainEvent::OfferExpired {
        offer: offer.id.clone(),
        slot: offer.slot.clone(),
        also: offer.also_ids(),
        wish: offer.wish.clone(),
    };
    let out = Effects::events(format!("offer-{}-expired", offer.id), vec![event]);
    match deps.store.expire_orphan_offer(&offer, &out, now).await {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
