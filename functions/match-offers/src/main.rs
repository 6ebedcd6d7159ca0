//! match-offers — offers a released slot to the first wish in line (`EventBridge` `SlotReleased`)
//! and runs the scheduled rescan (`Scheduled Event`).
//!
//! Trigger: `EventBridge` rule and schedule (asynchronous, with an on-failure destination).
//! Environment and IAM: see `shared::Config` and `infra/template.yaml`.

#![recursion_limit = "256"]

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let deps = &shared::deps_from_env().await?;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(shared::triggers::handle_match_event(deps, &event.payload).await?)
        },
    ))
    .await
}
