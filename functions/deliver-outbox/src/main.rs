//! deliver-outbox — sends each mail and publishes each domain event that a committed change
//! wrote into the outbox, as soon as the wishes table's stream shows the new item; marks each
//! delivered (dropping a mail's body and address). A published `OfferSent` that was its wish's
//! first offer is counted for the public statistics (a projected read of the offer and the wish,
//! an update of a `STATS` tally).
//!
//! Trigger: `DynamoDB` stream of the wishes table (`NEW_IMAGE`) with filter criteria that let
//! only inserted `MAIL#`/`EVENT#` items through, `ReportBatchItemFailures`, bisect on error,
//! bounded retries and an SQS on-failure destination. Environment and IAM: see `shared::Config`
//! and `infra/template.yaml`.

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let deps = &shared::delivering_deps_from_env().await?;
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(shared::triggers::handle_outbox_stream(deps, event.payload).await)
    }))
    .await
}
