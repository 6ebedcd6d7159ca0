//! The lines: one partition per office × service × weekday × hour, entries sorted by confirmation time.

use super::{
    AGE_DUE, DateTime, DeleteRequest, ENQUEUE_DUE, OfficeId, Op, PutRequest, QueueEntryRecord,
    ServiceId, Store, StoreError, Utc, Window, Wish, WishId, WishRecord, WriteRequest, due_sk,
    epoch, item, key, line_pk, queue_key, s, ts, vals, wish_key,
};

/// One place in a line.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    pub wish: WishId,
    /// `None` for entries written before addresses were kept in them.
    pub email: Option<crate::domain::Email>,
    pub language: crate::domain::Language,
}

/// The keys (line, place) of a wish's entries in `lines`; `None` before it is confirmed (it has
/// no place yet).
fn entry_keys<'a>(
    wish: &'a Wish,
    lines: &'a [(OfficeId, Window)],
) -> Option<impl Iterator<Item = (String, String)> + 'a> {
    let place = queue_key(wish.confirmed_at?, &wish.id);
    Some(
        lines
            .iter()
            .map(move |(office, window)| (line_pk(office, &wish.service, *window), place.clone())),
    )
}

impl Store {
    /// Puts the wish into each line it stands in. Idempotent.
    pub async fn enqueue(
        &self,
        wish: &Wish,
        lines: &[(OfficeId, Window)],
        next_age_check: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(entries) = entry_keys(wish, lines) else {
            return Ok(());
        };
        let requests = entries
            .map(|(pk, sk)| {
                let record = QueueEntryRecord {
                    pk,
                    sk,
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
            .set_key(Some(wish_key(&wish.id)))
            .update_expression("SET gsi1pk = :age, gsi1sk = :at")
            .condition_expression("gsi1pk = :due")
            .set_expression_attribute_values(Some(vals([
                (":due", s(ENQUEUE_DUE)),
                (":age", s(AGE_DUE)),
                (":at", s(due_sk(next_age_check, &wish.id))),
            ])))
            .send()
            .await;
        // Counted once: only the call that moved the marker counts the wish.
        if result.unless_condition_failed("enqueue")?.is_some() {
            self.bump_waiting(wish, 1).await;
        }
        Ok(())
    }

    /// Takes the wish out of its lines (after it ended). Entries left behind by a crash are harmless:
    /// matching reads the wish and skips it.
    pub async fn dequeue(
        &self,
        wish: &Wish,
        lines: &[(OfficeId, Window)],
    ) -> Result<(), StoreError> {
        let Some(entries) = entry_keys(wish, lines) else {
            return Ok(());
        };
        let requests = entries
            .map(|(pk, sk)| {
                Ok(WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .set_key(Some(key(pk, &sk)))
                            .build()?,
                    )
                    .build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(requests).await?;
        self.bump_waiting(wish, -1).await;
        Ok(())
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
        let out = query.send().await.op("head_of_line")?;
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
                .await
                .op("ahead_in_line")?;
            count += usize::try_from(out.count).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(count);
            }
        }
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
            .await
            .op("line_length")?;
        Ok(usize::try_from(out.count).unwrap_or(0))
    }
}
