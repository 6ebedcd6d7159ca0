//! Small helpers: percentiles, slots in the table, progress bars.

use anyhow::Result;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Datelike as _, Duration, TimeZone as _, Utc};
use shared::domain::{OfficeId, ServiceId, Weekday};
use shared::store::keys;
use std::collections::HashMap;

/// The `p`-th percentile (0–100) of `values` by nearest rank; 0 when empty.
#[must_use]
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

#[must_use]
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let n = values.len() as f64;
    values.iter().sum::<f64>() / n
}

/// The start of the first slot on `day` at `hour:minute` Berlin time at least `min_days` after
/// `now`.
#[must_use]
pub fn next_local(
    now: DateTime<Utc>,
    day: Weekday,
    hour: u8,
    minute: u32,
    min_days: i64,
) -> DateTime<Utc> {
    let tz = chrono_tz::Europe::Berlin;
    let mut date = (now + Duration::days(min_days))
        .with_timezone(&tz)
        .date_naive();
    for _ in 0..7 {
        if Weekday::from_chrono(date.weekday()) == day {
            break;
        }
        date = date.succ_opt().unwrap_or(date);
    }
    date.and_hms_opt(u32::from(hour), minute, 0)
        .and_then(|t| tz.from_local_datetime(&t).earliest())
        .map_or(now + Duration::days(min_days), |t| t.with_timezone(&Utc))
}

/// A slot item as the store writes it (`SlotRecord`): free ones are on the `FREE#<office>` index.
#[must_use]
pub fn slot_item(
    id: &str,
    office: &OfficeId,
    service: &ServiceId,
    start: DateTime<Utc>,
    free: bool,
    now: DateTime<Utc>,
) -> HashMap<String, AttributeValue> {
    let s = |v: String| AttributeValue::S(v);
    let mut item = HashMap::from([
        ("id".to_owned(), s(id.to_owned())),
        ("office".to_owned(), s(office.to_string())),
        ("service".to_owned(), s(service.to_string())),
        ("start".to_owned(), s(keys::ts(start))),
        ("minutes".to_owned(), AttributeValue::N("15".into())),
        (
            "status".to_owned(),
            s(if free { "free" } else { "booked" }.to_owned()),
        ),
        ("updated_at".to_owned(), s(keys::ts(now))),
        (
            "expires_at".to_owned(),
            AttributeValue::N((start + Duration::days(30)).timestamp().to_string()),
        ),
    ]);
    if free {
        item.insert(keys::GSI_PK.into(), s(keys::free_pk(office)));
        item.insert(keys::GSI_SK.into(), s(keys::free_sk(start, &id)));
    }
    item
}

/// A progress bar on stderr (hidden when stderr is not a terminal, as in tests).
#[must_use]
pub fn bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg:>22} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}

/// Puts a wish back to `waiting` without its offer (the benchmark's undo between samples).
///
/// # Errors
/// When the update fails.
pub async fn reset_wish(client: &aws_sdk_dynamodb::Client, table: &str, wish: &str) -> Result<()> {
    client
        .update_item()
        .table_name(table)
        .key(
            keys::PK,
            AttributeValue::S(format!("{}{wish}", keys::WISH_PREFIX)),
        )
        .key(keys::SK, AttributeValue::S(keys::WISH_SK.into()))
        .update_expression("SET #status = :waiting REMOVE open_offer")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":waiting", AttributeValue::S("waiting".into()))
        .send()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((percentile(&v, 50.0) - 50.0).abs() < 1e-9);
        assert!((percentile(&v, 99.0) - 99.0).abs() < 1e-9);
        assert!((percentile(&[3.0], 99.0) - 3.0).abs() < 1e-9);
        assert!(percentile(&[], 50.0).abs() < 1e-9);
    }

    #[test]
    fn next_local_lands_on_the_weekday_and_hour_in_berlin() {
        let now = DateTime::parse_from_rfc3339("2026-03-27T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        // Across the switch to summer time (29 March 2026).
        let t = next_local(now, Weekday::Mon, 8, 30, 2);
        assert_eq!(keys::ts(t), "2026-03-30T06:30:00.000Z");
        assert_eq!(
            shared::domain::local_window(t),
            shared::domain::Window::new(Weekday::Mon, 8).unwrap()
        );
    }
}

/// When a poller of the storm may stop: once its source is done (`source_done`), after three
/// empty rounds in a row — the emulators hand the last records over a little later. Any work,
/// or a round before the source is done, starts the count again.
#[derive(Debug, Default)]
pub struct Quiet(u32);

impl Quiet {
    /// After an empty round: whether the poller may stop.
    pub fn empty_round(&mut self, source_done: bool) -> bool {
        self.0 = if source_done { self.0 + 1 } else { 0 };
        self.0 >= 3
    }

    /// After a round with work.
    pub fn busy(&mut self) {
        self.0 = 0;
    }
}
