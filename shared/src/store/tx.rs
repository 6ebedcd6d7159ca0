//! Transactions, batches and the small builders every aggregate file uses.

use super::{
    AttributeValue, GSI, HashMap, KeysAndAttributes, OfferId, Put, SdkError, SlotId, Store,
    StoreError, TransactWriteItem, Update, WishId, WriteRequest, keys,
};

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

/// Attribute names that are reserved words in `DynamoDB` expressions, as the expressions here
/// spell them.
const RESERVED: [(&str, &str); 2] = [("#status", keys::STATUS), ("#start", "start")];

/// One conditional update of a transaction: `update` applies only if `condition` holds on the
/// item at `key`. The reserved attribute names the expressions use (`#status`, `#start`) are
/// bound here.
pub(super) fn conditional_update(
    table: &str,
    key: HashMap<String, AttributeValue>,
    update: &str,
    condition: &str,
    values: HashMap<String, AttributeValue>,
) -> Result<TransactWriteItem, StoreError> {
    let mut builder = Update::builder()
        .table_name(table)
        .set_key(Some(key))
        .update_expression(update)
        .condition_expression(condition)
        .set_expression_attribute_values(Some(values));
    for (placeholder, name) in RESERVED {
        if update.contains(placeholder) || condition.contains(placeholder) {
            builder = builder.expression_attribute_names(placeholder, name);
        }
    }
    Ok(TransactWriteItem::builder()
        .update(builder.build()?)
        .build())
}
pub(super) fn vals<const N: usize>(
    pairs: [(&str, AttributeValue); N],
) -> HashMap<String, AttributeValue> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
pub(super) fn item<T: serde::Serialize>(
    value: &T,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    Ok(serde_dynamo::to_item(value)?)
}
impl Store {
    /// Runs one transaction; a failed condition is `Conflict`. Conflicts between concurrent
    /// transactions on the same items (no condition failed) are retried with backoff.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        token: Option<String>,
    ) -> Result<(), StoreError> {
        let mut delay = std::time::Duration::from_millis(20);
        for attempt in 0..6 {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .set_client_request_token(token.clone())
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(SdkError::ServiceError(e)) => {
                    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
                    match e.err() {
                        E::TransactionCanceledException(c) => {
                            let codes: Vec<&str> = c
                                .cancellation_reasons()
                                .iter()
                                .filter_map(|r| r.code())
                                .collect();
                            if codes.contains(&"ConditionalCheckFailed") {
                                return Err(StoreError::Conflict);
                            }
                            if attempt == 5 {
                                return Err(StoreError::Unavailable {
                                    op: "transact",
                                    code: format!("cancelled: {}", codes.join(", ")),
                                });
                            }
                        }
                        E::TransactionInProgressException(_)
                        | E::ProvisionedThroughputExceededException(_)
                        | E::ThrottlingException(_)
                        | E::RequestLimitExceeded(_)
                            if attempt < 5 => {}
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
            tokio::time::sleep(delay).await;
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

    /// `BatchGetItem` of up to 100 keys of the wishes table, asking again for what the service
    /// leaves unprocessed (with a short backoff; `Unavailable` after 8 rounds).
    pub(super) async fn batch_get(
        &self,
        keys: Vec<HashMap<String, AttributeValue>>,
        consistent: bool,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut items = Vec::new();
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
                .build()?,
        );
        let mut rounds = 0;
        while let Some(keys) = pending.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.wishes, keys)
                .send()
                .await
                .op("batch_get")?;
            items.extend(
                out.responses
                    .unwrap_or_default()
                    .remove(&self.wishes)
                    .unwrap_or_default(),
            );
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.wishes))
                .filter(|k| !k.keys().is_empty());
            rounds += 1;
            if pending.is_some() {
                if rounds > 8 {
                    return Err(StoreError::Unavailable {
                        op: "batch_get",
                        code: "throttled".into(),
                    });
                }
                tokio::time::sleep(std::time::Duration::from_millis(20 * rounds)).await;
            }
        }
        Ok(items)
    }

    pub(super) async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut round = 0u32;
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.wishes, pending)
                    .send()
                    .await
                    .op("batch_write")?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.wishes))
                    .unwrap_or_default();
                round += 1;
                if !pending.is_empty() {
                    if round > 8 {
                        return Err(StoreError::Unavailable {
                            op: "batch_write",
                            code: "throttled".into(),
                        });
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(round)))
                        .await;
                }
            }
        }
        Ok(())
    }

    pub(super) async fn gsi_due(
        &self,
        pk: &str,
        before: &str,
        limit: i32,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.wishes)
            .index_name(GSI)
            .key_condition_expression("gsi1pk = :pk AND gsi1sk < :before")
            .set_expression_attribute_values(Some(vals([(":pk", s(pk)), (":before", s(before))])))
            .limit(limit)
            .send()
            .await
            .op("gsi_due")?;
        Ok(out.items.unwrap_or_default())
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
