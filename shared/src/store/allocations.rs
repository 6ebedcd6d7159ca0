//! The allocation records (`domain::allocation`): each line's chain head, the two parts an offer's
//! transaction appends to the chain, and the records of a day for verification.

use super::prelude::*;
use crate::domain::allocation::{AllocationRecord, ChainHash, ChainLink, Pseudonym, StoredRecord};
use chrono::NaiveDate;

/// The head of a line's chain, in the line's partition: no personal data (numbers, a hash,
/// times), so no TTL — a chain whose records all expired goes on from its last number and hash.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ChainHeadRecord {
    pk: String,
    sk: String,
    last_seq: u64,
    last_hash: ChainHash,
    #[serde(with = "crate::domain::time::stored")]
    last_at: DateTime<Utc>,
    last_expires_at: i64,
}

impl ChainHeadRecord {
    fn into_link(self) -> ChainLink {
        ChainLink {
            seq: self.last_seq,
            hash: self.last_hash,
            at: self.last_at,
            expires_at: self.last_expires_at,
        }
    }
}

/// The chain's head, read from an item of a line's partition (the head of the line's query).
pub(super) fn chain_link(item: Item) -> Result<ChainLink, StoreError> {
    Ok(serde_dynamo::from_item::<_, ChainHeadRecord>(item)?.into_link())
}

/// A record as stored: its keys, its hash, and the record's own fields beside them (its
/// `expires_at` is the item's TTL).
#[derive(Debug, serde::Serialize)]
struct AllocationItem<'a> {
    pk: String,
    sk: String,
    hash: ChainHash,
    #[serde(flatten)]
    record: &'a AllocationRecord,
}

impl Store {
    /// The pseudonym allocation records give a wish: HMAC-SHA-256 of its id under a key derived
    /// from `LIMITS_KEY` for this purpose, its first 128 bits. Without the key a table reader
    /// cannot tell which wish a record names; with it (in the functions) the same wish has the
    /// same pseudonym in every record.
    ///
    /// # Errors
    /// Unavailable without `LIMITS_KEY`.
    pub fn pseudonym(&self, wish: &WishId) -> Result<Pseudonym, StoreError> {
        let digest = self.limit_key.digest("allocation", wish.as_ref())?;
        Pseudonym::parse(digest.get(..32).unwrap_or_default())
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// The last record of `line`'s chain, as its head says (`None`: no record yet).
    ///
    /// # Errors
    /// When the database fails or the head is not of our shape.
    pub async fn chain_head(&self, line: &str) -> Result<Option<ChainLink>, StoreError> {
        let key = key(keys::chain_pk(line), keys::CHAIN_HEAD_SK);
        let head = self
            .read::<ChainHeadRecord>(Table::Wishes, key, "chain_head")
            .await?;
        Ok(head.map(ChainHeadRecord::into_link))
    }

    /// The two parts of an offer's transaction that append `record` to its line's chain: the
    /// head moves from `record.seq - 1` to `record.seq` (so two offers cannot both append after
    /// the same record: one transaction fails on this condition and matching reads the head
    /// again), and the record is put new.
    pub(super) fn allocation_parts(
        &self,
        record: &AllocationRecord,
    ) -> Result<[TransactWriteItem; 2], StoreError> {
        let line = record.line.to_string();
        let hash = record.hash();
        let head = ChainHeadRecord {
            pk: keys::chain_pk(&line),
            sk: keys::CHAIN_HEAD_SK.into(),
            last_seq: record.seq,
            last_hash: hash.clone(),
            last_at: record.at,
            last_expires_at: record.expires_at,
        };
        let prev = i64::try_from(record.seq.saturating_sub(1))
            .map_err(|_| StoreError::Corrupt("chain number".into()))?;
        let condition = if record.seq <= 1 {
            "attribute_not_exists(pk)"
        } else {
            "last_seq = :prev"
        };
        let head = self.put_when(
            Table::Wishes,
            &head,
            condition,
            &Values::default().with(":prev", n(prev)),
        )?;
        let stored = AllocationItem {
            pk: keys::allocation_pk(record.day()),
            sk: keys::allocation_sk(&line, record.seq),
            hash,
            record,
        };
        let put = self.put(&self.wishes, item(&stored)?, true)?;
        Ok([head, put])
    }

    /// Every record kept from the UTC day `day`, in key order (by line, then number); expired
    /// ones are left out as if TTL had deleted them.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn allocations_on(
        &self,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let pk = keys::allocation_pk(day);
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let lookup = Lookup {
                consistent: true,
                start,
                ..Lookup::new("pk = :pk", Values::default().with(":pk", s(pk.clone())))
            };
            let page = self.query(Table::Wishes, lookup, "allocations_on").await?;
            out.extend(
                page.items
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|item| stored_record(item, now)),
            );
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// The record `seq` of `line`'s chain made on `day`, if it is kept.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn allocation(
        &self,
        line: &str,
        seq: u64,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredRecord>, StoreError> {
        let key = key(keys::allocation_pk(day), &keys::allocation_sk(line, seq));
        let out = self
            .client
            .get_item()
            .table_name(&self.wishes)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .op("allocation")?;
        Ok(out.item.and_then(|item| stored_record(item, now)))
    }
}

/// A record item as verification sees it: where it is, its stored hash, and its content or why
/// that does not read. `None` when it has expired (or is not a record at all).
fn stored_record(item: Item, now: DateTime<Utc>) -> Option<StoredRecord> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let day = keys::allocation_day(&text(keys::PK)?)?;
    let sk = text(keys::SK)?;
    let (line, seq) = keys::allocation_position(&sk)?;
    let expired = item
        .get("expires_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .is_some_and(|at| at <= now.timestamp());
    if expired {
        return None;
    }
    let hash = text("hash").and_then(|h| ChainHash::parse(&h).ok());
    let (line, record) = (line.to_owned(), item.clone());
    Some(StoredRecord {
        line,
        seq,
        day,
        hash,
        record: serde_dynamo::from_item::<_, AllocationRecord>(record).map_err(|e| e.to_string()),
    })
}
