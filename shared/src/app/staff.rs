//! What the staff console reads and does beyond the slots' use cases: the overview.

use super::{AppError, Deps};
use crate::store::Overview;

/// The console's overview: lines, open offers and 28 days of outcomes per office and service,
/// and the demand per office by weekday and hour — all from counters, never from the lines.
pub async fn staff_overview(deps: &Deps) -> Result<Overview, AppError> {
    Ok(deps.store.overview(deps.clock.now()).await?)
}
