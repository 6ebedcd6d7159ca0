//! submit-wish — wish submission and links: GET /, GET /api/offices, POST /api/wishes, /w/{token} pages and actions.
//!
//! Trigger: API Gateway HTTP API (payload 2.0). Environment and IAM: see `shared::Config` and
//! `infra/template.yaml`. The handler is `shared::http::citizen_router`.

use lambda_http::{Error, run};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let deps = shared::deps_from_env().await?;
    run(shared::http::edge(shared::http::citizen_router(deps))).await
}
