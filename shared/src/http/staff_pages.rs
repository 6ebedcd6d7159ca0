//! The console's pages behind the sign-in ([`super::staff::Session`]): the overview.

use super::staff::{Session, StaffDeps, staff_page};
use crate::app;
use crate::render::staff as views;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

/// `GET /staff/overview`: per office and service the line and the offers' outcomes, and per
/// office when the waiting wishes want their appointments.
pub(super) async fn overview(State(staff): State<StaffDeps>, session: Session) -> Response {
    let deps = &staff.deps;
    let (catalog, overview) = match (deps.catalog().await, app::staff_overview(deps).await) {
        (Ok(c), Ok(o)) => (c, o),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "overview unavailable");
            return super::staff::unavailable(session.lang);
        }
    };
    let mut ctx = views::overview(&overview, &catalog, session.lang);
    ctx["staff"] = session.nav();
    staff_page(StatusCode::OK, "staff_overview.html", session.lang, ctx)
}
