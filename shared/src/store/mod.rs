//! The `DynamoDB` adapter. Table design and access patterns: `docs/data-model.md`.
//!
//! Every state change that a citizen must hear about is one `TransactWriteItems` with conditions on
//! the current state, and the mail about it is written into the outbox in the same transaction. So
//! a change happens once or not at all, and its mail exists exactly when the change does.

mod records;

use crate::domain::slot::SlotUpsert;
use crate::domain::wait;
use crate::domain::{
    Catalog, Offer, OfferId, OfferStatus, OfficeId, ServiceId, Slot, SlotId, SlotStatus, TokenHash,
    Window, Wish, WishId, WishStatus,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, KeysAndAttributes, Put, PutRequest, ReturnValue,
    TransactWriteItem, Update, WriteRequest,
};
use chrono::{DateTime, Duration, Utc};
use records::{
    AGE_DUE, ENQUEUE_DUE, MAIL_DUE, MailRecord, OPEN_OFFERS, OfferRecord, QueueEntryRecord,
    SlotRecord, TokenRecord, WishRecord, epoch, free_pk, line_pk, mail_pk, offer_pk, queue_key,
    token_pk, ts, wish_pk,
};
use std::collections::HashMap;

pub use records::queue_key as queue_key_of;
pub use records::ts as format_time;

/// What went wrong talking to the database, in terms the handlers can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition on the current state did not hold: someone else changed it first.
    #[error("the item changed concurrently")]
    Conflict,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl<E: std::fmt::Debug, R: std::fmt::Debug> From<SdkError<E, R>> for StoreError {
    fn from(e: SdkError<E, R>) -> Self {
        StoreError::Unavailable(format!("{e:?}"))
    }
}

impl From<aws_sdk_dynamodb::error::BuildError> for StoreError {
    fn from(e: aws_sdk_dynamodb::error::BuildError) -> Self {
        StoreError::Corrupt(format!("request build: {e}"))
    }
}

impl From<serde_dynamo::Error> for StoreError {
    fn from(e: serde_dynamo::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// A rendered mail, ready for the outbox.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    /// Idempotency key: one mail per event, e.g. `offer-<id>-sent`.
    pub key: String,
    pub to: String,
    pub raw: String,
    /// Fresh link tokens that appear in this mail; stored (as hashes) with it.
    pub tokens: Vec<LinkToken>,
}

/// A new link: the hash of a fresh token, what it opens, and until when.
#[derive(Debug, Clone)]
pub struct LinkToken {
    pub hash: TokenHash,
    /// `wish` or `offer`.
    pub kind: &'static str,
    pub target: String,
    pub expires_at: DateTime<Utc>,
}

/// One place in a line.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    pub wish: WishId,
    /// `None` for entries written before addresses were kept in them.
    pub email: Option<crate::domain::Email>,
    pub language: crate::domain::Language,
}

/// An address's recent wishes and submissions, as the abuse limits need them.
#[derive(Debug, Clone, Default)]
pub struct AddressBook {
    /// Wishes of this address that may still be active.
    pub wishes: Vec<WishId>,
    /// Submission times within the rate window.
    pub submissions: Vec<DateTime<Utc>>,
    /// `None` when the address is new.
    pub version: Option<i64>,
}

/// The sort key of a line's release counters (under `pk = STATS`).
fn released_sk(office: &OfficeId, service: &ServiceId, window: Window) -> String {
    format!(
        "RELEASED#{office}#{service}#{}#{}",
        window.day(),
        window.hour()
    )
}

/// The address item's key: a hash, so the key itself reveals no address.
fn address_pk(email: &crate::domain::Email) -> String {
    use sha2::Digest;
    format!(
        "ADDRESS#{}",
        hex::encode(sha2::Sha256::digest(email.as_ref().as_bytes()))
    )
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct AddressRecord {
    pk: String,
    sk: String,
    #[serde(default)]
    wishes: Vec<String>,
    #[serde(default)]
    submissions: Vec<String>,
    version: i64,
    expires_at: i64,
}

/// A mail the outbox still owes.
#[derive(Debug, Clone)]
pub struct DueMail {
    pub key: String,
    pub to: String,
    pub raw: String,
    pub lease: String,
}

/// Per office and service: how many wishes stand in line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    pub queues: Vec<QueueStat>,
    pub offers_open: u64,
    pub offers_accepted: u64,
    pub offers_declined: u64,
    pub offers_expired: u64,
    /// Accepted / answered-or-expired offers; `None` before the first answer.
    pub acceptance_rate: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueStat {
    pub office: String,
    pub service: String,
    pub waiting: i64,
}

/// What `upsert_slots` did with one row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpsertOutcome {
    Created,
    Updated,
    Unchanged,
    /// The slot is held by an open offer or booked through one; only the offer's answer changes it.
    Conflict,
}

/// How long personal data and links live.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// An unconfirmed wish vanishes after this.
    pub pending: Duration,
    /// An ended wish's data is deleted this long after it ended.
    pub ended: Duration,
    /// Wish links outlive the wish itself by at most this.
    pub token: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            pending: Duration::hours(24),
            ended: Duration::days(30),
            token: Duration::days(120),
        }
    }
}

/// Mails older than this lease are taken over by the rescan.
pub const MAIL_LEASE: Duration = Duration::minutes(2);

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    wishes: String,
    slots: String,
    pub retention: Retention,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}
fn slot_key(id: &SlotId) -> HashMap<String, AttributeValue> {
    HashMap::from([("id".to_owned(), s(id.as_ref()))])
}
fn vals<const N: usize>(pairs: [(&str, AttributeValue); N]) -> HashMap<String, AttributeValue> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
fn item<T: serde::Serialize>(value: &T) -> Result<HashMap<String, AttributeValue>, StoreError> {
    Ok(serde_dynamo::to_item(value)?)
}

/// A MIME message as the outbox keeps it: deflated, then base64 (a string attribute).
fn pack_mime(raw: &str) -> Result<String, StoreError> {
    use std::io::Write as _;
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(raw.as_bytes())
        .and_then(|()| z.finish())
        .map(|bytes| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes))
        .map_err(|e| StoreError::Corrupt(format!("compressing a mail: {e}")))
}

fn unpack_mime(packed: &str) -> Result<String, StoreError> {
    use std::io::Read as _;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, packed)
        .map_err(|e| StoreError::Corrupt(format!("outbox mail: {e}")))?;
    let mut raw = String::new();
    flate2::read::DeflateDecoder::new(bytes.as_slice())
        .read_to_string(&mut raw)
        .map_err(|e| StoreError::Corrupt(format!("outbox mail: {e}")))?;
    Ok(raw)
}

impl Store {
    #[must_use]
    pub fn new(
        client: Client,
        wishes_table: impl Into<String>,
        slots_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            wishes: wishes_table.into(),
            slots: slots_table.into(),
            retention: Retention::default(),
        }
    }

    /// The store a function uses: the tables its configuration names.
    #[must_use]
    pub fn from_sdk(sdk: &aws_config::SdkConfig, config: &crate::Config) -> Self {
        Self::new(Client::new(sdk), &config.wishes_table, &config.slots_table)
    }

    /// Runs one transaction; a failed condition is `Conflict`. Conflicts between concurrent
    /// transactions on the same items (no condition failed) are retried with backoff.
    async fn transact(
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
                                return Err(StoreError::Unavailable(format!(
                                    "transaction cancelled: {codes:?}"
                                )));
                            }
                        }
                        E::TransactionInProgressException(_)
                        | E::ProvisionedThroughputExceededException(_)
                        | E::ThrottlingException(_)
                        | E::RequestLimitExceeded(_)
                            if attempt < 5 => {}
                        other => return Err(StoreError::Unavailable(format!("{other:?}"))),
                    }
                }
                Err(e) => return Err(e.into()),
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        Err(StoreError::Unavailable(
            "transaction retries exhausted".into(),
        ))
    }

    fn put(
        &self,
        table: &str,
        item: HashMap<String, AttributeValue>,
        new_only: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder().table_name(table).set_item(Some(item));
        if new_only {
            put = put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", if table == self.slots { "id" } else { "pk" });
        }
        Ok(TransactWriteItem::builder().put(put.build()?).build())
    }

    /// The outbox item of a mail and the link tokens it carries.
    fn outbox_put(
        &self,
        mail: &OutgoingMail,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        // The writer sends it right after the transaction; the lease keeps the rescan away meanwhile.
        let record = MailRecord {
            pk: mail_pk(&mail.key),
            sk: "MAIL".into(),
            key: mail.key.clone(),
            to: mail.to.clone(),
            packed: Some(pack_mime(&mail.raw)?),
            status: "pending".into(),
            attempts: 0,
            created_at: ts(now),
            gsi1pk: Some(MAIL_DUE.into()),
            gsi1sk: Some(format!("{}#{}", ts(now + MAIL_LEASE), mail.key)),
            expires_at: epoch(now + self.retention.ended),
        };
        let mut items = vec![self.put(&self.wishes, item(&record)?, true)?];
        for t in &mail.tokens {
            let token = TokenRecord {
                pk: token_pk(t.hash.as_ref()),
                sk: "TOKEN".into(),
                kind: t.kind.into(),
                target: t.target.clone(),
                expires_at: epoch(t.expires_at),
            };
            items.push(self.put(&self.wishes, item(&token)?, true)?);
        }
        Ok(items)
    }

    // ---- catalogue ---------------------------------------------------------------------------

    pub async fn load_catalog(&self) -> Result<Option<Catalog>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.wishes)
            .set_key(Some(key("CATALOG".into(), "CATALOG")))
            .send()
            .await?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let Some(AttributeValue::S(json)) = item.get("json") else {
            return Err(StoreError::Corrupt("catalogue without json".into()));
        };
        Catalog::from_json(json)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    pub async fn put_catalog(&self, catalog: &Catalog) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(catalog).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut item = key("CATALOG".into(), "CATALOG");
        item.insert("json".into(), s(json));
        self.client
            .put_item()
            .table_name(&self.wishes)
            .set_item(Some(item))
            .send()
            .await?;
        Ok(())
    }

    // ---- wishes --------------------------------------------------------------------------------

    /// Stores a new pending wish with its link token and the opt-in mail.
    /// What we keep per email address (keyed by its hash) to enforce the abuse limits.
    pub async fn address_book(
        &self,
        email: &crate::domain::Email,
    ) -> Result<AddressBook, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.wishes)
            .set_key(Some(key(address_pk(email), "ADDRESS")))
            .consistent_read(true)
            .send()
            .await?;
        let Some(item) = out.item else {
            return Ok(AddressBook::default());
        };
        let record: AddressRecord = serde_dynamo::from_item(item)?;
        Ok(AddressBook {
            wishes: record
                .wishes
                .iter()
                .filter_map(|w| WishId::parse(w).ok())
                .collect(),
            submissions: record
                .submissions
                .iter()
                .filter_map(|t| records::parse_ts(t).ok())
                .collect(),
            version: Some(record.version),
        })
    }

    /// Counts one request of a client in the current hour; `false` once it is over `limit`.
    pub async fn count_client_request(
        &self,
        client: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use sha2::Digest;
        let hashed = hex::encode(sha2::Sha256::digest(client.as_bytes()));
        let result = self
            .client
            .update_item()
            .table_name(&self.wishes)
            .set_key(Some(key(
                format!("RATE#{hashed}"),
                &now.format("%Y%m%d%H").to_string(),
            )))
            .update_expression("ADD requests :one SET expires_at = :exp")
            .condition_expression("attribute_not_exists(requests) OR requests < :limit")
            .set_expression_attribute_values(Some(vals([
                (":one", n(1)),
                (":limit", n(i64::from(limit))),
                (":exp", n(epoch(now + Duration::hours(2)))),
            ])))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stores a new pending wish with its link token, the opt-in mail, and the address's updated
    /// book (optimistically locked: two submissions at once cannot both pass the limits).
    pub async fn create_wish(
        &self,
        wish: &Wish,
        token: &TokenHash,
        mail: &OutgoingMail,
        book: &AddressBook,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = WishRecord::from_wish(wish, Some(now + self.retention.pending));
        let token_record = TokenRecord {
            pk: token_pk(token.as_ref()),
            sk: "TOKEN".into(),
            kind: "wish".into(),
            target: wish.id.to_string(),
            expires_at: epoch(now + self.retention.token),
        };
        let address = AddressRecord {
            pk: address_pk(&wish.email),
            sk: "ADDRESS".into(),
            wishes: book.wishes.iter().map(ToString::to_string).collect(),
            submissions: book.submissions.iter().map(|t| ts(*t)).collect(),
            version: book.version.map_or(1, |v| v + 1),
            expires_at: epoch(now + self.retention.token),
        };
        let mut put_address = Put::builder()
            .table_name(&self.wishes)
            .set_item(Some(item(&address)?));
        put_address = match book.version {
            Some(v) => put_address
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v)),
            None => put_address.condition_expression("attribute_not_exists(pk)"),
        };
        let mut items = vec![
            self.put(&self.wishes, item(&record)?, true)?,
            self.put(&self.wishes, item(&token_record)?, true)?,
            TransactWriteItem::builder()
                .put(put_address.build()?)
                .build(),
        ];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    /// The target id behind a link token, if the token is ours and not expired.
    pub async fn resolve_token(
        &self,
        token: &TokenHash,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.wishes)
            .set_key(Some(key(token_pk(token.as_ref()), "TOKEN")))
            .send()
            .await?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let record: TokenRecord = serde_dynamo::from_item(item)?;
        // DynamoDB deletes expired items late (and DynamoDB Local never): expiry is checked here.
        if record.kind != kind || record.expires_at <= epoch(now) {
            return Ok(None);
        }
        Ok(Some(record.target))
    }

    /// A wish, unless its data has expired (an unconfirmed wish after 24 h, an ended one after the
    /// retention time).
    pub async fn get_wish(
        &self,
        id: &WishId,
        now: DateTime<Utc>,
    ) -> Result<Option<Wish>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.wishes)
            .set_key(Some(key(wish_pk(id), "WISH")))
            .consistent_read(true)
            .send()
            .await?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let record: WishRecord = serde_dynamo::from_item(item)?;
        if record.expires_at.is_some_and(|e| e <= epoch(now)) {
            return Ok(None);
        }
        record.into_wish().map(Some)
    }

    /// `BatchGetItem` of up to 100 keys of the wishes table, asking again for what the service
    /// leaves unprocessed (with a short backoff; `Unavailable` after 8 rounds).
    async fn batch_get(
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
                .await?;
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
                    return Err(StoreError::Unavailable("batch read throttled".into()));
                }
                tokio::time::sleep(std::time::Duration::from_millis(20 * rounds)).await;
            }
        }
        Ok(items)
    }

    /// Reads wishes in one round trip (at most 100), consistent, skipping expired ones.
    pub async fn get_wishes(
        &self,
        ids: &[WishId],
        now: DateTime<Utc>,
    ) -> Result<Vec<Wish>, StoreError> {
        let mut found = Vec::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let mut unique: Vec<&WishId> = Vec::new();
        for id in ids {
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
        let keys = unique.iter().map(|id| key(wish_pk(id), "WISH")).collect();
        for item in self.batch_get(keys, true).await? {
            let record: WishRecord = serde_dynamo::from_item(item)?;
            if record.expires_at.is_none_or(|e| e > epoch(now)) {
                found.push(record.into_wish()?);
            }
        }
        Ok(found)
    }

    /// pending → waiting: the wish gets its place in line (the confirmation time) and is marked
    /// for enqueueing, which [`Store::enqueue`] completes (or the rescan, after a crash).
    pub async fn confirm_wish(
        &self,
        wish: &Wish,
        now: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let update = Update::builder()
            .table_name(&self.wishes)
            .set_key(Some(key(wish_pk(&wish.id), "WISH")))
            .update_expression(
                "SET #status = :waiting, confirmed_at = :now, queue_key = :qk, gsi1pk = :due, gsi1sk = :now REMOVE expires_at",
            )
            .condition_expression("#status = :pending AND (attribute_not_exists(expires_at) OR expires_at > :epoch)")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(vals([
                (":waiting", s("waiting")),
                (":pending", s("pending")),
                (":now", s(ts(now))),
                (":qk", s(queue_key(now, &wish.id))),
                (":due", s(ENQUEUE_DUE)),
                (":epoch", n(epoch(now))),
            ])))
            .build()?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    /// Puts the wish into each line it stands in. Idempotent.
    pub async fn enqueue(
        &self,
        wish: &Wish,
        lines: &[(OfficeId, Window)],
        next_age_check: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(confirmed_at) = wish.confirmed_at else {
            return Ok(());
        };
        let qk = queue_key(confirmed_at, &wish.id);
        let requests = lines
            .iter()
            .map(|(office, window)| {
                let record = QueueEntryRecord {
                    pk: line_pk(office, &wish.service, *window),
                    sk: qk.clone(),
                    wish: wish.id.to_string(),
                    email: Some(wish.email.as_ref().to_owned()),
                    language: Some(wish.language),
                };
                Ok(WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item(&record)?))
                            .build()?,
                    )
                    .build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(requests).await?;
        // Done: off the list of wishes whose enqueueing the rescan must finish, onto the list of
        // wishes whose age the rescan watches.
        let result = self
            .client
            .update_item()
            .table_name(&self.wishes)
            .set_key(Some(key(wish_pk(&wish.id), "WISH")))
            .update_expression("SET gsi1pk = :age, gsi1sk = :at")
            .condition_expression("gsi1pk = :due")
            .set_expression_attribute_values(Some(vals([
                (":due", s(ENQUEUE_DUE)),
                (":age", s(AGE_DUE)),
                (":at", s(format!("{}#{}", ts(next_age_check), wish.id))),
            ])))
            .send()
            .await;
        match result {
            Ok(_) => {
                // Counted once: only the call that moved the marker counts the wish.
                self.bump_waiting(wish, 1).await;
                Ok(())
            }
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Takes the wish out of its lines (after it ended). Entries left behind by a crash are harmless:
    /// matching reads the wish and skips it.
    pub async fn dequeue(
        &self,
        wish: &Wish,
        lines: &[(OfficeId, Window)],
    ) -> Result<(), StoreError> {
        let Some(confirmed_at) = wish.confirmed_at else {
            return Ok(());
        };
        let qk = queue_key(confirmed_at, &wish.id);
        let requests = lines
            .iter()
            .map(|(office, window)| {
                Ok(WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .set_key(Some(key(line_pk(office, &wish.service, *window), &qk)))
                            .build()?,
                    )
                    .build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(requests).await?;
        self.bump_waiting(wish, -1).await;
        Ok(())
    }

    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut round = 0u32;
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.wishes, pending)
                    .send()
                    .await?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.wishes))
                    .unwrap_or_default();
                round += 1;
                if !pending.is_empty() {
                    if round > 8 {
                        return Err(StoreError::Unavailable("batch write throttled".into()));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(round)))
                        .await;
                }
            }
        }
        Ok(())
    }

    /// Queue-length counters for the clerks' statistics. Updated outside the transactions on
    /// purpose: a shared counter inside every transaction would make concurrent offers conflict.
    /// A crash between the two loses one count; the statistics are approximate by design.
    async fn bump_waiting(&self, wish: &Wish, delta: i64) {
        for office in &wish.offices {
            let result = self
                .client
                .update_item()
                .table_name(&self.wishes)
                .set_key(Some(key(
                    "STATS".into(),
                    &format!("QUEUE#{office}#{}", wish.service),
                )))
                .update_expression("ADD waiting :d SET office = :o, service = :s")
                .set_expression_attribute_values(Some(vals([
                    (":d", n(delta)),
                    (":o", s(office.as_ref())),
                    (":s", s(wish.service.as_ref())),
                ])))
                .send()
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %StoreError::from(e), "queue counter not updated");
            }
        }
    }

    /// Counts one slot entering a line, for the wish page's rough expected wait
    /// ([`crate::domain::wait`]). Like the queue counters it stays outside every transaction and
    /// off the offer path: one `UpdateItem` per released slot, made by slot-release; a failure is
    /// only logged. A stream record delivered twice counts twice; the figure is an estimate.
    ///
    /// The line's item keeps one counter per day. The write returns the item, and when it still
    /// holds days that have left the window (the first release of a day, at most) a second
    /// `UpdateItem` removes them, so the item never holds more than the window's days; a line
    /// without releases for longer than the window expires through TTL.
    pub async fn count_release(
        &self,
        office: &OfficeId,
        service: &ServiceId,
        window: Window,
        now: DateTime<Utc>,
    ) {
        let sk = released_sk(office, service, window);
        let expires = now + Duration::days(i64::from(wait::RELEASE_WINDOW_DAYS) + 1);
        let result = self
            .client
            .update_item()
            .table_name(&self.wishes)
            .set_key(Some(key("STATS".into(), &sk)))
            .update_expression("ADD #day :one SET expires_at = :expires")
            .expression_attribute_names("#day", wait::release_bucket(now))
            .set_expression_attribute_values(Some(vals([
                (":one", n(1)),
                (":expires", n(epoch(expires))),
            ])))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let item = match result {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %StoreError::from(e), "release counter not updated");
                return;
            }
        };
        let stale = wait::stale_buckets(item.keys().map(String::as_str), now);
        if stale.is_empty() {
            return;
        }
        let names: HashMap<String, String> = stale
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("#old{i}"), b.clone()))
            .collect();
        let expression = format!(
            "REMOVE {}",
            names.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        let result = self
            .client
            .update_item()
            .table_name(&self.wishes)
            .set_key(Some(key("STATS".into(), &sk)))
            .update_expression(expression)
            .set_expression_attribute_names(Some(names))
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %StoreError::from(e), "old release counters not removed");
        }
    }

    /// For each of `lines` (of one service), how many slots entered it in the window at `now`
    /// ([`Store::count_release`]); 0 for a line without any. One `BatchGetItem` for up to 100
    /// lines.
    pub async fn releases_in_lines(
        &self,
        service: &ServiceId,
        lines: &[(OfficeId, Window)],
        now: DateTime<Utc>,
    ) -> Result<Vec<u64>, StoreError> {
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut wanted: Vec<String> = Vec::new();
        for (office, window) in lines {
            let sk = released_sk(office, service, *window);
            if !wanted.contains(&sk) {
                wanted.push(sk);
            }
        }
        for chunk in wanted.chunks(100) {
            let keys = chunk.iter().map(|sk| key("STATS".into(), sk)).collect();
            for item in self.batch_get(keys, false).await? {
                let Some(sk) = item.get("sk").and_then(|v| v.as_s().ok()) else {
                    continue;
                };
                let buckets = item.iter().filter_map(|(name, v)| {
                    let n = v.as_n().ok()?.parse::<u64>().ok()?;
                    Some((name.as_str(), n))
                });
                counts.insert(sk.clone(), wait::releases_in_window(buckets, now));
            }
        }
        Ok(lines
            .iter()
            .map(|(office, window)| {
                counts
                    .get(&released_sk(office, service, *window))
                    .copied()
                    .unwrap_or(0)
            })
            .collect())
    }

    async fn bump_offer_counter(&self, field: &str) {
        let result = self
            .client
            .update_item()
            .table_name(&self.wishes)
            .set_key(Some(key("STATS".into(), "OFFERS")))
            .update_expression("ADD #f :one")
            .expression_attribute_names("#f", field)
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %StoreError::from(e), "offer counter not updated");
        }
    }

    /// Wishes confirmed but not yet in their lines for longer than `grace` (a crash between the
    /// two steps). Cost grows with such wishes only, normally none.
    pub async fn wishes_to_enqueue(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Wish>, StoreError> {
        let items = self.gsi_due(ENQUEUE_DUE, &ts(before), 100).await?;
        let mut wishes = Vec::new();
        for item in items {
            let record: WishRecord = serde_dynamo::from_item(item)?;
            if record.expires_at.is_none_or(|e| e > epoch(now)) {
                wishes.push(record.into_wish()?);
            }
        }
        Ok(wishes)
    }

    async fn gsi_due(
        &self,
        pk: &str,
        before: &str,
        limit: i32,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.wishes)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND gsi1sk < :before")
            .set_expression_attribute_values(Some(vals([(":pk", s(pk)), (":before", s(before))])))
            .limit(limit)
            .send()
            .await?;
        Ok(out.items.unwrap_or_default())
    }

    /// waiting|offered|pending → cancelled; an open offer is withdrawn and its slot set free again
    /// (which the stream turns into a `SlotReleased`).
    pub async fn cancel_wish(
        &self,
        wish: &Wish,
        open_offer: Option<&Offer>,
        now: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let mut items = vec![self.end_wish_update(wish, "cancelled", now)?];
        if let Some(offer) = open_offer {
            items.push(self.close_offer_update(offer, OfferStatus::Withdrawn, now)?);
            items.push(self.free_slot_update(offer)?);
        }
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    fn end_wish_update(
        &self,
        wish: &Wish,
        status: &str,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let expected = wish.status.as_str();
        let update = Update::builder()
            .table_name(&self.wishes)
            .set_key(Some(key(wish_pk(&wish.id), "WISH")))
            .update_expression("SET #status = :to, ended_at = :now, expires_at = :exp REMOVE open_offer, gsi1pk, gsi1sk")
            .condition_expression("#status = :from")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(vals([
                (":to", s(status)),
                (":from", s(expected)),
                (":now", s(ts(now))),
                (":exp", n(epoch(now + self.retention.ended))),
            ])))
            .build()?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn close_offer_update(
        &self,
        offer: &Offer,
        to: OfferStatus,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.wishes)
            .set_key(Some(key(offer_pk(&offer.id), "OFFER")))
            .update_expression("SET #status = :to, closed_at = :now REMOVE gsi1pk, gsi1sk")
            .condition_expression("#status = :open")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(vals([
                (":to", s(to.as_str())),
                (":open", s("open")),
                (":now", s(ts(now))),
            ])))
            .build()?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn free_slot_update(&self, offer: &Offer) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.slots)
            .set_key(Some(slot_key(&offer.slot)))
            .update_expression("SET #status = :free, gsi1pk = :fpk, gsi1sk = :fsk, updated_at = :now REMOVE offer, wish")
            .condition_expression("#status = :offered AND offer = :offer")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(vals([
                (":free", s("free")),
                (":offered", s("offered")),
                (":offer", s(offer.id.as_ref())),
                (":fpk", s(free_pk(&offer.office))),
                (":fsk", s(format!("{}#{}", ts(offer.start), offer.slot))),
                (":now", s(ts(Utc::now()))),
            ])))
            .build()?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// offered → waiting after a decline or an expiry: the wish keeps its place and never gets
    /// this slot again.
    /// offered → waiting (or paused) after a decline or an expiry: the wish keeps its place and
    /// never gets this slot again; `unanswered` counts expiries in a row.
    fn back_to_waiting_update(
        &self,
        offer: &Offer,
        to: WishStatus,
        unanswered: u8,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.wishes)
            .set_key(Some(key(wish_pk(&offer.wish), "WISH")))
            .update_expression("SET #status = :to, unanswered = :n, declined = list_append(if_not_exists(declined, :empty), :slot) REMOVE open_offer")
            .condition_expression("#status = :offered AND open_offer = :offer")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(vals([
                (":to", s(to.as_str())),
                (":n", n(i64::from(unanswered))),
                (":offered", s("offered")),
                (":offer", s(offer.id.as_ref())),
                (":empty", AttributeValue::L(vec![])),
                (":slot", AttributeValue::L(vec![s(offer.slot.as_ref())])),
            ])))
            .build()?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// paused → waiting: the citizen confirmed again; the place in line was never lost.
    pub async fn resume_wish(
        &self,
        wish: &Wish,
        now: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let update = Update::builder()
            .table_name(&self.wishes)
            .set_key(Some(key(wish_pk(&wish.id), "WISH")))
            .update_expression("SET #status = :waiting, unanswered = :zero")
            .condition_expression("#status = :paused")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(vals([
                (":waiting", s("waiting")),
                (":paused", s("paused")),
                (":zero", n(0)),
            ])))
            .build()?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    /// Confirmed wishes whose age must be looked at by `now` (reminder or expiry).
    pub async fn wishes_by_age(
        &self,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Wish>, StoreError> {
        let mut wishes = Vec::new();
        for item in self.gsi_due(AGE_DUE, &ts(now), limit).await? {
            let record: WishRecord = serde_dynamo::from_item(item)?;
            wishes.push(record.into_wish()?);
        }
        Ok(wishes)
    }

    /// When the rescan should look at this wish's age next.
    pub async fn schedule_age_check(
        &self,
        wish: &Wish,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.wishes)
            .set_key(Some(key(wish_pk(&wish.id), "WISH")))
            .update_expression("SET gsi1sk = :at")
            .condition_expression("gsi1pk = :age")
            .set_expression_attribute_values(Some(vals([
                (":age", s(AGE_DUE)),
                (":at", s(format!("{}#{}", ts(at), wish.id))),
            ])))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Records the "still interested?" reminder together with its mail.
    pub async fn remind_wish(
        &self,
        wish: &Wish,
        now: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let update = Update::builder()
            .table_name(&self.wishes)
            .set_key(Some(key(wish_pk(&wish.id), "WISH")))
            .update_expression("SET reminded_at = :now, gsi1sk = :at")
            .condition_expression(
                "#status = :status AND gsi1pk = :age AND attribute_not_exists(reminded_at)",
            )
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(vals([
                (":now", s(ts(now))),
                (":at", s(format!("{}#{}", ts(ends_at), wish.id))),
                (":status", s(wish.status.as_str())),
                (":age", s(AGE_DUE)),
            ])))
            .build()?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    /// "Keep my wish": the age starts again, the place in line stays.
    pub async fn keep_wish(
        &self,
        wish: &Wish,
        now: DateTime<Utc>,
        next_check: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let update = Update::builder()
            .table_name(&self.wishes)
            .set_key(Some(key(wish_pk(&wish.id), "WISH")))
            .update_expression("SET kept_at = :now, gsi1pk = :age, gsi1sk = :at REMOVE reminded_at")
            .condition_expression("#status = :status AND attribute_exists(reminded_at)")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(vals([
                (":now", s(ts(now))),
                (":at", s(format!("{}#{}", ts(next_check), wish.id))),
                (":status", s(wish.status.as_str())),
                (":age", s(AGE_DUE)),
            ])))
            .build()?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    /// waiting → expired at the maximum age.
    pub async fn expire_wish(
        &self,
        wish: &Wish,
        now: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let mut items = vec![self.end_wish_update(wish, "expired", now)?];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    /// The office takes a slot back. A free slot is simply removed; an offered one is removed with
    /// its offer withdrawn and the wish back in line (with its place, free to get this slot
    /// again should it come back). A booked slot is refused (`Conflict`): cancel the booking first.
    pub async fn withdraw_slot(
        &self,
        slot: &Slot,
        offer: Option<(&Offer, &OutgoingMail)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut delete = Delete::builder()
            .table_name(&self.slots)
            .set_key(Some(slot_key(&slot.id)));
        let mut items = Vec::new();
        match (slot.status, offer) {
            (SlotStatus::Free, _) => {
                delete = delete
                    .condition_expression("#status = :free")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":free", s("free"));
            }
            (SlotStatus::Offered, Some((offer, mail))) => {
                delete = delete
                    .condition_expression("#status = :offered AND offer = :offer")
                    .expression_attribute_names("#status", "status")
                    .set_expression_attribute_values(Some(vals([
                        (":offered", s("offered")),
                        (":offer", s(offer.id.as_ref())),
                    ])));
                items.push(self.close_offer_update(offer, OfferStatus::Withdrawn, now)?);
                let wish = Update::builder()
                    .table_name(&self.wishes)
                    .set_key(Some(key(wish_pk(&offer.wish), "WISH")))
                    .update_expression("SET #status = :waiting REMOVE open_offer")
                    .condition_expression("#status = :offered AND open_offer = :offer")
                    .expression_attribute_names("#status", "status")
                    .set_expression_attribute_values(Some(vals([
                        (":waiting", s("waiting")),
                        (":offered", s("offered")),
                        (":offer", s(offer.id.as_ref())),
                    ])))
                    .build()?;
                items.push(TransactWriteItem::builder().update(wish).build());
                items.extend(self.outbox_put(mail, now)?);
            }
            _ => return Err(StoreError::Conflict),
        }
        items.push(TransactWriteItem::builder().delete(delete.build()?).build());
        self.transact(items, None).await
    }

    // ---- slots ---------------------------------------------------------------------------------

    pub async fn get_slot(&self, id: &SlotId) -> Result<Option<Slot>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.slots)
            .set_key(Some(slot_key(id)))
            .consistent_read(true)
            .send()
            .await?;
        out.item
            .map(|item| serde_dynamo::from_item::<_, SlotRecord>(item)?.into_slot())
            .transpose()
    }

    fn slot_record(u: &SlotUpsert, now: DateTime<Utc>) -> SlotRecord {
        let free = u.status == SlotStatus::Free;
        SlotRecord {
            id: u.id.to_string(),
            office: u.office.to_string(),
            service: u.service.to_string(),
            start: ts(u.start),
            minutes: u.minutes,
            status: u.status,
            offer: None,
            wish: None,
            gsi1pk: free.then(|| free_pk(&u.office)),
            gsi1sk: free.then(|| format!("{}#{}", ts(u.start), u.id)),
            updated_at: ts(now),
            // Past slots are of no use to anyone a month later.
            expires_at: epoch(u.start + Duration::days(30)),
        }
    }

    /// Adds or updates one slot as the booking system describes it. A new free slot, or a booked
    /// one becoming free, enters the queue through the table's stream.
    pub async fn upsert_slot(
        &self,
        u: &SlotUpsert,
        now: DateTime<Utc>,
    ) -> Result<UpsertOutcome, StoreError> {
        let record = Self::slot_record(u, now);
        // Create if new.
        let created = self
            .client
            .put_item()
            .table_name(&self.slots)
            .set_item(Some(item(&record)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match created {
            Ok(_) => return Ok(UpsertOutcome::Created),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {}
            Err(e) => return Err(e.into()),
        }
        let Some(current) = self.get_slot(&u.id).await? else {
            return Err(StoreError::Conflict);
        };
        if current.status == SlotStatus::Offered || current.wish.is_some() {
            return Ok(UpsertOutcome::Conflict);
        }
        if current.office == u.office
            && current.service == u.service
            && current.start == u.start
            && current.minutes == u.minutes
            && current.status == u.status
        {
            return Ok(UpsertOutcome::Unchanged);
        }
        // Replace only if nobody took it in between.
        let replaced = self
            .client
            .put_item()
            .table_name(&self.slots)
            .set_item(Some(item(&record)?))
            .condition_expression("#status = :seen AND attribute_not_exists(wish)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(
                ":seen",
                s(match current.status {
                    SlotStatus::Free => "free",
                    SlotStatus::Offered => "offered",
                    SlotStatus::Booked => "booked",
                }),
            )
            .send()
            .await;
        match replaced {
            Ok(_) => Ok(UpsertOutcome::Updated),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(UpsertOutcome::Conflict)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// booked → free (the appointment was cancelled). Returns the slot after the change, or the
    /// unchanged slot when it was not booked.
    pub async fn release_slot(
        &self,
        id: &SlotId,
        now: DateTime<Utc>,
    ) -> Result<Option<(Slot, bool)>, StoreError> {
        let Some(slot) = self.get_slot(id).await? else {
            return Ok(None);
        };
        if slot.status != SlotStatus::Booked {
            return Ok(Some((slot, false)));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.slots)
            .set_key(Some(slot_key(id)))
            .update_expression("SET #status = :free, gsi1pk = :fpk, gsi1sk = :fsk, updated_at = :now REMOVE wish, offer")
            .condition_expression("#status = :booked")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(vals([
                (":free", s("free")),
                (":booked", s("booked")),
                (":fpk", s(free_pk(&slot.office))),
                (":fsk", s(format!("{}#{}", ts(slot.start), slot.id))),
                (":now", s(ts(now))),
            ])))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let record: SlotRecord =
                    serde_dynamo::from_item(out.attributes.unwrap_or_default())?;
                Ok(Some((record.into_slot()?, true)))
            }
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(self.get_slot(id).await?.map(|s| (s, false)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Free slots of one office starting at or after `from`, earliest first.
    pub async fn free_slots(
        &self,
        office: &OfficeId,
        from: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Slot>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.slots)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND gsi1sk >= :from")
            .set_expression_attribute_values(Some(vals([
                (":pk", s(free_pk(office))),
                (":from", s(ts(from))),
            ])))
            .limit(limit)
            .send()
            .await?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| serde_dynamo::from_item::<_, SlotRecord>(item)?.into_slot())
            .filter(|s| s.as_ref().map_or(true, |s| s.status == SlotStatus::Free))
            .collect()
    }

    // ---- matching ------------------------------------------------------------------------------

    /// The head of one line: wish ids in queue order, starting after `after` (a queue key).
    /// One query, whatever the length of the line.
    pub async fn head_of_line(
        &self,
        office: &OfficeId,
        service: &ServiceId,
        window: Window,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<QueueEntry>, Option<String>), StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.wishes)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(line_pk(office, service, window)))
            .consistent_read(true)
            .limit(limit);
        if let Some(after) = after {
            query =
                query.set_exclusive_start_key(Some(key(line_pk(office, service, window), after)));
        }
        let out = query.send().await?;
        let ids = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let r: QueueEntryRecord = serde_dynamo::from_item(item)?;
                Ok(QueueEntry {
                    wish: WishId::parse(&r.wish)
                        .map_err(|_| StoreError::Corrupt("queue entry".into()))?,
                    email: r
                        .email
                        .as_deref()
                        .and_then(|e| crate::domain::Email::parse(e).ok()),
                    language: r.language.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = out
            .last_evaluated_key
            .and_then(|k| k.get("sk").and_then(|v| v.as_s().ok()).cloned());
        Ok((ids, next))
    }

    /// How many wishes stand ahead of the queue key `before` in one line (a count, paginated).
    pub async fn ahead_in_line(
        &self,
        office: &OfficeId,
        service: &ServiceId,
        window: Window,
        before: &str,
    ) -> Result<usize, StoreError> {
        let mut count = 0usize;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.wishes)
                .key_condition_expression("pk = :pk AND sk < :before")
                .set_expression_attribute_values(Some(vals([
                    (":pk", s(line_pk(office, service, window))),
                    (":before", s(before)),
                ])))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            count += usize::try_from(out.count).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(count);
            }
        }
    }

    /// The offer transaction: slot free → offered, wish waiting → offered, offer and its link
    /// created, offer mail into the outbox. `Conflict` when the slot or wish changed meanwhile.
    pub async fn create_offer(
        &self,
        offer: &Offer,
        token: &TokenHash,
        mail: &OutgoingMail,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let slot = Update::builder()
            .table_name(&self.slots)
            .set_key(Some(slot_key(&offer.slot)))
            .update_expression(
                "SET #status = :offered, offer = :offer, updated_at = :now REMOVE gsi1pk, gsi1sk",
            )
            .condition_expression(
                "#status = :free AND office = :office AND service = :service AND #start = :start",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#start", "start")
            .set_expression_attribute_values(Some(vals([
                (":offered", s("offered")),
                (":free", s("free")),
                (":offer", s(offer.id.as_ref())),
                (":office", s(offer.office.as_ref())),
                (":service", s(offer.service.as_ref())),
                (":start", s(ts(offer.start))),
                (":now", s(ts(now))),
            ])))
            .build()?;
        let wish = Update::builder()
            .table_name(&self.wishes)
            .set_key(Some(key(wish_pk(&offer.wish), "WISH")))
            .update_expression("SET #status = :offered, open_offer = :offer")
            .condition_expression("#status = :waiting AND attribute_not_exists(open_offer) AND NOT contains(declined, :slot)")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(vals([
                (":offered", s("offered")),
                (":waiting", s("waiting")),
                (":offer", s(offer.id.as_ref())),
                (":slot", s(offer.slot.as_ref())),
            ])))
            .build()?;
        let token_record = TokenRecord {
            pk: token_pk(token.as_ref()),
            sk: "TOKEN".into(),
            kind: "offer".into(),
            target: offer.id.to_string(),
            expires_at: epoch(offer.deadline + self.retention.ended),
        };
        let mut items = vec![
            TransactWriteItem::builder().update(slot).build(),
            TransactWriteItem::builder().update(wish).build(),
            self.put(
                &self.wishes,
                item(&OfferRecord::from_offer(
                    offer,
                    offer.deadline + self.retention.ended,
                ))?,
                true,
            )?,
            self.put(&self.wishes, item(&token_record)?, true)?,
        ];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await
    }

    pub async fn get_offer(&self, id: &OfferId) -> Result<Option<Offer>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.wishes)
            .set_key(Some(key(offer_pk(id), "OFFER")))
            .consistent_read(true)
            .send()
            .await?;
        out.item
            .map(|item| serde_dynamo::from_item::<_, OfferRecord>(item)?.into_offer())
            .transpose()
    }

    /// open → accepted: the slot is booked for the wish, the wish fulfilled.
    pub async fn accept_offer(
        &self,
        offer: &Offer,
        wish: &Wish,
        now: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let close = Update::builder()
            .table_name(&self.wishes)
            .set_key(Some(key(offer_pk(&offer.id), "OFFER")))
            .update_expression("SET #status = :to, closed_at = :now REMOVE gsi1pk, gsi1sk")
            .condition_expression("#status = :open AND deadline > :now")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(vals([
                (":to", s("accepted")),
                (":open", s("open")),
                (":now", s(ts(now))),
            ])))
            .build()?;
        let book = Update::builder()
            .table_name(&self.slots)
            .set_key(Some(slot_key(&offer.slot)))
            .update_expression("SET #status = :booked, wish = :wish, updated_at = :now")
            .condition_expression("#status = :offered AND offer = :offer")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(vals([
                (":booked", s("booked")),
                (":offered", s("offered")),
                (":offer", s(offer.id.as_ref())),
                (":wish", s(offer.wish.as_ref())),
                (":now", s(ts(now))),
            ])))
            .build()?;
        let mut items = vec![
            TransactWriteItem::builder().update(close).build(),
            TransactWriteItem::builder().update(book).build(),
            self.end_wish_update(wish, "fulfilled", now)?,
        ];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await?;
        self.bump_offer_counter("accepted").await;
        Ok(())
    }

    /// open → declined or expired: the wish waits again with its place, the slot is free again.
    pub async fn release_offer(
        &self,
        offer: &Offer,
        to: OfferStatus,
        wish_after: (WishStatus, u8),
        now: DateTime<Utc>,
        mail: &OutgoingMail,
    ) -> Result<(), StoreError> {
        let mut items = vec![
            self.close_offer_update(offer, to, now)?,
            self.back_to_waiting_update(offer, wish_after.0, wish_after.1)?,
            self.free_slot_update(offer)?,
        ];
        items.extend(self.outbox_put(mail, now)?);
        self.transact(items, None).await?;
        self.bump_offer_counter(to.as_str()).await;
        Ok(())
    }

    /// Open offers whose deadline has passed, oldest first.
    pub async fn overdue_offers(
        &self,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<Offer>, StoreError> {
        self.gsi_due(OPEN_OFFERS, &ts(now), limit)
            .await?
            .into_iter()
            .map(|item| serde_dynamo::from_item::<_, OfferRecord>(item)?.into_offer())
            .collect()
    }

    // ---- outbox --------------------------------------------------------------------------------

    /// Mails whose sender's lease has run out without a send being recorded.
    pub async fn due_mails(
        &self,
        now: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<DueMail>, StoreError> {
        let mut due = Vec::new();
        for item in self.gsi_due(MAIL_DUE, &ts(now), limit).await? {
            let r: MailRecord = serde_dynamo::from_item(item)?;
            if let (Some(packed), Some(lease)) = (r.packed, r.gsi1sk) {
                due.push(DueMail {
                    key: r.key,
                    to: r.to,
                    raw: unpack_mime(&packed)?,
                    lease,
                });
            }
        }
        Ok(due)
    }

    /// Takes over a due mail for one more attempt; `false` when someone else did first.
    pub async fn claim_mail(&self, mail: &DueMail, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.wishes)
            .set_key(Some(key(mail_pk(&mail.key), "MAIL")))
            .update_expression("SET gsi1sk = :lease ADD attempts :one")
            .condition_expression("gsi1sk = :seen")
            .set_expression_attribute_values(Some(vals([
                (
                    ":lease",
                    s(format!("{}#{}", ts(now + MAIL_LEASE), mail.key)),
                ),
                (":seen", s(mail.lease.clone())),
                (":one", n(1)),
            ])))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Records a send; the message body (personal data) is dropped with it.
    pub async fn mark_mail_sent(
        &self,
        mail_key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.wishes)
            .set_key(Some(key(mail_pk(mail_key), "MAIL")))
            .update_expression("SET #status = :sent, sent_at = :now REMOVE gsi1pk, gsi1sk, mime")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(vals([
                (":sent", s("sent")),
                (":now", s(ts(now))),
            ])))
            .send()
            .await?;
        Ok(())
    }

    // ---- statistics ----------------------------------------------------------------------------

    pub async fn stats(&self) -> Result<Stats, StoreError> {
        // `OFFERS` and `QUEUE#…` sort before `RELEASED#…`: the release counters (one item per
        // line, many) are not read here.
        let out = self
            .client
            .query()
            .table_name(&self.wishes)
            .key_condition_expression("pk = :pk AND sk < :released")
            .set_expression_attribute_values(Some(vals([
                (":pk", s("STATS")),
                (":released", s("RELEASED#")),
            ])))
            .send()
            .await?;
        let mut queues = Vec::new();
        let mut counts: HashMap<String, u64> = HashMap::new();
        for item in out.items.unwrap_or_default() {
            let num = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            let text = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            let sk = text("sk");
            if sk == "OFFERS" {
                for f in ["accepted", "declined", "expired"] {
                    counts.insert(f.into(), u64::try_from(num(f)).unwrap_or(0));
                }
            } else if sk.starts_with("QUEUE#") {
                queues.push(QueueStat {
                    office: text("office"),
                    service: text("service"),
                    waiting: num("waiting").max(0),
                });
            }
        }
        let open = self
            .client
            .query()
            .table_name(&self.wishes)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(OPEN_OFFERS))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await?;
        let get = |k: &str| counts.get(k).copied().unwrap_or(0);
        let answered = get("accepted") + get("declined") + get("expired");
        #[allow(clippy::cast_precision_loss)]
        let rate = (answered > 0).then(|| get("accepted") as f64 / answered as f64);
        Ok(Stats {
            queues,
            offers_open: u64::try_from(open.count).unwrap_or(0),
            offers_accepted: get("accepted"),
            offers_declined: get("declined"),
            offers_expired: get("expired"),
            acceptance_rate: rate,
        })
    }

    /// For tests and the local runner: the line a wish is in, to check queue order.
    pub async fn line_length(
        &self,
        office: &OfficeId,
        service: &ServiceId,
        window: Window,
    ) -> Result<usize, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.wishes)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(line_pk(office, service, window)))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await?;
        Ok(usize::try_from(out.count).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::{pack_mime, unpack_mime};

    #[test]
    fn outbox_mails_are_kept_compressed_and_come_back_byte_for_byte() {
        let raw = "Subject: Terminangebot\r\n\r\n".to_owned()
            + &"<p style=\"color:#003d7a\">Bürgerbüro Bilk, Mi 24.01. 8:30</p>\r\n".repeat(80);
        let packed = pack_mime(&raw).unwrap();
        assert!(
            packed.len() * 5 < raw.len(),
            "{} of {}",
            packed.len(),
            raw.len()
        );
        assert_eq!(unpack_mime(&packed).unwrap(), raw);
        assert!(unpack_mime("not base64!").is_err());
        assert!(unpack_mime("aGVsbG8=").is_err(), "not deflate data");
    }
}
