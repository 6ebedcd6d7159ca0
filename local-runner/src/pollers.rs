//! What Lambda's event sources do in AWS, done by polling the emulators: a `DynamoDB` stream
//! read shard by shard into Lambda-shaped stream records, and the queue that the bus's rules
//! target read into Lambda-shaped `EventBridge` events.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use aws_lambda_events::event::dynamodb::{EventRecord, StreamRecord, StreamViewType, UserIdentity};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use chrono::{DateTime, Utc};

/// How often the stream's shard list is read even when no shard closed (new streams, lost
/// shards); closing a shard triggers a read at once.
const SHARD_REFRESH: Duration = Duration::from_secs(30);
/// The maximum `GetRecords` allows.
const MAX_RECORDS_PER_SHARD: i32 = 1000;

/// Reads a `DynamoDB` stream from its trim horizon, like Lambda's event source mapping: every
/// shard, parents before children, records in order within a shard.
///
/// [`poll`](Self::poll) moves past what it returns: a caller that wants Lambda's retry
/// semantics keeps a failed batch and hands it to the function again itself.
#[derive(Debug)]
pub struct StreamPoller {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    region: String,
    /// In the order `DescribeStream` lists them, which puts parents first.
    shards: Vec<Shard>,
    refreshed: Option<Instant>,
}

#[derive(Debug)]
struct Shard {
    id: String,
    parent: Option<String>,
    position: Position,
    /// The last sequence number handed out, to resume after an iterator expired.
    last_sequence: Option<String>,
}

#[derive(Debug)]
enum Position {
    /// No iterator yet, or the last one expired.
    Unstarted,
    Reading(String),
    /// Closed and read to its end.
    Done,
}

impl StreamPoller {
    /// A poller for `stream_arn` (a table's `LatestStreamArn`). Records carry the client's
    /// region as `awsRegion`: `DynamoDB` Local itself says `ddblocal`.
    #[must_use]
    pub fn new(client: aws_sdk_dynamodbstreams::Client, stream_arn: impl Into<String>) -> Self {
        let region = client
            .config()
            .region()
            .map_or_else(|| crate::emulators::REGION.to_owned(), ToString::to_string);
        Self {
            client,
            stream_arn: stream_arn.into(),
            region,
            shards: Vec::new(),
            refreshed: None,
        }
    }

    /// Reads past every record written so far: until two polls in a row find nothing.
    ///
    /// # Errors
    /// As [`StreamPoller::poll`].
    pub async fn read_past_all(&mut self) -> Result<()> {
        let mut quiet = 0;
        while quiet < 2 {
            quiet = if self.poll().await?.is_empty() {
                quiet + 1
            } else {
                0
            };
        }
        Ok(())
    }

    /// The records written since the last call (at most 1000 per shard), oldest first per
    /// shard, as Lambda would deliver them. Empty when nothing new arrived.
    ///
    /// # Errors
    /// When the stream cannot be described or read before any record was collected; the
    /// position stays where it was, so the next call returns the same records. A shard that
    /// fails after others gave records is logged and read again by the next call.
    pub async fn poll(&mut self) -> Result<Vec<EventRecord>> {
        if self
            .refreshed
            .is_none_or(|at| at.elapsed() >= SHARD_REFRESH)
        {
            self.refresh_shards().await?;
        }
        let mut records = Vec::new();
        let mut closed_any = false;
        for index in 0..self.shards.len() {
            if !self.parent_done(index) {
                continue;
            }
            let mut page = Vec::new();
            match self.read_shard(index, &mut page).await {
                Ok(closed) => closed_any |= closed,
                Err(e) if records.is_empty() => return Err(e),
                // Hand out what other shards gave; this one is read again next time.
                Err(e) => {
                    tracing::warn!(shard = %self.shards[index].id, error = %format!("{e:#}"), "reading a stream shard failed");
                    break;
                }
            }
            if let Some(last) = page.last() {
                self.shards[index]
                    .last_sequence
                    .clone_from(&last.change.sequence_number);
            }
            records.append(&mut page);
        }
        if closed_any {
            // A child shard takes over from a closed one; read it in the next poll.
            self.refreshed = None;
        }
        Ok(records)
    }

    /// Whether shard `index` may be read: its parent (if we know it) has been read to its end.
    fn parent_done(&self, index: usize) -> bool {
        let shard = &self.shards[index];
        if matches!(shard.position, Position::Done) {
            return false;
        }
        shard.parent.as_ref().is_none_or(|parent| {
            self.shards
                .iter()
                .find(|s| &s.id == parent)
                .is_none_or(|s| matches!(s.position, Position::Done))
        })
    }

    /// Reads one page of shard `index` into `out` (which it replaces); true when the shard turned
    /// out closed. On error `out` and the shard's position are unchanged.
    async fn read_shard(&mut self, index: usize, out: &mut Vec<EventRecord>) -> Result<bool> {
        use aws_sdk_dynamodbstreams::operation::get_records::GetRecordsError;
        // Two tries: the second after replacing an expired iterator.
        for _ in 0..2 {
            let iterator = match &self.shards[index].position {
                Position::Done => return Ok(false),
                Position::Reading(iterator) => iterator.clone(),
                Position::Unstarted => {
                    let Some(iterator) = self.new_iterator(index).await? else {
                        // The shard is gone (trimmed away entirely).
                        self.shards[index].position = Position::Done;
                        return Ok(true);
                    };
                    iterator
                }
            };
            let page = match self
                .client
                .get_records()
                .shard_iterator(iterator)
                .limit(MAX_RECORDS_PER_SHARD)
                .send()
                .await
                .map_err(aws_sdk_dynamodbstreams::error::SdkError::into_service_error)
            {
                Ok(page) => page,
                Err(GetRecordsError::ExpiredIteratorException(_)) => {
                    self.shards[index].position = Position::Unstarted;
                    continue;
                }
                Err(GetRecordsError::TrimmedDataAccessException(_)) => {
                    // Everything still in the shard is newer than what was trimmed, so the trim
                    // horizon is where to go on; records were lost only if we were past it.
                    let shard = &mut self.shards[index];
                    if shard.last_sequence.take().is_some() {
                        tracing::warn!(shard = %shard.id, "stream records were trimmed before they were read");
                    }
                    shard.position = Position::Unstarted;
                    continue;
                }
                Err(e) => return Err(e).context("reading stream records"),
            };
            // All or nothing, so that a failure leaves the position where it was.
            *out = page
                .records()
                .iter()
                .map(|record| to_lambda_record(record, &self.stream_arn, &self.region))
                .collect::<Result<_>>()?;
            let shard = &mut self.shards[index];
            let closed = page.next_shard_iterator.is_none();
            shard.position = page
                .next_shard_iterator
                .map_or(Position::Done, Position::Reading);
            return Ok(closed);
        }
        Ok(false)
    }

    /// An iterator after the last record handed out, or at the trim horizon; `None` when the
    /// shard no longer exists.
    async fn new_iterator(&self, index: usize) -> Result<Option<String>> {
        use aws_sdk_dynamodbstreams::operation::get_shard_iterator::GetShardIteratorError;
        let shard = &self.shards[index];
        let request = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(&shard.id);
        let request = match &shard.last_sequence {
            Some(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        match request
            .send()
            .await
            .map_err(aws_sdk_dynamodbstreams::error::SdkError::into_service_error)
        {
            Ok(out) => Ok(out.shard_iterator),
            Err(GetShardIteratorError::ResourceNotFoundException(_)) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("getting an iterator for shard {}", shard.id)),
        }
    }

    async fn refresh_shards(&mut self) -> Result<()> {
        let mut start: Option<String> = None;
        loop {
            let description = self
                .client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .with_context(|| format!("describing stream {}", self.stream_arn))?
                .stream_description
                .ok_or_else(|| anyhow!("DescribeStream returned no StreamDescription"))?;
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                if self.shards.iter().all(|s| s.id != id) {
                    self.shards.push(Shard {
                        id: id.to_owned(),
                        parent: shard.parent_shard_id().map(str::to_owned),
                        position: Position::Unstarted,
                        last_sequence: None,
                    });
                }
            }
            match description.last_evaluated_shard_id {
                Some(last) => start = Some(last),
                None => break,
            }
        }
        self.refreshed = Some(Instant::now());
        Ok(())
    }
}

/// One stream record in the shape Lambda hands to a function (`Records[]` of its event).
fn to_lambda_record(record: &Record, stream_arn: &str, region: &str) -> Result<EventRecord> {
    let change = record
        .dynamodb()
        .ok_or_else(|| anyhow!("a stream record without its dynamodb part"))?;
    let image = |map: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
        serde_dynamo::Item::from(map.cloned().unwrap_or_default())
    };

    let mut stream = StreamRecord::default();
    if let Some(at) = change.approximate_creation_date_time() {
        stream.approximate_creation_date_time =
            DateTime::<Utc>::from_timestamp(at.secs(), at.subsec_nanos()).unwrap_or_default();
    }
    stream.keys = image(change.keys.as_ref());
    stream.new_image = image(change.new_image.as_ref());
    stream.old_image = image(change.old_image.as_ref());
    stream.sequence_number.clone_from(&change.sequence_number);
    stream.size_bytes = change.size_bytes.unwrap_or_default();
    stream.stream_view_type = change.stream_view_type().map(|view| {
        use aws_sdk_dynamodbstreams::types::StreamViewType as Sdk;
        match view {
            Sdk::NewImage => StreamViewType::NewImage,
            Sdk::OldImage => StreamViewType::OldImage,
            Sdk::NewAndOldImages => StreamViewType::NewAndOldImages,
            _ => StreamViewType::KeysOnly,
        }
    });

    let mut out = EventRecord::default();
    region.clone_into(&mut out.aws_region);
    out.change = stream;
    record
        .event_id()
        .unwrap_or_default()
        .clone_into(&mut out.event_id);
    out.event_name = record
        .event_name()
        .map(|name| name.as_str().to_owned())
        .ok_or_else(|| anyhow!("a stream record without eventName"))?;
    out.event_source = Some("aws:dynamodb".to_owned());
    out.event_version = Some(record.event_version().unwrap_or("1.1").to_owned());
    out.event_source_arn = Some(stream_arn.to_owned());
    // Set by DynamoDB for TTL deletions (which DynamoDB Local never makes).
    out.user_identity = record.user_identity().map(|identity| {
        let mut user = UserIdentity::default();
        identity
            .r#type()
            .unwrap_or_default()
            .clone_into(&mut user.type_);
        identity
            .principal_id()
            .unwrap_or_default()
            .clone_into(&mut user.principal_id);
        user
    });
    Ok(out)
}

/// Reads the events that the bus's rules deliver into one SQS queue (see
/// [`crate::infra::create_infra`]), as the `EventBridge` events Lambda would receive.
#[derive(Clone, Debug)]
pub struct EventQueuePoller {
    queue: QueueReader,
}

impl EventQueuePoller {
    #[must_use]
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            queue: QueueReader::new(client, queue_url),
        }
    }

    /// Up to 10 events, waiting at most `wait_seconds` (0–20) for the first. Each message is deleted once read:
    /// events that parse are returned, others are logged (id and error, never the body) and
    /// dropped. A caller that wants Lambda's async retries keeps a failed event itself.
    ///
    /// # Errors
    /// When the queue cannot be read or the messages cannot be deleted (they then come back
    /// after the visibility timeout, 30 s: handlers must bear duplicates anyway).
    pub async fn poll(
        &self,
        wait_seconds: i32,
    ) -> Result<Vec<EventBridgeEvent<serde_json::Value>>> {
        let received = self
            .queue
            .receive(wait_seconds, false)
            .await
            .context("receiving from the events queue")?;
        let mut events = Vec::new();
        let mut done = Vec::new();
        for (n, message) in received.iter().enumerate() {
            // moto's body is the event as EventBridge delivers it: {version, id, detail-type,
            // source, account?, time, region, resources, detail}.
            match serde_json::from_str(message.body().unwrap_or_default()) {
                Ok(event) => events.push(event),
                Err(e) => tracing::warn!(
                    message_id = message.message_id().unwrap_or_default(),
                    error = %e,
                    "dropping an events-queue message that is not an EventBridge event"
                ),
            }
            if let Some(handle) = message.receipt_handle() {
                done.push((n, handle));
            }
        }
        self.queue
            .delete(&done)
            .await
            .context("deleting read events from the queue")?;
        Ok(events)
    }
}

/// Reads match-offers' FIFO queue the way Lambda's SQS event source does: up to ten messages a
/// batch (SQS holds back a group's later messages while earlier ones are in flight), handed over
/// as an `SqsEvent`; after the handler, the messages it did not report are deleted and the
/// reported ones are made visible again at once (Lambda waits out the visibility timeout; the
/// queue's redrive policy still moves a message to its dead letters after its receives).
#[derive(Clone, Debug)]
pub struct MatchQueuePoller {
    queue: QueueReader,
}

impl MatchQueuePoller {
    #[must_use]
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            queue: QueueReader::new(client, queue_url),
        }
    }

    /// The next batch (empty when nothing is visible within `wait_seconds`, 0–20).
    ///
    /// # Errors
    /// When the queue cannot be read.
    pub async fn receive(&self, wait_seconds: i32) -> Result<SqsEvent> {
        let received = self
            .queue
            .receive(wait_seconds, true)
            .await
            .context("receiving from the match queue")?;
        let mut batch = SqsEvent::default();
        for message in &received {
            let mut m = SqsMessage::default();
            m.message_id = message.message_id().map(str::to_owned);
            m.receipt_handle = message.receipt_handle().map(str::to_owned);
            m.body = message.body().map(str::to_owned);
            m.attributes = message
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            m.event_source = Some("aws:sqs".to_owned());
            batch.records.push(m);
        }
        Ok(batch)
    }

    /// Deletes what the handler matched and returns what it reported.
    ///
    /// # Errors
    /// When the queue does not answer.
    pub async fn finish(&self, batch: &SqsEvent, response: &SqsBatchResponse) -> Result<()> {
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let mut done = Vec::new();
        for (n, m) in batch.records.iter().enumerate() {
            let (Some(id), Some(handle)) = (&m.message_id, &m.receipt_handle) else {
                continue;
            };
            if failed.contains(&id.as_str()) {
                self.queue
                    .client
                    .change_message_visibility()
                    .queue_url(&self.queue.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .context("returning a message to the match queue")?;
            } else {
                done.push((n, handle.as_str()));
            }
        }
        self.queue
            .delete(&done)
            .await
            .context("deleting matched messages from the match queue")
    }
}

/// One SQS queue as the pollers read it: up to ten messages at a time, deleted in one request.
#[derive(Clone, Debug)]
struct QueueReader {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl QueueReader {
    fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Up to ten messages, waiting at most `wait_seconds` (0–20) for the first; with
    /// `system_attributes`, each with its system attributes (the group id, the receive count).
    async fn receive(
        &self,
        wait_seconds: i32,
        system_attributes: bool,
    ) -> Result<Vec<aws_sdk_sqs::types::Message>> {
        use aws_sdk_sqs::types::MessageSystemAttributeName;
        let mut request = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds.clamp(0, 20));
        if system_attributes {
            request = request.message_system_attribute_names(MessageSystemAttributeName::All);
        }
        Ok(request.send().await?.messages.unwrap_or_default())
    }

    /// Deletes the messages `(n, receipt handle)` (at most ten) in one request.
    async fn delete(&self, done: &[(usize, &str)]) -> Result<()> {
        use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
        if done.is_empty() {
            return Ok(());
        }
        let entries = done
            .iter()
            .map(|(n, handle)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(n.to_string())
                    .receipt_handle(*handle)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .delete_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await?;
        if let Some(failed) = out.failed().first() {
            anyhow::bail!("{:?}", failed.message());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::primitives::DateTime as SdkDateTime;
    use aws_sdk_dynamodbstreams::types::{
        AttributeValue, OperationType, StreamRecord as SdkStreamRecord,
    };

    #[test]
    fn a_stream_record_becomes_the_record_lambda_would_deliver() {
        let keys = HashMap::from([("id".to_owned(), AttributeValue::S("s1".into()))]);
        let mut new_image = keys.clone();
        new_image.insert("minutes".into(), AttributeValue::N("15".into()));
        let record = Record::builder()
            .event_id("e1")
            .event_name(OperationType::Insert)
            .event_version("1.1")
            .event_source("aws:dynamodb")
            .aws_region("ddblocal")
            .dynamodb(
                SdkStreamRecord::builder()
                    .approximate_creation_date_time(SdkDateTime::from_secs(1_700_000_000))
                    .set_keys(Some(keys))
                    .set_new_image(Some(new_image))
                    .sequence_number("000000000000000000001")
                    .size_bytes(12)
                    .stream_view_type(
                        aws_sdk_dynamodbstreams::types::StreamViewType::NewAndOldImages,
                    )
                    .build(),
            )
            .build();

        let out = to_lambda_record(&record, "arn:stream", "eu-central-1").unwrap();
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json["eventName"], "INSERT");
        assert_eq!(json["eventSource"], "aws:dynamodb");
        assert_eq!(json["eventSourceARN"], "arn:stream");
        assert_eq!(json["awsRegion"], "eu-central-1");
        assert_eq!(
            json["dynamodb"]["Keys"],
            serde_json::json!({"id": {"S": "s1"}})
        );
        assert_eq!(
            json["dynamodb"]["NewImage"]["minutes"],
            serde_json::json!({"N": "15"})
        );
        assert_eq!(json["dynamodb"]["StreamViewType"], "NEW_AND_OLD_IMAGES");
        assert_eq!(json["dynamodb"]["SequenceNumber"], "000000000000000000001");
        assert_eq!(
            json["dynamodb"]["ApproximateCreationDateTime"],
            1_700_000_000.0
        );
        assert!(out.change.old_image.is_empty());

        // And it reads back as a Lambda event would.
        let back: EventRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, out);
    }
}
