//! The scheduled rescan: the safety net behind every other path.

use super::matching::match_slot;
use super::offers::release_offer;
use super::{AppError, Deps};
use crate::domain::{AgeStep, Catalog, Effects, OfferStatus, Release, Wish, age_step};
use crate::store::stream::Owed;
use crate::store::{AgeMark, StoreError};
use chrono::{DateTime, Duration, Utc};

/// What one rescan did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RescanReport {
    pub offers_expired: usize,
    pub mails_retried: usize,
    pub events_retried: usize,
    pub wishes_enqueued: usize,
    pub slots_checked: usize,
    pub offers_made: usize,
    pub wishes_reminded: usize,
    pub wishes_expired: usize,
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
        let Some(wish) = deps.store.get_wish(&offer.wish, now).await? else {
            continue;
        };
        let after = release_offer(deps, offer, &wish, Release::Expired).await?;
        if after.status == OfferStatus::Expired {
            report.offers_expired += 1;
        }
    }

    for owed in deps.store.due_outbox(now, 100).await? {
        if deps.deliver_owed(&owed).await? {
            match owed {
                Owed::Mail(_) => report.mails_retried += 1,
                Owed::Event(_) => report.events_retried += 1,
            }
        }
    }

    for wish in deps
        .store
        .wishes_to_enqueue(now - Duration::minutes(1), now)
        .await?
    {
        super::wishes::enqueue(deps, &wish, &catalog, now).await?;
        report.wishes_enqueued += 1;
    }

    for wish in deps.store.wishes_by_age(now, 100).await? {
        match age_wish(deps, &catalog, wish, now).await? {
            Some(AgeStep::Remind { .. }) => report.wishes_reminded += 1,
            Some(AgeStep::Expire) => report.wishes_expired += 1,
            _ => {}
        }
    }

    let earliest = now + deps.config.timing.before_start + deps.config.timing.min_response;
    for office in &catalog.offices {
        for slot in deps.store.free_slots(&office.id, earliest, 200).await? {
            report.slots_checked += 1;
            if match_slot(deps, &slot).await?.is_some() {
                report.offers_made += 1;
            }
        }
    }
    Ok(report)
}
