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
            let lines = wish.lines(&catalog);
            let base = wish
                .kept_at
                .or(wish.confirmed_at)
                .unwrap_or(deps.clock.now());
            let until = super::wishes::keep_until(deps, base);
            let queued = match queued {
                Some(queued) if same_lines(&queued, &lines, &wish) => continue,
                Some(queued) => queued,
                // Enqueued before lines were recorded: it stands in the lines the old catalogue
                // gave it, which is gone. Put it into every line it stands in now (an entry it
                // has is written again, at the same place) and take it out of every other line
                // it could have stood in; its lines are recorded from now on.
                None => every_other_line(&wish, &lines),
            };
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
            queued.contains(&crate::store::keys::party_line_pk(
                office,
                &wish.service,
                *window,
                wish.persons,
            ))
        })
}

/// Every line the wish could stand in by its offices and windows, whatever the catalogue,
/// except `lines`.
fn every_other_line(
    wish: &crate::domain::Wish,
    lines: &[(crate::domain::OfficeId, crate::domain::Window)],
) -> Vec<String> {
    wish.offices
        .iter()
        .flat_map(|office| wish.windows.iter().map(move |window| (office, *window)))
        .filter(|(office, window)| !lines.iter().any(|(o, w)| o == *office && w == window))
        .map(|(office, window)| {
            crate::store::keys::party_line_pk(office, &wish.service, window, wish.persons)
        })
        .collect()
}
