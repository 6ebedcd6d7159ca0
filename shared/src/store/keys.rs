//! Every key format and attribute name of the two tables, in one place. The records, the update
//! expressions, the benchmark and the tests all build keys with these functions, so a layout
//! change is made here once. The layout itself is described in `docs/data-model.md`.

use crate::domain::{OfferId, OfficeId, ServiceId, Window, WishId};
use chrono::{DateTime, NaiveDate, Utc};

// ---- attribute names ---------------------------------------------------------------------------

/// Partition and sort key of the wishes table.
pub const PK: &str = "pk";
pub const SK: &str = "sk";
/// Partition key of the slots table.
pub const SLOT_ID: &str = "id";
/// The one global secondary index of each table (`gsi1pk`, `gsi1sk`).
pub const GSI: &str = "gsi1";
pub const GSI_PK: &str = "gsi1pk";
pub const GSI_SK: &str = "gsi1sk";
/// The wishes table's second index: the events feed (`gsi2pk` = [`FEED`], `gsi2sk` = the cursor).
pub const FEED_INDEX: &str = "gsi2";
/// The feed's one partition.
pub const FEED: &str = "FEED";
pub const STATUS: &str = "status";
/// The deflated MIME body of an outbox mail; removed once the mail is sent.
pub const MAIL_BODY: &str = "mime_z";

// ---- sort keys of the single-item partitions ---------------------------------------------------

pub const WISH_SK: &str = "WISH";
pub const OFFER_SK: &str = "OFFER";
pub const TOKEN_SK: &str = "TOKEN";
pub const MAIL_SK: &str = "MAIL";
pub const EVENT_SK: &str = "EVENT";
pub const ADDRESS_SK: &str = "ADDRESS";
pub const CHALLENGE_SK: &str = "CHALLENGE";
pub const CATALOG: &str = "CATALOG";
/// The partition of the statistics counters.
pub const STATS: &str = "STATS";
pub const OFFER_COUNTERS_SK: &str = "OFFERS";
/// The queue counters' sort keys begin with this ([`queue_counter_sk`]).
pub const QUEUE_COUNTER_PREFIX: &str = "QUEUE#";
/// Release counters sort after the queue counters (`QUEUE#…` < `RELEASED#…`).
pub const RELEASED_PREFIX: &str = "RELEASED#";
/// The public statistics' day tallies sort after both (`RELEASED#…` < `TALLY#…`), so the clerks'
/// statistics (`sk < RELEASED#`) never read them.
pub const TALLY_PREFIX: &str = "TALLY#";
/// A tally's count of slots that entered the queue.
pub const TALLY_RELEASED: &str = "released";
/// A tally's count of slots booked through an accepted offer.
pub const TALLY_TAKEN: &str = "taken";
/// Set on a wish by its first offer's transaction (`if_not_exists`), never changed after: the id
/// of that offer, so the offer's delivery can tell a first offer from a later one.
pub const FIRST_OFFER: &str = "first_offer";
/// Offer answers per office, service and day (the staff console's last 28 days): after the
/// release counters, so the clerks' statistics (`sk < RELEASED#`) never read them, and after the
/// public statistics' day tallies (`TALLY#<day>…~` < `TALLY_ANSWERS#…`), so their window's range
/// never does either.
pub const ANSWERS_PREFIX: &str = "TALLY_ANSWERS#";

// ---- index partitions (`gsi1pk`) ---------------------------------------------------------------

/// Open offers by deadline.
pub const OPEN_OFFERS: &str = "OPEN_OFFERS";
/// Booked appointments whose reminder is still to go out, by when it is due.
pub const REMIND_DUE: &str = "REMIND_DUE";
/// Outbox mails by the end of their sender's lease, in [`DUE_SHARDS`] partitions ([`due_pk`]).
pub const MAIL_DUE: &str = "MAIL_DUE";
/// Outbox events by the end of their publisher's lease, in [`DUE_SHARDS`] partitions.
pub const EVENT_DUE: &str = "EVENT_DUE";
/// How many index partitions each outbox due list is spread over. Every change's outbox items
/// enter and leave a due list, and its sort key is a time: unspread, all of them would write the
/// end of one partition, which would not keep up with many cities' storms at once
/// (`docs/performance.md`, "Toward a shared deployment"); the rescan reads each of them.
pub const DUE_SHARDS: u32 = 8;
/// Confirmed wishes not yet in their lines.
pub const ENQUEUE_DUE: &str = "ENQUEUE_DUE";
/// Confirmed wishes by the time their age must be looked at (reminder, expiry).
pub const AGE_DUE: &str = "AGE_DUE";

// ---- key formats -------------------------------------------------------------------------------

/// The due list's partition for the outbox item `key`: `<list>#<0..DUE_SHARDS>`, by a stable
/// hash of the key (FNV-1a), so an item's partition never changes while it waits.
#[must_use]
pub fn due_pk(list: &str, key: &str) -> String {
    let hash = key.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{list}#{}", hash % DUE_SHARDS)
}

/// Every partition of a due list: the [`DUE_SHARDS`] spread ones, and the list's bare name,
/// where a release before the spread put its items (still read, so none is forgotten).
#[must_use]
pub fn due_partitions(list: &str) -> Vec<String> {
    (0..DUE_SHARDS)
        .map(|n| format!("{list}#{n}"))
        .chain(std::iter::once(list.to_owned()))
        .collect()
}

/// A time as we store it: UTC, millisecond precision, so that text order is time order.
#[must_use]
pub fn ts(t: DateTime<Utc>) -> String {
    crate::domain::time::rfc3339(t)
}

/// Seconds since the epoch, the form `DynamoDB` TTL reads.
#[must_use]
pub fn epoch(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// The partitions of wishes and offers (the benchmark scans for them).
pub const WISH_PREFIX: &str = "WISH#";
pub const OFFER_PREFIX: &str = "OFFER#";
pub const MAIL_PREFIX: &str = "MAIL#";
pub const EVENT_PREFIX: &str = "EVENT#";

#[must_use]
pub fn wish_pk(id: &WishId) -> String {
    format!("{WISH_PREFIX}{id}")
}
#[must_use]
pub fn offer_pk(id: &OfferId) -> String {
    format!("{OFFER_PREFIX}{id}")
}
#[must_use]
pub fn token_pk(hash: &str) -> String {
    format!("TOKEN#{hash}")
}
#[must_use]
pub fn mail_pk(key: &str) -> String {
    format!("{MAIL_PREFIX}{key}")
}
/// An outbox event: `<change key>#<n>-<event name>`.
#[must_use]
pub fn event_pk(key: &str) -> String {
    format!("{EVENT_PREFIX}{key}")
}
/// One line of the queue: everyone waiting for this service at this office in this hour.
#[must_use]
pub fn line_pk(office: &OfficeId, service: &ServiceId, window: Window) -> String {
    format!("Q#{office}#{service}#{}#{}", window.day(), window.hour())
}
/// The line of wishes for `persons` (a family's line: `<line>#p<persons>`; one person's is the
/// [`line_pk`] itself), so that a slot or run for a party size reads only the head of that
/// size's line.
#[must_use]
pub fn party_line_pk(
    office: &OfficeId,
    service: &ServiceId,
    window: Window,
    persons: u8,
) -> String {
    let line = line_pk(office, service, window);
    if persons <= 1 {
        line
    } else {
        format!("{line}#p{persons}")
    }
}
/// The one-person line of a family's line and the family's size (`None` for a one-person line).
#[must_use]
pub fn family_of_line(pk: &str) -> Option<(&str, u8)> {
    let (line, size) = pk.rsplit_once("#p")?;
    let persons: u8 = size.parse().ok()?;
    (persons > 1).then_some((line, persons))
}
/// In each one-person line, the item that counts the families waiting in the same hour by size
/// (`p2` … `p5`), changed with their entries: it sorts before every entry, so the query of the
/// line's head reads it for free and matching asks a family's line only when one waits.
pub const PARTIES_SK: &str = "#parties";
/// The attribute of [`PARTIES_SK`] that counts the families of `persons`.
#[must_use]
pub fn party_count(persons: u8) -> String {
    format!("p{persons}")
}
/// `<time>#<id>`: sorts by time, the id breaks ties. The shape of every time-ordered sort key.
fn by_time(at: DateTime<Utc>, id: &impl std::fmt::Display) -> String {
    format!("{}#{id}", ts(at))
}
/// A wish's place in every line it stands in: confirmation time, then id to break ties.
#[must_use]
pub fn queue_key(confirmed_at: DateTime<Utc>, id: &WishId) -> String {
    by_time(confirmed_at, id)
}
/// Prefix of the partitions that count a line's entries (see [`line_counts_pk`]).
const LINE_COUNTS_PREFIX: &str = "QN#";
/// The partition that counts the entries of the line `line_pk` (a [`line_pk`]) by confirmation
/// time, for the wish page's place in line: `QN#<office>#<service>#<day>#<hour>`.
#[must_use]
pub fn line_counts_pk(line_pk: &str) -> String {
    format!(
        "{LINE_COUNTS_PREFIX}{}",
        line_pk.strip_prefix("Q#").unwrap_or(line_pk)
    )
}
/// The line's entries per UTC day of confirmation: one number attribute per day ([`day_count`]).
pub const LINE_DAYS_SK: &str = "DAYS";
/// The line's entries confirmed on the UTC day of `confirmed_at`, per hour: one number attribute
/// per hour ([`hour_count`]).
#[must_use]
pub fn line_hours_sk(confirmed_at: DateTime<Utc>) -> String {
    format!("H{}", confirmed_at.format("%Y%m%d"))
}
/// The attribute of [`LINE_DAYS_SK`] that counts the entries confirmed on `confirmed_at`'s UTC
/// day: `d20261205`. Fixed width, so text order is day order.
#[must_use]
pub fn day_count(confirmed_at: DateTime<Utc>) -> String {
    format!("d{}", confirmed_at.format("%Y%m%d"))
}
/// The attribute of a [`line_hours_sk`] item that counts the entries confirmed in
/// `confirmed_at`'s UTC hour: `h07`. Fixed width, so text order is hour order.
#[must_use]
pub fn hour_count(confirmed_at: DateTime<Utc>) -> String {
    format!("h{}", confirmed_at.format("%H"))
}
/// The lowest queue key of the UTC hour of `confirmed_at`: the entries confirmed in that hour
/// sort from here ([`queue_key`]).
#[must_use]
pub fn hour_start_key(confirmed_at: DateTime<Utc>) -> String {
    format!("{}", confirmed_at.format("%Y-%m-%dT%H"))
}
/// The index partition of an office's free slots (sorted by [`free_sk`]).
#[must_use]
pub fn free_pk(office: &OfficeId) -> String {
    format!("FREE#{office}")
}
#[must_use]
pub fn free_sk(start: DateTime<Utc>, slot: &impl std::fmt::Display) -> String {
    by_time(start, slot)
}
/// Index sort key of items due at a time (`<time>#<id>`), for the `*_DUE` and open-offer lists.
#[must_use]
pub fn due_sk(at: DateTime<Utc>, id: &impl std::fmt::Display) -> String {
    by_time(at, id)
}
/// The address item's key: a hash, so the key itself reveals no address.
#[must_use]
pub fn address_pk(email_hash: &str) -> String {
    format!("ADDRESS#{email_hash}")
}
/// A phone number's entries (one per wish taken for it, sort key [`phone_sk`]): a keyed hash,
/// so the key itself reveals no number.
#[must_use]
pub fn phone_pk(number_hash: &str) -> String {
    format!("PHONE#{number_hash}")
}
/// The entry of one wish under a phone number's key.
#[must_use]
pub fn phone_sk(wish: &WishId) -> String {
    format!("WISH#{wish}")
}
/// The calls about an offer that reached nobody (sort key: the call's time).
#[must_use]
pub fn call_pk(offer: &OfferId) -> String {
    format!("CALL#{offer}")
}
/// A spent proof-of-work challenge (kept until it expires, so it cannot be used again).
#[must_use]
pub fn challenge_pk(challenge: &str) -> String {
    format!("CHALLENGE#{challenge}")
}
/// One client's request counter in one hour.
#[must_use]
pub fn rate_pk(client_hash: &str) -> String {
    format!("RATE#{client_hash}")
}
/// The queue counter of one office and service (under [`STATS`]).
#[must_use]
pub fn queue_counter_sk(office: &OfficeId, service: &ServiceId) -> String {
    format!("{QUEUE_COUNTER_PREFIX}{office}#{service}")
}
/// The sort key of the public statistics' tally of one office and service on one UTC day (under
/// [`STATS`]): `TALLY#20240124#bilk#id-card`, day first, so the window is one key range
/// ([`tally_range`]).
#[must_use]
pub fn tally_sk(day: NaiveDate, office: &OfficeId, service: &ServiceId) -> String {
    format!("{TALLY_PREFIX}{}#{office}#{service}", day.format("%Y%m%d"))
}
/// The bounds (both inclusive, for `BETWEEN`) of the tallies of the days `from` to `to`: ids are
/// slugs, so every key of the day `to` sorts before `TALLY#<to>~`.
#[must_use]
pub fn tally_range(from: NaiveDate, to: NaiveDate) -> (String, String) {
    (
        format!("{TALLY_PREFIX}{}", from.format("%Y%m%d")),
        format!("{TALLY_PREFIX}{}~", to.format("%Y%m%d")),
    )
}
/// The day of a tally's sort key; `None` for any other key.
#[must_use]
pub fn tally_day(sk: &str) -> Option<NaiveDate> {
    let digits = sk.strip_prefix(TALLY_PREFIX)?.get(..8)?;
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}
/// The tally attribute counting wishes first offered after `days` whole days of waiting: `w12`.
#[must_use]
pub fn first_offer_field(days: u32) -> String {
    format!("w{days}")
}
/// The days of a [`first_offer_field`] name; `None` for any other attribute.
#[must_use]
pub fn first_offer_days(field: &str) -> Option<u32> {
    let digits = field.strip_prefix('w')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
/// The sort key of a line's release counters (under [`STATS`]).
#[must_use]
pub fn released_sk(office: &OfficeId, service: &ServiceId, window: Window) -> String {
    format!(
        "{RELEASED_PREFIX}{office}#{service}#{}#{}",
        window.day(),
        window.hour()
    )
}

/// The partition of one UTC day's audit log entries.
#[must_use]
pub fn audit_pk(at: DateTime<Utc>) -> String {
    format!("AUDIT#{}", at.format("%Y%m%d"))
}
/// An audit entry's sort key: its time, then a random suffix (two entries in one millisecond).
#[must_use]
pub fn audit_sk(at: DateTime<Utc>) -> String {
    by_time(at, &uuid::Uuid::new_v4())
}
/// The partition of the allocation records made on one UTC day (every line's; the chains run
/// per line through the days): `ALLOC#20261206`.
#[must_use]
pub fn allocation_pk(day: NaiveDate) -> String {
    format!("{ALLOCATION_PREFIX}{}", day.format("%Y%m%d"))
}
/// The day of an [`allocation_pk`]; `None` for any other key.
#[must_use]
pub fn allocation_day(pk: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(pk.strip_prefix(ALLOCATION_PREFIX)?, "%Y%m%d").ok()
}
pub const ALLOCATION_PREFIX: &str = "ALLOC#";
/// An allocation record's sort key: its line (a chain), then its number in the chain, fixed
/// width so that text order is chain order: `bilk#id-card#mon#8#000000000042`.
#[must_use]
pub fn allocation_sk(line: &str, seq: u64) -> String {
    format!("{line}#{seq:012}")
}
/// The line and number of an [`allocation_sk`].
#[must_use]
pub fn allocation_position(sk: &str) -> Option<(&str, u64)> {
    let (line, seq) = sk.rsplit_once('#')?;
    Some((line, seq.parse().ok()?))
}
/// The partition of the head of one line's chain of allocation records (its last number and
/// hash): the line's own partition ([`line_pk`]; `line` as `<office>#<service>#<day>#<hour>`), so
/// the query that reads the head of the line reads the chain's head with it.
#[must_use]
pub fn chain_pk(line: &str) -> String {
    format!("Q#{line}")
}
/// The chain head's sort key: `!` sorts before every queue key (they begin with a year's digits),
/// so the head of a line's query meets it first; counts of entries start at [`ENTRIES_FROM`].
pub const CHAIN_HEAD_SK: &str = "!CHAIN";
/// Every queue key sorts at or after this, every other item of a line's partition before it.
pub const ENTRIES_FROM: &str = "0";
/// The sort key of an office's and service's counters of one offer outcome, a number per day
/// (under [`STATS`]).
#[must_use]
pub fn answers_sk(office: &OfficeId, service: &ServiceId, outcome: &str) -> String {
    format!("{ANSWERS_PREFIX}{office}#{service}#{outcome}")
}
/// The attribute of a queue counter that counts the wishes in one line (`h_mon_8`), from the
/// line's partition key ([`line_pk`]), if the line is `office`'s for `service`.
#[must_use]
pub fn heat_attribute_of_line(pk: &str, office: &OfficeId, service: &ServiceId) -> Option<String> {
    let rest = pk.strip_prefix(&format!("Q#{office}#{service}#"))?;
    let (day, hour) = rest.split_once('#')?;
    let window = Window::new(crate::domain::Weekday::parse(day)?, hour.parse().ok()?).ok()?;
    Some(heat_attribute(window))
}
/// The attribute of a queue counter that counts the wishes of one weekday and hour.
#[must_use]
pub fn heat_attribute(window: Window) -> String {
    format!("{HEAT_PREFIX}{}_{}", window.day().key(), window.hour())
}
/// The prefix of [`heat_attribute`]s.
pub const HEAT_PREFIX: &str = "h_";

// ---- small vocabularies stored as text ----------------------------------------------------------

/// What a link token opens (`kind` of a `TOKEN#` item).
pub const LINK_WISH: &str = "wish";
pub const LINK_OFFER: &str = "offer";
pub const LINK_APPOINTMENT: &str = "appointment";

#[must_use]
pub fn link_kind(kind: crate::domain::outbox::LinkKind) -> &'static str {
    match kind {
        crate::domain::outbox::LinkKind::Wish => LINK_WISH,
        crate::domain::outbox::LinkKind::Offer => LINK_OFFER,
        crate::domain::outbox::LinkKind::Appointment => LINK_APPOINTMENT,
    }
}
/// The states of an outbox mail (`status` of a `MAIL#` item).
pub const MAIL_PENDING: &str = "pending";
pub const MAIL_SENT: &str = "sent";
/// Given up on after its retries' bound: never sent, its body and address dropped.
pub const MAIL_FAILED: &str = "failed";
/// The statistics' count of mails given up on (a field of the offer counters' item).
pub const MAILS_FAILED_COUNTER: &str = "mails_failed";
/// The statistics' count of addresses suppressed after a bounce or complaint.
pub const SUPPRESSED_COUNTER: &str = "addresses_suppressed";
/// An outbox event once it is on the bus.
pub const EVENT_PUBLISHED: &str = "published";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outbox_item_keeps_its_due_partition_and_the_partitions_are_all_used_and_all_read() {
        // The partition is FNV-1a (32 bits) of the key, modulo 8: the published test vectors
        // ("" 0x811c9dc5, "a" 0xe40c292c, "foobar" 0xbf9cf968) and keys as the outbox writes
        // them, worked out apart from this code. Items already waiting keep these partitions,
        // so the hash must never change.
        assert_eq!(due_pk("L", ""), "L#5");
        assert_eq!(due_pk("L", "a"), "L#4");
        assert_eq!(due_pk("L", "foobar"), "L#0");
        assert_eq!(due_pk(MAIL_DUE, "offer-0192-sent"), "MAIL_DUE#5");
        assert_eq!(due_pk(MAIL_DUE, "wish-0190f5b1-confirmed"), "MAIL_DUE#3");
        assert_eq!(
            due_pk(EVENT_DUE, "offer-0190f5c2-accepted#0-OfferAccepted"),
            "EVENT_DUE#1"
        );
        let read = due_partitions(MAIL_DUE);
        assert_eq!(
            read,
            [
                "MAIL_DUE#0",
                "MAIL_DUE#1",
                "MAIL_DUE#2",
                "MAIL_DUE#3",
                "MAIL_DUE#4",
                "MAIL_DUE#5",
                "MAIL_DUE#6",
                "MAIL_DUE#7",
                "MAIL_DUE"
            ]
        );
        let mut used = std::collections::BTreeSet::new();
        for n in 0..200 {
            let pk = due_pk(MAIL_DUE, &format!("offer-{n:04}-sent"));
            assert!(read.contains(&pk), "{pk} is never read");
            used.insert(pk);
        }
        assert_eq!(used.len(), DUE_SHARDS as usize);
        assert!(
            read.contains(&MAIL_DUE.to_owned()),
            "the unspread list is still read"
        );
    }

    /// Every key format written out, as `docs/data-model.md` lays the tables out: a change here
    /// is a change of the stored layout (items already written keep the old keys).
    #[test]
    fn every_key_is_laid_out_as_the_data_model_says() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let at = t("2026-12-05T07:30:12.345Z");
        let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let (bilk, card) = (
            OfficeId::parse("bilk").unwrap(),
            ServiceId::parse("id-card").unwrap(),
        );
        let mon8 = Window::new(crate::domain::Weekday::Mon, 8).unwrap();
        let wish = WishId::parse("0190f5b1").unwrap();
        let offer = OfferId::parse("0190f5c2").unwrap();
        let slot = crate::domain::SlotId::parse("bilk-42").unwrap();

        assert_eq!(wish_pk(&wish), "WISH#0190f5b1");
        assert_eq!(offer_pk(&offer), "OFFER#0190f5c2");
        assert_eq!(token_pk("9f86d0"), "TOKEN#9f86d0");
        assert_eq!(mail_pk("offer-0190f5c2-sent"), "MAIL#offer-0190f5c2-sent");
        assert_eq!(
            event_pk("offer-0190f5c2-accepted#0-OfferAccepted"),
            "EVENT#offer-0190f5c2-accepted#0-OfferAccepted"
        );
        assert_eq!(ts(at), "2026-12-05T07:30:12.345Z");
        assert_eq!(epoch(at), 1_796_455_812);

        // The lines, their counts and their families.
        assert_eq!(line_pk(&bilk, &card, mon8), "Q#bilk#id-card#mon#8");
        assert_eq!(party_line_pk(&bilk, &card, mon8, 1), "Q#bilk#id-card#mon#8");
        assert_eq!(
            party_line_pk(&bilk, &card, mon8, 3),
            "Q#bilk#id-card#mon#8#p3"
        );
        assert_eq!(
            family_of_line("Q#bilk#id-card#mon#8#p3"),
            Some(("Q#bilk#id-card#mon#8", 3))
        );
        assert_eq!(family_of_line("Q#bilk#id-card#mon#8"), None);
        assert_eq!(party_count(3), "p3");
        assert_eq!(queue_key(at, &wish), "2026-12-05T07:30:12.345Z#0190f5b1");
        assert_eq!(
            line_counts_pk("Q#bilk#id-card#mon#8"),
            "QN#bilk#id-card#mon#8"
        );
        assert_eq!(line_hours_sk(at), "H20261205");
        assert_eq!(day_count(at), "d20261205");
        assert_eq!(hour_count(at), "h07");
        assert_eq!(hour_start_key(at), "2026-12-05T07");
        assert_eq!(chain_pk("bilk#id-card#mon#8"), "Q#bilk#id-card#mon#8");

        // Slots, due lists, and the items keyed by a hash.
        assert_eq!(free_pk(&bilk), "FREE#bilk");
        assert_eq!(free_sk(at, &slot), "2026-12-05T07:30:12.345Z#bilk-42");
        assert_eq!(due_sk(at, &offer), "2026-12-05T07:30:12.345Z#0190f5c2");
        assert_eq!(address_pk("ab12"), "ADDRESS#ab12");
        assert_eq!(phone_pk("cd34"), "PHONE#cd34");
        assert_eq!(phone_sk(&wish), "WISH#0190f5b1");
        assert_eq!(call_pk(&offer), "CALL#0190f5c2");
        assert_eq!(challenge_pk("ef56"), "CHALLENGE#ef56");
        assert_eq!(rate_pk("0a1b"), "RATE#0a1b");

        // Counters, tallies, the audit log and the allocation record.
        assert_eq!(queue_counter_sk(&bilk, &card), "QUEUE#bilk#id-card");
        assert_eq!(
            released_sk(&bilk, &card, mon8),
            "RELEASED#bilk#id-card#mon#8"
        );
        assert_eq!(
            answers_sk(&bilk, &card, "accepted"),
            "TALLY_ANSWERS#bilk#id-card#accepted"
        );
        assert_eq!(heat_attribute(mon8), "h_mon_8");
        assert_eq!(
            heat_attribute_of_line("Q#bilk#id-card#mon#8", &bilk, &card).as_deref(),
            Some("h_mon_8")
        );
        assert_eq!(
            heat_attribute_of_line("Q#bilk#passport#mon#8", &bilk, &card),
            None
        );
        assert_eq!(
            tally_range(NaiveDate::from_ymd_opt(2026, 11, 8).unwrap(), day),
            ("TALLY#20261108".to_owned(), "TALLY#20261206~".to_owned())
        );
        assert_eq!(audit_pk(at), "AUDIT#20261205");
        assert!(audit_sk(at).starts_with("2026-12-05T07:30:12.345Z#"));
        assert_eq!(allocation_pk(day), "ALLOC#20261206");
        assert_eq!(allocation_day("ALLOC#20261206"), Some(day));
        assert_eq!(
            allocation_sk("bilk#id-card#mon#8", 42),
            "bilk#id-card#mon#8#000000000042"
        );
        assert_eq!(
            allocation_position("bilk#id-card#mon#8#000000000042"),
            Some(("bilk#id-card#mon#8", 42))
        );
    }

    #[test]
    fn a_chain_head_sorts_before_every_entry_of_its_line() {
        let (bilk, card) = (
            OfficeId::parse("bilk").unwrap(),
            ServiceId::parse("id-card").unwrap(),
        );
        let window = Window::new(crate::domain::Weekday::Mon, 8).unwrap();
        assert_eq!(
            chain_pk("bilk#id-card#mon#8"),
            line_pk(&bilk, &card, window)
        );
        let entry = queue_key(
            DateTime::parse_from_rfc3339("1970-01-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            &WishId::parse("a").unwrap(),
        );
        assert!(CHAIN_HEAD_SK < ENTRIES_FROM && ENTRIES_FROM <= entry.as_str());
    }

    #[test]
    fn tallies_sort_by_day_after_the_other_counters_and_read_back() {
        let day = NaiveDate::from_ymd_opt(2024, 1, 24).unwrap();
        let (bilk, card) = (
            OfficeId::parse("bilk").unwrap(),
            ServiceId::parse("id-card").unwrap(),
        );
        let sk = tally_sk(day, &bilk, &card);
        assert_eq!(sk, "TALLY#20240124#bilk#id-card");
        assert_eq!(tally_day(&sk), Some(day));
        assert_eq!(tally_day("RELEASED#bilk#id-card#mon#8"), None);
        assert!(
            released_sk(
                &bilk,
                &card,
                Window::new(crate::domain::Weekday::Mon, 8).unwrap()
            ) < sk
        );
        assert!(queue_counter_sk(&bilk, &card).as_str() < RELEASED_PREFIX);
        let next = NaiveDate::from_ymd_opt(2024, 1, 25).unwrap();
        let (from, to) = tally_range(day, day);
        assert!(from <= sk && sk <= to);
        assert!(to < tally_sk(next, &OfficeId::parse("a").unwrap(), &card));
        assert_eq!(first_offer_field(12), "w12");
        assert_eq!(first_offer_days("w12"), Some(12));
        assert_eq!(first_offer_days("w"), None);
        assert_eq!(first_offer_days("waiting"), None);
        assert_eq!(first_offer_days("released"), None);
    }
}
