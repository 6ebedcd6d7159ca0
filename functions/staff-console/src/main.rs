//! staff-console — the signed-in console for the city's clerks and supervisors: `/staff/…`.
//!
//! Trigger: API Gateway HTTP API (payload 2.0). Environment: see `shared::Config` (with
//! `STAFF_USER_POOL_ID`, `STAFF_CLIENT_ID`) and `infra/template.yaml`; IAM: the tables, and
//! `cognito-idp:InitiateAuth` needs none (a public client). The router is
//! `shared::http::staff_router`.

use lambda_http::{Error, run};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let staff = shared::staff_deps_from_env().await?;
    run(shared::http::edge(shared::http::staff_router(staff))).await
}
