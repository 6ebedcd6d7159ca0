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
    let config = shared::Config::from_env()?;
    let sdk = shared::aws_sdk_config().await;
    let deps = shared::Deps::new(config, &sdk, shared::Clock::default());
    let deps = &deps;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(shared::triggers::handle_match_event(deps, &event.payload).await?)
        },
    ))
    .await
}
