//! What the staff console reads and does beyond the admin API's use cases: the overview, a
//! slot file's upload.

use super::{AppError, Deps};
use crate::domain::slot_file::{self, RowError};
use crate::store::Overview;

/// The console's overview: lines, open offers and 28 days of outcomes per office and service,
/// and the demand per office by weekday and hour — all from counters, never from the lines.
pub async fn staff_overview(deps: &Deps) -> Result<Overview, AppError> {
    Ok(deps.store.overview(deps.clock.now()).await?)
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
