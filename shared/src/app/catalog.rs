//! The offices and services change: wishes move with them.

use super::{AppError, Deps};
use crate::domain::Catalog;

/// `PUT /admin/catalog`: stores the catalogue and moves every wish in line into the lines it
/// stands in now (an hour opened, an office added to what it may use) and out of those it no
/// longer does (an hour closed, an office removed), each at its own place in line: a wish
/// confirmed earlier still comes first in a newly opened hour. Returns how many wishes moved.
///
/// The cost grows with the wishes in line — a catalogue change is rare, and each wish costs a
/// read of its page and, only when its lines changed, a batch write and an update.
pub async fn update_catalog(deps: &Deps, catalog: Catalog) -> Result<usize, AppError> {
    deps.replace_catalog(catalog).await?;
    let catalog = deps.catalog().await?;
    let mut moved = 0;
    let mut after = None;
    loop {
        let (page, next) = deps.store.wishes_in_line(after, 100).await?;
        for (wish, queued) in page {
            // A wish enqueued before lines were recorded stands in its lines by the old
            // catalogue, which is gone: its entries are found again by their keys when it ends.
            let Some(queued) = queued else { continue };
            let lines = wish.lines(&catalog);
            let base = wish
                .kept_at
                .or(wish.confirmed_at)
                .unwrap_or(deps.clock.now());
            let until = super::wishes::keep_until(deps, base);
            if same_lines(&queued, &lines, &wish) {
                continue;
            }
            if deps.store.reline(&wish, &queued, &lines, until).await? {
                moved += 1;
            }
        }
        match next {
            Some(n) => after = Some(n),
            None => return Ok(moved),
        }
    }
}

/// Whether the wish stands in exactly the lines it was put into.
fn same_lines(
    queued: &[String],
    lines: &[(crate::domain::OfficeId, crate::domain::Window)],
    wish: &crate::domain::Wish,
) -> bool {
    lines.len() == queued.len()
        && lines.iter().all(|(office, window)| {
            queued.contains(&crate::store::keys::line_pk(office, &wish.service, *window))
        })
}
