//! slot-release — turns "a slot became free" on the slots table's `DynamoDB` stream into a
//! `SlotReleased` event on the bus.
//!
//! Trigger: `DynamoDB` stream (`NEW_AND_OLD_IMAGES`) with `ReportBatchItemFailures`. Environment:
//! `EVENT_BUS_NAME` (plus the common ones of `shared::Config`). IAM: `events:PutEvents` on the bus.

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = shared::Config::from_env()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let events =
        shared::events::Events::new(aws_sdk_eventbridge::Client::new(&sdk), &config.event_bus);
    let events = &events;
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(shared::triggers::handle_slot_stream(events, event.payload).await)
    }))
    .await
}
