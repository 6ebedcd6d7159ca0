//! The events feed for booking systems that can only poll (`GET /admin/events`, DESIGN.md).

use super::{AppError, Deps};
use crate::domain::FieldErrors;
use crate::store::FeedEvent;

/// Most events one poll returns.
pub const FEED_LIMIT_MAX: u16 = 500;
/// Events one poll returns when the caller does not say.
pub const FEED_LIMIT_DEFAULT: u16 = 100;

/// One poll's answer: the events after the cursor, and the cursor to poll with next.
#[derive(Debug, Clone)]
pub struct FeedPage {
    pub events: Vec<FeedEvent>,
    /// The last event's cursor, or the `after` given when there was none.
    pub next: Option<String>,
}

/// The events in commit order after `after` (the oldest kept when `None`), at most `limit`.
///
/// An event appears once it is older than the settle time (`Config::feed_settle`): a
/// transaction that was written earlier but committed later than an event already returned
/// would otherwise be passed by the cursor. So a reader that polls with the `next` it was given
/// never misses an event and never gets one twice.
///
/// # Errors
/// `Invalid` for a cursor that is not one of ours or a limit outside 1–500.
pub async fn events_feed(
    deps: &Deps,
    after: Option<&str>,
    limit: Option<u16>,
) -> Result<FeedPage, AppError> {
    let mut errors = FieldErrors::default();
    let limit = limit.unwrap_or(FEED_LIMIT_DEFAULT);
    if !(1..=FEED_LIMIT_MAX).contains(&limit) {
        errors.add(
            "limit",
            "invalid",
            format!("limit must be a whole number from 1 to {FEED_LIMIT_MAX}"),
        );
    }
    if let Some(cursor) = after
        && !is_cursor(cursor)
    {
        errors.add(
            "after",
            "invalid",
            "after must be a cursor this feed gave (an event's cursor or a next)",
        );
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let until = deps.clock.now() - deps.config.feed_settle;
    let events = deps
        .store
        .events_feed(after, until, i32::from(limit))
        .await?;
    let next = events
        .last()
        .map(|e| e.cursor.clone())
        .or_else(|| after.map(str::to_owned));
    Ok(FeedPage { events, next })
}

/// `<RFC 3339 time>#<event key>`, as the feed writes it.
fn is_cursor(cursor: &str) -> bool {
    cursor.len() <= 300
        && cursor.split_once('#').is_some_and(|(time, key)| {
            chrono::DateTime::parse_from_rfc3339(time).is_ok()
                && !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "#-_.:".contains(c))
        })
}

#[cfg(test)]
mod tests {
    use super::is_cursor;

    #[test]
    fn a_cursor_is_a_time_and_an_event_key() {
        assert!(is_cursor(
            "2024-01-24T07:30:00.000Z#offer-0190f5c2-accepted#0-OfferAccepted"
        ));
        assert!(!is_cursor("yesterday#x"));
        assert!(!is_cursor("2024-01-24T07:30:00.000Z#"));
        assert!(!is_cursor("2024-01-24T07:30:00.000Z#a b"));
        assert!(!is_cursor(""));
    }
}
