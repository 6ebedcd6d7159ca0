//! What the abuse limits need: an address's recent wishes and submissions, a client's request count.

use super::prelude::*;

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
        let key = key(address_pk(email), ADDRESS_SK);
        let Some(record) = self
            .read::<AddressRecord>(Table::Wishes, key, "address_book")
            .await?
        else {
            return Ok(AddressBook::default());
        };

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
        let key = key(keys::rate_pk(&hashed), &now.format("%Y%m%d%H").to_string());
        let v = Values::new()
            .with(":limit", n(i64::from(limit)))
            .with(":expires", n(epoch(now + Duration::hours(2))));
        // A failed condition: the client is over the limit this hour.
        let counted = self
            .apply(Write::ClientCounted, key, &v, "count_client_request")
            .await?;
        Ok(counted.is_some())
    }
}
