//! The lines' counts recounted from their entries, a page of lines at a time
//! (`POST /admin/lines/recount`; `clerk lines recount` pages through all of them).

use super::{AppError, Deps};
use crate::domain::persons::PARTY_SIZES;
use crate::domain::{Weekday, Window};
use crate::store::keys::party_line_pk;

/// What one call recounted.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RecountPage {
    /// Lines recounted in this call.
    pub lines: usize,
    /// Their entries.
    pub entries: usize,
    /// Counts items that disagreed with the entries and were set right.
    pub corrected: usize,
    /// The line to go on after (`after=`), `None` when every line was recounted.
    pub next: Option<String>,
}

/// Which lines a recount takes: those after `after` (a line's partition key, in the order of
/// every line the catalogue opens: each office's services, weekdays and open hours, each party
/// size), of one office and one service if given.
#[derive(Debug, Clone, Default)]
pub struct LineFilter<'a> {
    pub after: Option<&'a str>,
    pub office: Option<&'a str>,
    pub service: Option<&'a str>,
}

/// Recounts the lines `filter` takes until `budget` is spent; the answer says where to go on.
///
/// # Errors
/// A store error, or `Conflict` when a line's entries kept changing.
pub async fn recount_lines(
    deps: &Deps,
    filter: &LineFilter<'_>,
    budget: std::time::Duration,
) -> Result<RecountPage, AppError> {
    let started = std::time::Instant::now();
    let catalog = deps.catalog().await?;
    let after = filter.after;
    let mut lines: Vec<String> = catalog
        .offices
        .iter()
        .filter(|office| filter.office.is_none_or(|o| office.id.as_ref() == o))
        .flat_map(|office| {
            let services = office.services.iter();
            services
                .filter(|service| filter.service.is_none_or(|s| service.as_ref() == s))
                .flat_map(move |service| {
                    Weekday::ALL.into_iter().flat_map(move |day| {
                        (0..24u8)
                            .filter(move |hour| office.is_open(day, *hour))
                            .filter_map(move |hour| Window::new(day, hour).ok())
                            .flat_map(move |window| {
                                PARTY_SIZES
                                    .map(move |n| party_line_pk(&office.id, service, window, n))
                            })
                    })
                })
        })
        .filter(|pk| after.is_none_or(|a| pk.as_str() > a))
        .collect();
    lines.sort();
    let mut page = RecountPage::default();
    let total = lines.len();
    for (i, pk) in lines.into_iter().enumerate() {
        let recounted = deps.store.recount_line(&pk).await?;
        page.lines += 1;
        page.entries += recounted.entries;
        page.corrected += recounted.corrected;
        if recounted.corrected > 0 {
            tracing::info!(line = %pk, corrected = recounted.corrected, "line recounted");
        }
        // At least one line a call, so that paging always gets on.
        if started.elapsed() >= budget && i + 1 < total {
            page.next = Some(pk);
            return Ok(page);
        }
    }
    Ok(page)
}
