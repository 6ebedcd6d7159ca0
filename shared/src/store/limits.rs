//! What the abuse limits need: an address's recent wishes and submissions, a client's request count.

use super::prelude::*;
use std::collections::BTreeMap;

/// An address's wishes and confirmation mails, as the abuse limits need them.
#[derive(Debug, Clone, Default)]
pub struct AddressBook {
    /// Wishes of this address that may still be active (pending ones included).
    pub wishes: Vec<WishId>,
    /// The pending wish per service (a repeated submission replaces it).
    pub pending: BTreeMap<String, WishId>,
    /// Confirmation mails per service within the last 24 hours.
    pub opt_ins: BTreeMap<String, Vec<DateTime<Utc>>>,
    /// The addresses SES reported (a permanent bounce, a complaint), each by its own keyed hash
    /// ([`Store::suppressed_until`]), with the time before which it takes no new wish. Only the
    /// very address SES named: a `+tag` variant shares this book's limits, not its suppressions.
    pub suppressed: BTreeMap<String, DateTime<Utc>>,
    /// `None` when the address is new.
    pub version: Option<i64>,
}

/// The key of the hashes the limits keep for addresses and clients (HMAC-SHA-256): without it,
/// a guessed address cannot be checked against the table.
#[derive(Clone)]
pub struct LimitKey(Option<std::sync::Arc<Vec<u8>>>);

impl LimitKey {
    /// The configured key (`LIMITS_KEY`); without one, every limit check fails as unavailable.
    #[must_use]
    pub fn new(secret: Option<&crate::config::Secret>) -> Self {
        Self(secret.map(|s| std::sync::Arc::new(s.expose().to_vec())))
    }

    /// The key the submissions' proof-of-work challenges are signed with: derived from this one
    /// (for its own purpose), so it needs no secret of its own.
    ///
    /// # Errors
    /// Unavailable without `LIMITS_KEY`.
    pub fn challenge_key(&self) -> Result<String, StoreError> {
        self.digest("challenge", "")
    }

    /// The keyed hash of `value` for one `purpose` (`address`, `client`), hex-encoded.
    pub(super) fn digest(&self, purpose: &str, value: &str) -> Result<String, StoreError> {
        use hmac::{KeyInit as _, Mac as _};
        let unavailable = || StoreError::Unavailable {
            op: "limits",
            code: "LIMITS_KEY is not set".into(),
        };
        let key = self.0.as_ref().ok_or_else(unavailable)?;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).map_err(|_| unavailable())?;
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for LimitKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LimitKey(<redacted>)")
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct AddressRecord {
    pub(super) pk: String,
    pub(super) sk: String,
    #[serde(default)]
    pub(super) wishes: Vec<String>,
    #[serde(default)]
    pub(super) pending: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) opt_ins: BTreeMap<String, Vec<String>>,
    /// Address hash → until (see [`AddressBook::suppressed`]). Items of earlier releases may
    /// still hold `suppressed_until`, set for every variant at once: it is no longer read.
    /// Left out while empty: an empty map attribute would be news to every book (and the
    /// streams of `DynamoDB` Local answer it in a shape the SDK cannot read).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) suppressed: BTreeMap<String, String>,
    pub(super) version: i64,
    pub(super) expires_at: i64,
}

impl AddressRecord {
    /// The item of `book` at `pk`, one version on.
    pub(super) fn of_book(pk: String, book: &AddressBook, expires_at: i64) -> Self {
        Self {
            pk,
            sk: ADDRESS_SK.into(),
            wishes: book.wishes.iter().map(ToString::to_string).collect(),
            pending: book
                .pending
                .iter()
                .map(|(service, w)| (service.clone(), w.to_string()))
                .collect(),
            opt_ins: book
                .opt_ins
                .iter()
                .map(|(service, times)| (service.clone(), times.iter().map(|t| ts(*t)).collect()))
                .collect(),
            suppressed: book
                .suppressed
                .iter()
                .map(|(address, until)| (address.clone(), ts(*until)))
                .collect(),
            version: book.version.map_or(1, |v| v + 1),
            expires_at,
        }
    }

    /// The book this item holds (entries that do not parse are left out).
    fn into_book(self) -> AddressBook {
        let times = |times: &[String]| -> Vec<DateTime<Utc>> {
            times
                .iter()
                .filter_map(|t| records::parse_ts(t).ok())
                .collect()
        };
        AddressBook {
            wishes: self
                .wishes
                .iter()
                .filter_map(|w| WishId::parse(w).ok())
                .collect(),
            pending: self
                .pending
                .iter()
                .filter_map(|(service, w)| Some((service.clone(), WishId::parse(w).ok()?)))
                .collect(),
            opt_ins: self
                .opt_ins
                .iter()
                .map(|(service, t)| (service.clone(), times(t)))
                .collect(),
            suppressed: self
                .suppressed
                .iter()
                .filter_map(|(address, t)| Some((address.clone(), records::parse_ts(t).ok()?)))
                .collect(),
            version: Some(self.version),
        }
    }
}

impl Store {
    /// The address item's key: a keyed hash of the address as the limits count it
    /// ([`crate::domain::Email::limit_key`]), so the key itself reveals no address.
    pub(super) fn address_pk(&self, email: &crate::domain::Email) -> Result<String, StoreError> {
        Ok(keys::address_pk(
            &self.limit_key.digest("address", &email.limit_key())?,
        ))
    }

    /// What we keep per email address (keyed by its hash) to enforce the abuse limits.
    pub async fn address_book(
        &self,
        email: &crate::domain::Email,
    ) -> Result<AddressBook, StoreError> {
        let key = key(self.address_pk(email)?, ADDRESS_SK);
        Ok(self
            .read::<AddressRecord>(Table::Wishes, key, "address_book")
            .await?
            .map(AddressRecord::into_book)
            .unwrap_or_default())
    }

    /// The key of one exact address among a book's suppressions: its keyed hash as SES named it
    /// (`+tag` and all), for a purpose of its own.
    fn suppression_key(&self, email: &crate::domain::Email) -> Result<String, StoreError> {
        self.limit_key.digest("suppressed", email.as_ref())
    }

    /// Until when SES's report keeps this very address (not its `+tag` variants) from new
    /// wishes: `None` if it was never reported, or its time is over at `now`.
    ///
    /// # Errors
    /// Unavailable without `LIMITS_KEY`.
    pub fn suppressed_until(
        &self,
        book: &AddressBook,
        email: &crate::domain::Email,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let address = self.suppression_key(email)?;
        Ok(book.suppressed.get(&address).copied().filter(|u| *u > now))
    }

    /// Suppresses this very address until `until` (SES reported it) and answers its book (the
    /// book of all its variants, which the limits count together): the caller pauses the
    /// wishes of this address only. Bumps the book's version, so a submission racing it counts
    /// again.
    pub async fn suppress_address(
        &self,
        email: &crate::domain::Email,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<AddressBook, StoreError> {
        let key = key(self.address_pk(email)?, ADDRESS_SK);
        let address = self.suppression_key(email)?;
        let keep = until.max(now + self.retention.token);
        let v = Values::new()
            .with(":until", s(ts(until)))
            .with(
                ":suppressed",
                AttributeValue::M(HashMap::from([(address.clone(), s(ts(until)))])),
            )
            .with(":expires", n(epoch(keep)))
            .name("#address", &address);
        // The map of suppressions exists once one address was reported; until then it is made
        // with this one. Each write's condition says which case it is, so two reports at once
        // cannot lose one.
        for _ in 0..3 {
            for write in [Write::AddressSuppressed, Write::AddressFirstSuppressed] {
                if let Some(after) = self
                    .apply(write, key.clone(), &v, "suppress_address")
                    .await?
                {
                    return Ok(serde_dynamo::from_item::<_, AddressRecord>(after)?.into_book());
                }
            }
        }
        Err(StoreError::Conflict)
    }

    /// Counts one request of a client in the current hour; `false` once it is over `limit`.
    pub async fn count_client_request(
        &self,
        client: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let hashed = self.limit_key.digest("client", client)?;
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

    /// The hour's counters of failed console sign-ins, each with its limit: one of the account,
    /// one of the client (if known). Both keyed by a hash of their own purpose, so neither item
    /// names an address or a user name; the account's is lower-cased, as the pool does not tell
    /// `Anna` from `anna`.
    fn sign_in_counters(
        &self,
        client: Option<&str>,
        account: &str,
        limits: &crate::config::Limits,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Item, u32)>, StoreError> {
        let hour = now.format("%Y%m%d%H").to_string();
        let account = self
            .limit_key
            .digest("sign-in account", &account.trim().to_lowercase())?;
        let mut counters = vec![(
            key(keys::rate_pk(&account), &hour),
            limits.failed_sign_ins_per_account_hour,
        )];
        if let Some(client) = client {
            let hashed = self.limit_key.digest("sign-in client", client)?;
            counters.push((
                key(keys::rate_pk(&hashed), &hour),
                limits.failed_sign_ins_per_client_hour,
            ));
        }
        Ok(counters)
    }

    /// Whether this hour's failed sign-ins of the client or of the account reached their limit.
    ///
    /// # Errors
    /// Unavailable without `LIMITS_KEY` or when the table cannot be read.
    pub async fn sign_in_blocked(
        &self,
        client: Option<&str>,
        account: &str,
        limits: &crate::config::Limits,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        #[derive(serde::Deserialize)]
        struct Counter {
            #[serde(default)]
            requests: i64,
        }
        for (key, limit) in self.sign_in_counters(client, account, limits, now)? {
            let counted = self
                .read::<Counter>(Table::Wishes, key, "sign_in_blocked")
                .await?
                .map_or(0, |c| c.requests);
            if counted >= i64::from(limit) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Counts a failed sign-in for the client and the account this hour (each up to its limit:
    /// past it there is nothing more to count). The items expire after 2 hours.
    ///
    /// # Errors
    /// Unavailable without `LIMITS_KEY` or when the table cannot be written.
    pub async fn count_failed_sign_in(
        &self,
        client: Option<&str>,
        account: &str,
        limits: &crate::config::Limits,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for (key, limit) in self.sign_in_counters(client, account, limits, now)? {
            let v = Values::new()
                .with(":limit", n(i64::from(limit)))
                .with(":expires", n(epoch(now + Duration::hours(2))));
            // A failed condition: already at the limit, which is all the check needs.
            self.apply(Write::ClientCounted, key, &v, "count_failed_sign_in")
                .await?;
        }
        Ok(())
    }

    /// The key challenges are signed with (see [`LimitKey::challenge_key`]).
    ///
    /// # Errors
    /// Unavailable without `LIMITS_KEY`.
    pub fn challenge_key(&self) -> Result<String, StoreError> {
        self.limit_key.challenge_key()
    }

    /// Records `proof`'s challenge as used, until it expires; `false` when it was used before.
    pub async fn spend_challenge(&self, proof: &Proof) -> Result<bool, StoreError> {
        let key = key(keys::challenge_pk(&proof.challenge), keys::CHALLENGE_SK);
        let v = Values::new().with(":expires", n(epoch(proof.expires)));
        let spent = self
            .apply(Write::ChallengeSpent, key, &v, "spend_challenge")
            .await?;
        Ok(spent.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::LimitKey;
    use crate::config::Secret;

    /// The hashes are HMAC-SHA-256 under the key of `<purpose> NUL <value>`, hex: the values
    /// below were worked out apart from this code (Python's `hmac`). The stored address and
    /// rate items are keyed by them, so they must never change for the same key.
    #[test]
    fn hashes_are_keyed_and_kept_apart_by_purpose() {
        let a = LimitKey::new(Some(&Secret::new("a".repeat(32))));
        let b = LimitKey::new(Some(&Secret::new("b".repeat(32))));
        let h = |k: &LimitKey, p: &str| k.digest(p, "anna@example.de").unwrap();
        assert_eq!(
            h(&a, "address"),
            "5f8915a2e4478a6ebe5ab58bd15bef48dfa2c7c81723fc4008afb38498345c78"
        );
        assert_eq!(
            h(&b, "address"),
            "09e4f59b432b7ef5430eec2031b75481cb12751b0e4a2542fcdb71be93d9f601",
            "another key, another hash"
        );
        assert_eq!(
            h(&a, "client"),
            "e17f10e6eadb94fe633eb8807922b1d4856b041077393dfec97772d4ca49b16b",
            "another purpose, another hash"
        );
        assert_eq!(
            a.challenge_key().unwrap(),
            "a0aee5852e669ab7a215bfd7c4b897e653dcf639b84534f967e8a33c612f4704"
        );
        // Not the plain SHA-256 of the address, which anyone could compute from a guess.
        assert_ne!(
            h(&a, "address"),
            "25ffd4ca1b96b0784bb963640c3921f87adfce565e9fe65646f867a84fa50dfd"
        );
        assert!(LimitKey::new(None).digest("address", "x").is_err());
    }
}
