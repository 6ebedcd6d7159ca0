//! admin-api — admin API (IAM-authorised in AWS): /admin/slots, /admin/stats, /admin/catalog.
//!
//! Trigger: API Gateway HTTP API (payload 2.0). Environment and IAM: see `shared::Config` and
//! `infra/template.yaml`. The handler is `shared::http::admin_router`.

use lambda_http::{Error, run};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let deps = shared::deps_from_env().await?;
    run(shared::http::edge(shared::http::admin_router(deps))).await
}
