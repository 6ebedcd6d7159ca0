//! What the abuse limits need: an address's recent wishes and submissions, a client's request count.

use super::{
    ADDRESS_SK, DateTime, Duration, Op, Store, StoreError, Utc, WishId, epoch, key, keys, n,
    records, vals,
};

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
/// The address item's key: a hash, so the key itself reveals no address.
pub(super) fn address_pk(email: &crate::domain::Email) -> String {
    use sha2::Digest;
    keys::address_pk(&hex::encode(sha2::Sha256::digest(
        email.as_ref().as_bytes(),
    )))
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct AddressRecord {
    pub(super) pk: String,
    pub(super) sk: String,
    #[serde(default)]
    pub(super) wishes: Vec<String>,
    #[serde(default)]
    pub(super) submissions: Vec<String>,
    pub(super) version: i64,
    pub(super) expires_at: i64,
}

impl Store {
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
            .set_key(Some(key(address_pk(email), ADDRESS_SK)))
            .consistent_read(true)
            .send()
            .await
            .op("address_book")?;
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
                keys::rate_pk(&hashed),
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
        // A failed condition: the client is over the limit this hour.
        Ok(result
            .unless_condition_failed("count_client_request")?
            .is_some())
    }
}
