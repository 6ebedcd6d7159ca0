//! Transactions, batches and the small builders every aggregate file uses.

use super::prelude::*;
use rand::RngExt as _;

/// How often a transaction cancelled by a concurrent one (not by a condition) is tried, with
/// jittered, doubling waits (10–30 ms at first): 1.3–3.8 s in all, enough for a burst of
/// enqueues into one line.
const TRANSACT_ATTEMPTS: u32 = 8;

/// An item as the SDK hands it over.
pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
pub(super) fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(keys::PK.to_owned(), s(pk)), (keys::SK.to_owned(), s(sk))])
}
pub(super) fn wish_key(id: &WishId) -> HashMap<String, AttributeValue> {
    key(keys::wish_pk(id), keys::WISH_SK)
}
pub(super) fn offer_key(id: &OfferId) -> HashMap<String, AttributeValue> {
    key(keys::offer_pk(id), keys::OFFER_SK)
}
pub(super) fn slot_key(id: &SlotId) -> HashMap<String, AttributeValue> {
    HashMap::from([(keys::SLOT_ID.to_owned(), s(id.as_ref()))])
}

pub(super) fn item<T: serde::Serialize>(
    value: &T,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    Ok(serde_dynamo::to_item(value)?)
}
impl Store {
    fn table(&self, table: Table) -> &str {
        match table {
            Table::Wishes => &self.wishes,
            Table::Slots => &self.slots,
        }
    }

    /// `write` on the item at `key`, as one part of a transaction.
    pub(super) fn guarded(
        &self,
        write: Write,
        key: Item,
        values: &Values,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = writes::update(self.table(write.table()), key, write, values)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// `write` on the item at `key` on its own: the item after it, or `None` when its condition
    /// did not hold.
    pub(super) async fn apply(
        &self,
        write: Write,
        key: Item,
        values: &Values,
        op: &'static str,
    ) -> Result<Option<Item>, StoreError> {
        let update = writes::update(self.table(write.table()), key, write, values)?;
        self.send_update(&update, op).await
    }

    /// Sends one update outside a transaction: the item after it, `None` on a failed condition.
    pub(super) async fn send_update(
        &self,
        update: &Update,
        op: &'static str,
    ) -> Result<Option<Item>, StoreError> {
        self.client
            .update_item()
            .table_name(update.table_name())
            .set_key(Some(update.key().clone()))
            .update_expression(update.update_expression())
            .set_condition_expression(update.condition_expression().map(str::to_owned))
            .set_expression_attribute_names(update.expression_attribute_names().cloned())
            .set_expression_attribute_values(update.expression_attribute_values().cloned())
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .unless_condition_failed(op)
            .map(|out| out.map(|o| o.attributes.unwrap_or_default()))
    }

    /// A counter outside every transaction: a failure is logged (`what` was not counted), not
    /// returned; the figures it feeds are estimates.
    pub(super) async fn count(&self, update: Result<Update, StoreError>, what: &'static str) {
        let sent = match update {
            Ok(update) => self.send_update(&update, what).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "{what} not counted");
        }
    }

    /// A transaction part that puts `record` into `table` if `condition` holds.
    pub(super) fn put_when<T: serde::Serialize>(
        &self,
        table: Table,
        record: &T,
        condition: &str,
        values: &Values,
    ) -> Result<TransactWriteItem, StoreError> {
        let (bound, names) = values.bind_condition(condition)?;
        let put = Put::builder()
            .table_name(self.table(table))
            .set_item(Some(item(record)?))
            .condition_expression(condition)
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values((!bound.is_empty()).then_some(bound))
            .build()?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Puts `record` into `table` if `condition` holds; `false` when it did not.
    pub(super) async fn put_if<T: serde::Serialize>(
        &self,
        table: Table,
        record: &T,
        condition: &str,
        values: &Values,
        op: &'static str,
    ) -> Result<bool, StoreError> {
        let (bound, names) = values.bind_condition(condition)?;
        let put = self
            .client
            .put_item()
            .table_name(self.table(table))
            .set_item(Some(item(record)?))
            .condition_expression(condition)
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values((!bound.is_empty()).then_some(bound))
            .send()
            .await;
        Ok(put.unless_condition_failed(op)?.is_some())
    }

    /// One item of `table`, read as `R`.
    pub(super) async fn read<R: serde::de::DeserializeOwned>(
        &self,
        table: Table,
        key: Item,
        op: &'static str,
    ) -> Result<Option<R>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table(table))
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .op(op)?;
        Ok(out.item.map(serde_dynamo::from_item).transpose()?)
    }

    /// One page of a query of `table` (or its index); `Lookup` says which.
    pub(super) async fn query(
        &self,
        table: Table,
        lookup: Lookup<'_>,
        op: &'static str,
    ) -> Result<aws_sdk_dynamodb::operation::query::QueryOutput, StoreError> {
        let (values, _) = lookup.values.bind_condition(lookup.condition)?;
        self.client
            .query()
            .table_name(self.table(table))
            .set_index_name(lookup.index.map(str::to_owned))
            .key_condition_expression(lookup.condition)
            .set_expression_attribute_values(Some(values))
            .consistent_read(lookup.consistent)
            .set_limit(lookup.limit)
            .set_exclusive_start_key(lookup.start)
            .set_projection_expression(lookup.projection.map(str::to_owned))
            .scan_index_forward(!lookup.scan_backward)
            .set_select(
                lookup
                    .count
                    .then_some(aws_sdk_dynamodb::types::Select::Count),
            )
            .send()
            .await
            .op(op)
    }

    /// How many items of the wishes table match `condition`, over all pages.
    pub(super) async fn count_all(
        &self,
        condition: &str,
        values: Values,
        op: &'static str,
    ) -> Result<usize, StoreError> {
        let mut count = 0usize;
        let mut start = None;
        loop {
            let lookup = Lookup {
                count: true,
                start,
                ..Lookup::new(condition, values.clone())
            };
            let out = self.query(Table::Wishes, lookup, op).await?;
            count += usize::try_from(out.count).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(count);
            }
        }
    }

    /// Runs one transaction; a failed condition is `Conflict`. Conflicts between concurrent
    /// transactions on the same items (no condition failed) are retried with backoff.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        token: Option<String>,
    ) -> Result<(), StoreError> {
        match self.transact_or_failed(items, token).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    /// As [`Store::transact`], saying which items' conditions did not hold (their positions in
    /// `items`) instead of a bare conflict: `Ok(Err(positions))`.
    pub(super) async fn transact_or_failed(
        &self,
        items: Vec<TransactWriteItem>,
        token: Option<String>,
    ) -> Result<Result<(), Vec<usize>>, StoreError> {
        let mut delay = std::time::Duration::from_millis(20);
        for attempt in 0..TRANSACT_ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .set_client_request_token(token.clone())
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Ok(())),
                Err(SdkError::ServiceError(e)) => {
                    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
                    match e.err() {
                        E::TransactionCanceledException(c) => {
                            let codes: Vec<&str> = c
                                .cancellation_reasons()
                                .iter()
                                .filter_map(|r| r.code())
                                .collect();
                            let failed: Vec<usize> = c
                                .cancellation_reasons()
                                .iter()
                                .enumerate()
                                .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                                .map(|(i, _)| i)
                                .collect();
                            if !failed.is_empty() {
                                return Ok(Err(failed));
                            }
                            if attempt + 1 == TRANSACT_ATTEMPTS {
                                return Err(StoreError::Unavailable {
                                    op: "transact",
                                    code: format!("cancelled: {}", codes.join(", ")),
                                });
                            }
                        }
                        // DynamoDB answers 500 now and then, and says to retry (DynamoDB
                        // Local too, under concurrent transactions on the same items).
                        E::TransactionInProgressException(_)
                        | E::InternalServerError(_)
                        | E::ProvisionedThroughputExceededException(_)
                        | E::ThrottlingException(_)
                        | E::RequestLimitExceeded(_)
                            if attempt + 1 < TRANSACT_ATTEMPTS => {}
                        other => {
                            use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
                            return Err(StoreError::Unavailable {
                                op: "transact",
                                code: other.code().unwrap_or("service error").to_owned(),
                            });
                        }
                    }
                }
                Err(e) => return Err(e).op("transact"),
            }
            // Jittered: transactions that conflicted with each other must not retry in step.
            let jitter = rand::rng().random_range(0..=delay.as_millis().try_into().unwrap_or(0u64));
            tokio::time::sleep(delay / 2 + std::time::Duration::from_millis(jitter)).await;
            delay *= 2;
        }
        Err(StoreError::Unavailable {
            op: "transact",
            code: "retries exhausted".into(),
        })
    }

    pub(super) fn put(
        &self,
        table: &str,
        item: HashMap<String, AttributeValue>,
        new_only: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder().table_name(table).set_item(Some(item));
        if new_only {
            put = put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names(
                    "#pk",
                    if table == self.slots {
                        keys::SLOT_ID
                    } else {
                        keys::PK
                    },
                );
        }
        Ok(TransactWriteItem::builder().put(put.build()?).build())
    }

    /// `BatchGetItem` of up to 100 keys of the wishes table.
    pub(super) async fn batch_get(
        &self,
        keys: Vec<Item>,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let first = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(consistent)
            .build()?;
        self.batch_get_of(first, "batch_get").await
    }

    /// `BatchGetItem` of up to 100 keys of the wishes table, consistent, reading only the
    /// attributes `names` (so a reader allowed only those — deliver-outbox — can make it).
    pub(super) async fn batch_get_only(
        &self,
        keys: Vec<Item>,
        names: &[&str],
    ) -> Result<Vec<Item>, StoreError> {
        let placeholders: Vec<String> = (0..names.len()).map(|i| format!("#a{i}")).collect();
        let first = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .projection_expression(placeholders.join(", "))
            .set_expression_attribute_names(Some(
                placeholders
                    .iter()
                    .cloned()
                    .zip(names.iter().map(|n| (*n).to_owned()))
                    .collect(),
            ))
            .build()?;
        self.batch_get_of(first, "batch_get_only").await
    }

    /// `BatchGetItem` of the wishes table's keys and attributes `first`, unprocessed keys tried
    /// again ([`until_processed`]).
    async fn batch_get_of(
        &self,
        first: KeysAndAttributes,
        op: &'static str,
    ) -> Result<Vec<Item>, StoreError> {
        let table = self.wishes.as_str();
        until_processed(op, first, |keys| async move {
            let request = self.client.batch_get_item().request_items(table, keys);
            let mut out = request.send().await.op(op)?;
            let found = out
                .responses
                .as_mut()
                .and_then(|r| r.remove(table))
                .unwrap_or_default();
            let left = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .filter(|k| !k.keys().is_empty());
            Ok((found, left))
        })
        .await
    }

    /// Items of `table`'s index partition `pk` whose sort key stands to `bound` as `condition`
    /// says (`gsi1pk = :pk AND gsi1sk … :bound`), in index order.
    pub(super) async fn index_range(
        &self,
        table: Table,
        condition: &str,
        (pk, bound): (&str, &str),
        limit: i32,
        op: &'static str,
    ) -> Result<Vec<Item>, StoreError> {
        let values = Values::default()
            .with(":pk", s(pk))
            .with(":bound", s(bound));
        let lookup = Lookup {
            index: Some(keys::GSI),
            limit: Some(limit),
            ..Lookup::new(condition, values)
        };
        Ok(self
            .query(table, lookup, op)
            .await?
            .items
            .unwrap_or_default())
    }

    /// Items of the wishes table's index partition `pk` due before `before`, earliest first.
    pub(super) async fn gsi_due(
        &self,
        pk: &str,
        before: &str,
        limit: i32,
    ) -> Result<Vec<Item>, StoreError> {
        let condition = "gsi1pk = :pk AND gsi1sk < :bound";
        self.index_range(Table::Wishes, condition, (pk, before), limit, "gsi_due")
            .await
    }
}

/// Sends `first`, then what the service left unprocessed, until nothing is left (with a short
/// backoff; `Unavailable` after 8 rounds). `send` answers what it got and what is left.
async fn until_processed<P, T, F, Fut>(
    op: &'static str,
    first: P,
    mut send: F,
) -> Result<Vec<T>, StoreError>
where
    F: FnMut(P) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<P>), StoreError>>,
{
    let mut got = Vec::new();
    let mut pending = Some(first);
    let mut round = 0u64;
    while let Some(p) = pending.take() {
        let (found, left) = send(p).await?;
        got.extend(found);
        pending = left;
        round += 1;
        if pending.is_some() {
            if round > 8 {
                return Err(StoreError::Unavailable {
                    op,
                    code: "throttled".into(),
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(20 * round)).await;
        }
    }
    Ok(got)
}

/// What a query asks for: a key condition with its values, on the table or its index.
pub(super) struct Lookup<'a> {
    pub(super) condition: &'a str,
    pub(super) values: Values,
    /// A global secondary index of the table instead of the table.
    pub(super) index: Option<&'a str>,
    /// Strongly consistent (the table only).
    pub(super) consistent: bool,
    pub(super) limit: Option<i32>,
    pub(super) start: Option<Item>,
    /// Only how many match.
    pub(super) count: bool,
    /// Only these attributes of each item (a projection expression without placeholders).
    pub(super) projection: Option<&'a str>,
    /// Newest (highest sort key) first.
    pub(super) scan_backward: bool,
}

impl<'a> Lookup<'a> {
    pub(super) fn new(condition: &'a str, values: Values) -> Self {
        Self {
            condition,
            values,
            index: None,
            consistent: false,
            limit: None,
            start: None,
            count: false,
            projection: None,
            scan_backward: false,
        }
    }
}

/// Names the operation of a failed SDK call, keeping only the service's error code (or the kind
/// of transport failure): the message text may quote an item and must not reach the logs.
pub(super) trait Op<T> {
    fn op(self, op: &'static str) -> Result<T, StoreError>;

    /// As [`Op::op`], but a failed condition is `None`: the write did not apply because the
    /// item was not in the expected state, which the caller handles as an answer, not an error.
    fn unless_condition_failed(self, op: &'static str) -> Result<Option<T>, StoreError>;
}

impl<T, E, R> Op<T> for Result<T, SdkError<E, R>>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    fn op(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Unavailable {
            op,
            code: sdk_code(&e),
        })
    }

    fn unless_condition_failed(self, op: &'static str) -> Result<Option<T>, StoreError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(SdkError::ServiceError(e))
                if e.err().code() == Some("ConditionalCheckFailedException") =>
            {
                Ok(None)
            }
            Err(e) => Err(e).op(op),
        }
    }
}

/// The error code of a service error, or what kind of failure it was otherwise.
pub(super) fn sdk_code<E, R>(e: &SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    match e {
        SdkError::ServiceError(s) => s.err().code().unwrap_or("service error").to_owned(),
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::DispatchFailure(_) => "dispatch failure".to_owned(),
        SdkError::ResponseError(_) => "response error".to_owned(),
        SdkError::ConstructionFailure(_) => "construction failure".to_owned(),
        _ => "unknown".to_owned(),
    }
}
