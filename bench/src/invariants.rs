//! The release storm's invariants, checked from the tables afterwards: no slot and no wish
//! with two open offers, every offered slot and wish pointing at its open offer and back, and
//! every open offer's mail sent.

use crate::system::Phase;
use anyhow::Result;
use aws_sdk_dynamodb::types::AttributeValue;
use shared::store::keys;
use std::collections::{HashMap, HashSet};

/// What the tables say after the storm.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Invariants {
    pub open_offers: usize,
    /// Slots with more than one open offer (must be 0).
    pub slots_with_two_open_offers: usize,
    /// Wishes with more than one open offer (must be 0).
    pub wishes_with_two_open_offers: usize,
    /// Offered slots whose offer is not an open offer for that slot, or open offers whose slot
    /// does not point back (must be 0).
    pub slot_offer_mismatches: usize,
    /// Open offers whose wish is not `offered` with that offer (must be 0).
    pub wish_offer_mismatches: usize,
    /// Offer mails recorded as sent (must equal the open offers).
    pub offer_mails_sent: usize,
    /// Commit → sent of the offer mails (the outbox item's `created_at` to its `sent_at`):
    /// what deliver-outbox adds to the citizen's wait, in seconds (p50, p99, max).
    pub mail_latency_secs: [f64; 3],
    /// Released slots still free (nobody eligible was left in their lines).
    pub slots_left_free: usize,
    pub ok: bool,
}

/// Every item of `table` whose `pk` (or `id`) starts with `prefix`.
async fn scan(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &str,
    prefix: &str,
) -> Result<Vec<HashMap<String, AttributeValue>>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .filter_expression("begins_with(#k, :p)")
            .expression_attribute_names("#k", key)
            .expression_attribute_values(":p", AttributeValue::S(prefix.to_owned()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, k: &str) -> &'a str {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

/// Checks invariants 1 and 2 (and that every open offer's mail went out) from the tables.
///
/// # Errors
/// When a scan fails.
pub async fn check_invariants(phase: &Phase, released: usize) -> Result<Invariants> {
    let client = &phase.raw;
    let offers = scan(client, phase.wishes_table(), keys::PK, keys::OFFER_PREFIX).await?;
    let open: Vec<_> = offers
        .iter()
        .filter(|o| text(o, "status") == "open")
        .collect();
    let mut by_slot: HashMap<&str, usize> = HashMap::new();
    let mut by_wish: HashMap<&str, usize> = HashMap::new();
    let mut open_ids: HashMap<&str, (&str, &str)> = HashMap::new();
    for o in &open {
        *by_slot.entry(text(o, "slot")).or_default() += 1;
        *by_wish.entry(text(o, "wish")).or_default() += 1;
        open_ids.insert(text(o, "id"), (text(o, "slot"), text(o, "wish")));
    }
    let slots = scan(client, phase.slots_table(), "id", "storm-").await?;
    let mut slot_offer_mismatches = 0;
    let mut slots_left_free = 0;
    let mut offered_slots = HashSet::new();
    for s in &slots {
        match text(s, "status") {
            "offered" => {
                offered_slots.insert(text(s, "id"));
                if open_ids.get(text(s, "offer")).map(|(slot, _)| *slot) != Some(text(s, "id")) {
                    slot_offer_mismatches += 1;
                }
            }
            "free" => slots_left_free += 1,
            _ => {}
        }
    }
    slot_offer_mismatches += open
        .iter()
        .filter(|o| !offered_slots.contains(text(o, "slot")))
        .count();
    let wishes = scan(client, phase.wishes_table(), keys::PK, keys::WISH_PREFIX).await?;
    let mut wish_offer = HashMap::new();
    for w in &wishes {
        if text(w, "status") == "offered" {
            wish_offer.insert(text(w, "id"), text(w, "open_offer"));
        }
    }
    let wish_offer_mismatches = open
        .iter()
        .filter(|o| wish_offer.get(text(o, "wish")) != Some(&text(o, "id")))
        .count()
        + wish_offer.len().saturating_sub(open.len());
    let mails = scan(
        client,
        phase.wishes_table(),
        keys::PK,
        &format!("{}offer-", keys::MAIL_PREFIX),
    )
    .await?;
    let sent: Vec<_> = mails
        .iter()
        .filter(|m| text(m, "key").ends_with("-sent") && text(m, "status") == "sent")
        .collect();
    let offer_mails_sent = sent.len();
    let time = |m: &HashMap<String, AttributeValue>, k: &str| {
        chrono::DateTime::parse_from_rfc3339(text(m, k)).ok()
    };
    let latencies: Vec<f64> = sent
        .iter()
        .filter_map(|m| Some((time(m, "sent_at")? - time(m, "created_at")?).as_seconds_f64()))
        .collect();
    let mail_latency_secs = [
        crate::util::percentile(&latencies, 50.0),
        crate::util::percentile(&latencies, 99.0),
        latencies.iter().copied().fold(0.0, f64::max),
    ];
    let slots_with_two_open_offers = by_slot.values().filter(|n| **n > 1).count();
    let wishes_with_two_open_offers = by_wish.values().filter(|n| **n > 1).count();
    let ok = slots_with_two_open_offers == 0
        && wishes_with_two_open_offers == 0
        && slot_offer_mismatches == 0
        && wish_offer_mismatches == 0
        && offer_mails_sent == open.len()
        && open.len() + slots_left_free <= released;
    Ok(Invariants {
        open_offers: open.len(),
        slots_with_two_open_offers,
        wishes_with_two_open_offers,
        slot_offer_mismatches,
        wish_offer_mismatches,
        offer_mails_sent,
        mail_latency_secs,
        slots_left_free,
        ok,
    })
}
