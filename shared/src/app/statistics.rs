//! The public statistics (`/statistik`, `GET /api/statistics`): read the counters, sum them with
//! [`public_stats::summarize`], keep the result a while. Public and anonymous, so each process
//! computes them at most once per [`STATISTICS_MAX_AGE`] however often they are asked for; the
//! contract allows figures up to an hour old.

use super::{AppError, Deps};
use crate::domain::public_stats::{self, PublicStats};
use crate::domain::{Catalog, OfficeId, ServiceId};
use chrono::Duration;
use std::sync::Arc;

/// How long computed statistics are answered before they are computed again (by the clock the
/// rules use, so the local runner's moved clock ages them too).
pub const STATISTICS_MAX_AGE: Duration = Duration::minutes(10);

/// Every office with each service it offers, in the catalogue's order: the groups shown.
fn groups(catalog: &Catalog) -> Vec<(OfficeId, ServiceId)> {
    catalog
        .offices
        .iter()
        .flat_map(|o| {
            catalog
                .services
                .iter()
                .filter(|s| o.offers(&s.id))
                .map(|s| (o.id.clone(), s.id.clone()))
        })
        .collect()
}

/// The statistics, computed at most [`STATISTICS_MAX_AGE`] ago.
///
/// # Errors
/// `NotConfigured` before a catalogue is loaded; a store error when the counters cannot be read.
pub async fn public_statistics(deps: &Deps) -> Result<Arc<PublicStats>, AppError> {
    let now = deps.clock.now();
    if let Some(cached) = deps.statistics.read().await.as_ref()
        && cached.updated_at <= now
        && now - cached.updated_at < STATISTICS_MAX_AGE
    {
        return Ok(cached.clone());
    }
    let catalog = deps.catalog().await?;
    let (waiting, tallies) = deps.store.public_counters(now).await?;
    let stats = Arc::new(public_stats::summarize(
        &groups(&catalog),
        &waiting,
        &tallies,
        now,
    ));
    *deps.statistics.write().await = Some(stats.clone());
    Ok(stats)
}
