//! The console's audit log: every look at or change of personal data, one item per entry under
//! `AUDIT#<day>`, with the time to live of the wish it is about.

use super::prelude::*;
use crate::domain::staff::{AuditAction, AuditEntry};

/// The stored form of an [`AuditEntry`].
#[derive(serde::Serialize, serde::Deserialize)]
struct AuditRecord {
    pk: String,
    sk: String,
    actor: String,
    action: String,
    #[serde(default)]
    wish: Option<String>,
    at: String,
    expires_at: i64,
}

impl AuditRecord {
    fn of(entry: &AuditEntry, expires_at: DateTime<Utc>) -> Self {
        Self {
            pk: keys::audit_pk(entry.at),
            sk: keys::audit_sk(entry.at),
            actor: entry.actor.clone(),
            action: entry.action.as_str().to_owned(),
            wish: entry.wish.as_ref().map(ToString::to_string),
            at: ts(entry.at),
            expires_at: epoch(expires_at),
        }
    }

    fn entry(self, now: DateTime<Utc>) -> Option<AuditEntry> {
        if self.expires_at <= epoch(now) {
            return None;
        }
        Some(AuditEntry {
            at: DateTime::parse_from_rfc3339(&self.at)
                .ok()?
                .with_timezone(&Utc),
            actor: self.actor,
            action: AuditAction::parse(&self.action)?,
            wish: self.wish.and_then(|w| WishId::parse(&w).ok()),
        })
    }
}

impl Store {
    /// The transaction part that writes `entry`, kept until `expires_at` (the data's own end),
    /// for the transaction of the change it records.
    pub(super) fn audit_put(
        &self,
        entry: &AuditEntry,
        expires_at: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        self.put(
            &self.wishes,
            item(&AuditRecord::of(entry, expires_at))?,
            true,
        )
    }

    /// Records looks at wishes: each entry with the time to live its wish has now (`None`: an
    /// entry about no wish, kept as long as an ended wish is). One conditional put each.
    pub async fn record_looks(
        &self,
        entries: &[AuditEntry],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for entry in entries {
            let expires_at = match &entry.wish {
                Some(id) => self
                    .read::<WishRecord>(Table::Wishes, wish_key(id), "audit")
                    .await?
                    .and_then(|r| r.expires_at)
                    .and_then(|e| DateTime::from_timestamp(e, 0)),
                None => None,
            }
            .unwrap_or(now + self.retention.ended);
            let put = self.audit_put(entry, expires_at)?;
            self.transact(vec![put], None).await?;
        }
        Ok(())
    }

    /// The audit log of the last `days` days (UTC), newest first, at most `limit` entries.
    pub async fn audit_log(
        &self,
        now: DateTime<Utc>,
        days: i64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries = Vec::new();
        for back in 0..days {
            let day = now - Duration::days(back);
            let lookup = Lookup {
                scan_backward: true,
                ..Lookup::new(
                    "pk = :pk",
                    Values::default().with(":pk", s(keys::audit_pk(day))),
                )
            };
            let out = self.query(Table::Wishes, lookup, "audit_log").await?;
            for item in out.items.unwrap_or_default() {
                let record: AuditRecord = serde_dynamo::from_item(item)?;
                entries.extend(record.entry(now));
                if entries.len() >= limit {
                    return Ok(entries);
                }
            }
        }
        Ok(entries)
    }
}
