//! slot-release — turns "a slot became free" on the slots table's `DynamoDB` stream into a
//! `SlotReleased` event on the bus and a message on match-offers' FIFO queue (one group per
//! line), and counts the slots that entered a line (new or released) for the wish page's rough
//! expected wait and the public statistics, and the slots booked through an offer for the public
//! statistics.
//!
//! Trigger: `DynamoDB` stream (`NEW_AND_OLD_IMAGES`) with `ReportBatchItemFailures`. Environment:
//! `EVENT_BUS_NAME`, `MATCH_QUEUE_URL`, `WISHES_TABLE` (plus the common ones of
//! `shared::Config`). IAM: `events:PutEvents` on the bus; `sqs:SendMessage` on the match queue;
//! `dynamodb:UpdateItem` on the wishes table, for the `STATS` items only.

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let config = shared::Config::from_env()?;
    let queue_url = std::env::var("MATCH_QUEUE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| shared::config::ConfigError::Missing("MATCH_QUEUE_URL".into()))?;
    let sdk = shared::aws_sdk_config().await;
    let outlets = shared::triggers::Outlets {
        events: shared::events::Events::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            &config.event_bus,
        ),
        queue: shared::matchqueue::MatchQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url),
    };
    let store = shared::store::Store::from_sdk(&sdk, &config);
    let clock = shared::Clock::default();
    let (outlets, store, clock) = (&outlets, &store, &clock);
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(
            shared::triggers::handle_slot_stream_counting(
                outlets,
                store,
                clock.now(),
                event.payload,
            )
            .await,
        )
    }))
    .await
}
