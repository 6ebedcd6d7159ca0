//! respond-offer — offer links: GET /o/{token}, POST /o/{token}/accept|decline|cancel.
//!
//! Trigger: API Gateway HTTP API (payload 2.0). Environment and IAM: see `shared::Config` and
//! `infra/template.yaml`. The handler is `shared::http::offer_router`.

use lambda_http::{Error, run};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let deps = shared::deps_from_env().await?;
    run(shared::http::edge(shared::http::offer_router(deps))).await
}
