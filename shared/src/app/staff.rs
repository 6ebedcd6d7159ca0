//! What the staff console reads and does beyond the admin API's use cases: the overview, a
//! slot file's upload, the support look-up and cancel, the audit log.

use super::{AppError, Deps};
use crate::domain::slot_file::{self, RowError};
use crate::domain::staff::{AuditAction, AuditEntry};
use crate::domain::{Email, Wish, WishId};
use crate::store::Overview;

/// The console's overview: lines, open offers, 28 days of outcomes and the median wait per
/// office and service, and the demand per office by weekday and hour — all from counters, never
/// from the lines. The median wait is the public statistics' (their day tallies, summed at most
/// [`super::STATISTICS_MAX_AGE`] ago), so the clerks and the public see the same figure.
pub async fn staff_overview(deps: &Deps) -> Result<Overview, AppError> {
    let mut overview = deps.store.overview(deps.clock.now()).await?;
    let stats = super::public_statistics(deps).await?;
    for g in &stats.groups {
        let (office, service) = (g.office.as_ref(), g.service.as_ref());
        let listed = overview
            .groups
            .iter()
            .any(|f| f.office == office && f.service == service);
        if listed || g.first_offers_28d > 0 {
            let figures = overview.group(office, service);
            figures.median_days_to_offer = g.median_days_to_offer;
            figures.first_offers_28d = g.first_offers_28d;
        }
    }
    overview
        .groups
        .sort_by(|a, b| (&a.office, &a.service).cmp(&(&b.office, &b.service)));
    Ok(overview)
}

/// What became of an uploaded slot file.
#[derive(Debug, Clone)]
pub enum Upload {
    /// Every row stored (or left as it was): how many of each outcome, by slot.
    Stored(Vec<(crate::domain::SlotId, crate::store::UpsertOutcome)>),
    /// Nothing stored: every problem, by line (and field).
    Invalid(Vec<RowError>),
}

/// A slot file uploaded in the console: read and checked as the clerks' CLI does
/// (`domain::slot_file`), then checked against the catalogue and stored as `PUT /admin/slots`
/// does ([`super::put_slots`]): one bad row anywhere and nothing is stored.
pub async fn upload_slots(deps: &Deps, file_name: &str, text: &str) -> Result<Upload, AppError> {
    let located = match slot_file::parse(text, slot_file::Format::guess(file_name, text)) {
        Ok(rows) => rows,
        Err(errors) => return Ok(Upload::Invalid(errors)),
    };
    let rows: Vec<_> = located
        .iter()
        .map(slot_file::Located::contract_row)
        .collect();
    match super::put_slots(deps, &rows).await? {
        super::SlotsPut::Stored(results) => Ok(Upload::Stored(results)),
        super::SlotsPut::Invalid(invalid) => {
            let mut errors = Vec::new();
            for (index, problems) in invalid {
                let line = located.get(index).map_or(0, |l| l.line);
                for (field, problem) in problems.iter() {
                    errors.push(RowError {
                        line,
                        field: Some(field.clone()),
                        message: problem.message.clone(),
                    });
                }
            }
            Ok(Upload::Invalid(errors))
        }
    }
}

/// The free slots of `office` from now on, earliest first (at most `limit`), as the console
/// lists them.
pub async fn free_slots_of(
    deps: &Deps,
    office: &crate::domain::OfficeId,
    limit: i32,
) -> Result<Vec<crate::domain::Slot>, AppError> {
    let (slots, _) = deps
        .store
        .free_slots(office, deps.clock.now(), None, limit)
        .await?;
    Ok(slots)
}

/// The wishes of one address, for a support call: each with its places in line. Every wish
/// shown is written to the audit log first (a look that finds nothing too, without the address):
/// the console shows no personal data it has not recorded a look at.
pub async fn support_lookup(
    deps: &Deps,
    actor: &str,
    email: &Email,
) -> Result<Vec<(Wish, Vec<super::Place>)>, AppError> {
    let now = deps.clock.now();
    let book = deps.store.address_book(email).await?;
    let mut ids = book.wishes.clone();
    ids.extend(book.pending.values().cloned());
    let wishes: Vec<Wish> = deps
        .store
        .get_wishes(&ids, now)
        .await?
        .into_iter()
        .filter(|w| w.contact.email() == Some(email))
        .collect();
    shown_to_support(deps, actor, wishes).await
}

/// The wishes a support look-up found, each with its places in line, each look written to the
/// audit log first (a look that finds nothing too, without what was looked up).
pub(super) async fn shown_to_support(
    deps: &Deps,
    actor: &str,
    wishes: Vec<Wish>,
) -> Result<Vec<(Wish, Vec<super::Place>)>, AppError> {
    let now = deps.clock.now();
    let entries: Vec<AuditEntry> = if wishes.is_empty() {
        vec![AuditEntry {
            at: now,
            actor: actor.to_owned(),
            action: AuditAction::FoundNothing,
            wish: None,
        }]
    } else {
        wishes
            .iter()
            .map(|w| AuditEntry {
                at: now,
                actor: actor.to_owned(),
                action: AuditAction::Viewed,
                wish: Some(w.id.clone()),
            })
            .collect()
    };
    deps.store.record_looks(&entries, now).await?;
    let mut found = Vec::new();
    for wish in wishes {
        let places = super::places_in_line(deps, &wish).await?;
        found.push((wish, places));
    }
    Ok(found)
}

/// Cancels a wish on its person's request (support): the citizen's cancel — the same mail,
/// events and outbox — with the audit entry in its transaction. `false` when the wish had ended
/// already (nothing changed, nothing logged); `NotFound` for an unknown or expired wish.
pub async fn support_cancel(
    deps: &Deps,
    actor: &str,
    id: &WishId,
) -> Result<(Wish, bool), AppError> {
    let wish = deps
        .store
        .get_wish(id, deps.clock.now())
        .await?
        .ok_or(AppError::NotFound)?;
    if !wish.status.is_active() {
        return Ok((wish, false));
    }
    let after = super::wishes::cancel_wish_audited(deps, wish, Some(actor)).await?;
    let changed = after.status == crate::domain::WishStatus::Cancelled;
    Ok((after, changed))
}

/// The audit log of the last 7 days, newest first (at most 500 entries).
pub async fn audit_log(deps: &Deps) -> Result<Vec<AuditEntry>, AppError> {
    Ok(deps.store.audit_log(deps.clock.now(), 7, 500).await?)
}

/// Whether the console refuses a sign-in for `account` from `client` without asking the pool:
/// this hour's failed sign-ins of the client or of the account reached their limit
/// ([`crate::config::Limits::failed_sign_ins_per_client_hour`], `…_per_account_hour`).
///
/// # Errors
/// When the counters cannot be read (the console then answers unavailable, not the pool).
pub async fn sign_in_blocked(
    deps: &Deps,
    client: Option<&str>,
    account: &str,
) -> Result<bool, AppError> {
    let limits = deps.config.limits;
    Ok(deps
        .store
        .sign_in_blocked(client, account, &limits, deps.clock.now())
        .await?)
}

/// Counts a sign-in the pool refused, for the client and for the account.
///
/// # Errors
/// When the counters cannot be written.
pub async fn sign_in_failed(
    deps: &Deps,
    client: Option<&str>,
    account: &str,
) -> Result<(), AppError> {
    let limits = deps.config.limits;
    Ok(deps
        .store
        .count_failed_sign_in(client, account, &limits, deps.clock.now())
        .await?)
}
