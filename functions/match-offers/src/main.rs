//! match-offers — offers each released slot to the first wish in line (its FIFO queue, one
//! message group per line, fed by slot-release)
//! and runs the scheduled rescan (`Scheduled Event`).
//!
//! Trigger: SQS FIFO event source (`ReportBatchItemFailures`); `EventBridge` schedule and SES
//! feedback rule (asynchronous, with an on-failure destination).
//! Environment and IAM: see `shared::Config` and `infra/template.yaml`.

#![recursion_limit = "256"]

use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let deps = &shared::delivering_deps_from_env().await?;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(shared::triggers::handle_match_event(deps, &event.payload).await?)
        },
    ))
    .await
}
