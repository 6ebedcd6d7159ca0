//! Every conditional write of one item, by name: what it changes and what must still hold.
//!
//! [`crate::domain::lifecycle`] decides a transition; the write here makes it stick only if the
//! item is still in the state the use case read. Read together, the table below is the lifecycle
//! as the tables see it. Values for the placeholders come from [`Values`]: a write binds only the
//! placeholders its expressions name (`DynamoDB` refuses unused ones), so one set of values serves
//! every write of a use case.

use super::prelude::*;

/// The values and names an expression binds.
type Bound = (HashMap<String, AttributeValue>, HashMap<String, String>);

/// Which table a write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Table {
    Wishes,
    Slots,
}

/// The named conditional writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Write {
    /// free → offered, if it is still the slot the matching saw.
    SlotOffered,
    /// offered → booked by the offer's wish.
    SlotBooked,
    /// offered → free: back to the queue (declined, expired, withdrawn with the wish).
    SlotFreed,
    /// booked → free: the appointment was cancelled at the office.
    SlotReleased,
    /// A free slot found no taker: said once, until the slot changes.
    SlotUnclaimed,
    /// waiting → offered, unless it holds an offer or declined this slot before.
    WishOffered,
    /// `:from` → `:to` (an end state): retention starts, off every index.
    WishEnded,
    /// offered → `:to` (waiting or paused) with its place; this slot is never offered again.
    WishBackInLine,
    /// offered → waiting after the office withdrew the slot (it may come back to this wish).
    WishOfferWithdrawn,
    /// pending → waiting: the place in line is the confirmation time.
    WishConfirmed,
    /// paused → waiting.
    WishResumed,
    /// waiting or offered → paused: its mails cannot be delivered (an open offer is closed
    /// with it); the place stays.
    WishPaused,
    /// Entered in its lines: off the enqueue list, onto the age list.
    WishEnqueued,
    /// When the rescan looks at the wish's age next.
    WishAgeScheduled,
    /// The lines a waiting wish stands in changed with the catalogue.
    WishRelined,
    /// The "still interested?" reminder was sent.
    WishReminded,
    /// "Keep my wish" after a reminder.
    WishKept,
    /// open → accepted, before the deadline.
    OfferAccepted,
    /// open → accepted, with its reminder due at `:rsk`.
    OfferAcceptedToRemind,
    /// The appointment's reminder went out: off the list.
    AppointmentReminded,
    /// accepted → returned: the citizen gave the appointment back.
    OfferReturned,
    /// accepted → replaced: an earlier appointment was booked for the same wish.
    OfferReplaced,
    /// fulfilled → waiting, holding its appointment: back onto the enqueue list.
    WishLooksEarlier,
    /// A wish looking for an earlier appointment stops: fulfilled again, off every index.
    WishStopsLooking,
    /// booked → free, for the offer that booked it (an appointment given back).
    SlotReturned,
    /// A slot the booking system booked directly now belongs to an appointment of ours (its
    /// citizen looks for an earlier one).
    SlotBookedDirectly,
    /// open → `:to`.
    OfferClosed,
    /// A due mail or event taken over for one more attempt, if nobody took it first.
    OutboxClaimed,
    /// A mail was sent: body and address are dropped.
    MailSent,
    /// An event is on the bus: off the due list.
    EventPublished,
    /// A mail that could not be delivered within its bound: off the due list, and its body and
    /// address are dropped as if sent.
    MailFailed,
    /// One more request of a client this hour, up to the limit.
    ClientCounted,
    /// A proof-of-work challenge used, once.
    ChallengeSpent,
    /// SES reported the address `#address` (a permanent bounce, a complaint): no new wish for
    /// that very address until `:until`, in the book's map of suppressions.
    AddressSuppressed,
    /// As [`Write::AddressSuppressed`], for a book without that map yet (or no book at all):
    /// the map is made with this one address.
    AddressFirstSuppressed,
    /// One more in today's counter of a day-bucketed item: a slot released into a line, an
    /// offer's outcome.
    ReleaseCounted,
    /// One more event (`#field`) in the public statistics' tally of an office, service and day.
    Tallied,
    /// One more offer answered (`#field` is the outcome).
    OfferCounted,
}

impl Write {
    pub(super) fn table(self) -> Table {
        match self {
            Write::SlotOffered
            | Write::SlotBooked
            | Write::SlotFreed
            | Write::SlotReleased
            | Write::SlotReturned
            | Write::SlotBookedDirectly
            | Write::SlotUnclaimed => Table::Slots,
            _ => Table::Wishes,
        }
    }

    /// The update and the condition (none for the counters): one arm per write, the whole table
    /// in one place.
    #[allow(clippy::too_many_lines)]
    pub(super) fn spec(self) -> (&'static str, Option<&'static str>) {
        match self {
            Write::SlotOffered => (
                "SET #status = :offered, offer = :offer, updated_at = :now REMOVE gsi1pk, gsi1sk, unclaimed_at",
                Some(
                    "#status = :free AND office = :office AND service = :service AND #start = :start",
                ),
            ),
            Write::SlotBooked => (
                "SET #status = :booked, wish = :wish, updated_at = :now",
                Some("#status = :offered AND offer = :offer"),
            ),
            Write::SlotFreed => (
                "SET #status = :free, gsi1pk = :fpk, gsi1sk = :fsk, updated_at = :now REMOVE offer, wish, unclaimed_at",
                Some("#status = :offered AND offer = :offer"),
            ),
            Write::SlotReleased => (
                "SET #status = :free, gsi1pk = :fpk, gsi1sk = :fsk, updated_at = :now REMOVE wish, offer, unclaimed_at",
                Some("#status = :booked"),
            ),
            Write::SlotUnclaimed => (
                "SET unclaimed_at = :now",
                Some("#status = :free AND #start = :start AND attribute_not_exists(unclaimed_at)"),
            ),
            Write::WishOffered => (
                "SET #status = :offered, open_offer = :offer, first_offer = if_not_exists(first_offer, :offer)",
                Some(
                    "#status = :waiting AND attribute_not_exists(open_offer) AND NOT contains(declined, :slot) AND (attribute_not_exists(earlier) OR earlier.#before > :start)",
                ),
            ),
            Write::WishEnded => (
                "SET #status = :to, ended_at = :now, expires_at = :ended REMOVE open_offer, earlier, gsi1pk, gsi1sk",
                Some("#status = :from"),
            ),
            Write::WishBackInLine => (
                "SET #status = :to, unanswered = :unanswered, declined = list_append(if_not_exists(declined, :nothing), :declined) REMOVE open_offer",
                Some("#status = :offered AND open_offer = :offer"),
            ),
            Write::WishOfferWithdrawn => (
                "SET #status = :waiting REMOVE open_offer",
                Some("#status = :offered AND open_offer = :offer"),
            ),
            Write::WishConfirmed => (
                "SET #status = :waiting, confirmed_at = :now, queue_key = :place, gsi1pk = :enqueue, gsi1sk = :now, expires_at = :until",
                Some(
                    "#status = :pending AND (attribute_not_exists(expires_at) OR expires_at > :epoch)",
                ),
            ),
            Write::WishResumed => (
                "SET #status = :waiting, unanswered = :zero",
                Some("#status = :paused"),
            ),
            Write::WishPaused => (
                "SET #status = :paused REMOVE open_offer",
                Some("#status = :from"),
            ),
            Write::WishEnqueued => (
                "SET gsi1pk = :age, gsi1sk = :at, queued = :queued",
                Some("gsi1pk = :enqueue"),
            ),
            Write::WishAgeScheduled => ("SET gsi1sk = :at", Some("gsi1pk = :age")),
            Write::WishRelined => ("SET queued = :queued", Some("gsi1pk = :age")),
            Write::WishReminded => (
                "SET reminded_at = :now, gsi1sk = :at",
                Some("#status = :from AND gsi1pk = :age AND attribute_not_exists(reminded_at)"),
            ),
            Write::WishKept => (
                "SET kept_at = :now, gsi1pk = :age, gsi1sk = :at, expires_at = :until REMOVE reminded_at",
                Some("#status = :from AND attribute_exists(reminded_at)"),
            ),
            Write::OfferAccepted => (
                "SET #status = :accepted, closed_at = :now, expires_at = :kept REMOVE gsi1pk, gsi1sk",
                Some("#status = :open AND deadline > :now"),
            ),
            Write::OfferAcceptedToRemind => (
                "SET #status = :accepted, closed_at = :now, expires_at = :kept, gsi1pk = :rpk, gsi1sk = :rsk",
                Some("#status = :open AND deadline > :now"),
            ),
            Write::AppointmentReminded => (
                "SET reminded_at = :now REMOVE gsi1pk, gsi1sk",
                Some("#status = :accepted AND attribute_not_exists(reminded_at)"),
            ),
            Write::OfferReturned => (
                "SET #status = :returned, returned_at = :now REMOVE gsi1pk, gsi1sk",
                Some("#status = :accepted"),
            ),
            Write::OfferReplaced => (
                "SET #status = :replaced, returned_at = :now REMOVE gsi1pk, gsi1sk",
                Some("#status = :accepted AND wish = :wish"),
            ),
            Write::WishLooksEarlier => (
                "SET #status = :waiting, earlier = :earlier, kept_at = :now, unanswered = :zero, gsi1pk = :enqueue, gsi1sk = :now REMOVE reminded_at, ended_at, open_offer",
                Some("#status = :fulfilled AND attribute_not_exists(earlier)"),
            ),
            Write::WishStopsLooking => (
                "SET #status = :fulfilled REMOVE earlier, open_offer, gsi1pk, gsi1sk",
                Some("#status = :from AND attribute_exists(earlier)"),
            ),
            Write::SlotBookedDirectly => (
                "SET offer = :offer, wish = :wish, updated_at = :now",
                Some(
                    "#status = :booked AND attribute_not_exists(offer) AND attribute_not_exists(wish) AND #start = :start",
                ),
            ),
            Write::SlotReturned => (
                "SET #status = :free, gsi1pk = :fpk, gsi1sk = :fsk, updated_at = :now REMOVE wish, offer, unclaimed_at",
                Some("#status = :booked AND offer = :offer"),
            ),
            Write::OfferClosed => (
                "SET #status = :to, closed_at = :now REMOVE gsi1pk, gsi1sk",
                Some("#status = :open"),
            ),
            Write::OutboxClaimed => (
                "SET gsi1sk = :lease ADD attempts :one",
                Some("gsi1sk = :seen"),
            ),
            Write::MailSent => (
                "SET #status = :sent, sent_at = :now REMOVE gsi1pk, gsi1sk, #body, #to",
                Some("attribute_exists(pk)"),
            ),
            Write::EventPublished => (
                "SET #status = :published, published_at = :now REMOVE gsi1pk, gsi1sk",
                Some("attribute_exists(pk)"),
            ),
            Write::MailFailed => (
                "SET #status = :failed, failed_at = :now REMOVE gsi1pk, gsi1sk, #body, #to",
                Some("#status = :pending"),
            ),
            Write::AddressSuppressed => (
                "SET suppressed.#address = :until, expires_at = :expires ADD version :one",
                Some("attribute_exists(suppressed)"),
            ),
            Write::AddressFirstSuppressed => (
                "SET suppressed = :suppressed, expires_at = :expires ADD version :one",
                Some("attribute_not_exists(suppressed)"),
            ),
            Write::ClientCounted => (
                "ADD requests :one SET expires_at = :expires",
                Some("attribute_not_exists(requests) OR requests < :limit"),
            ),
            Write::ChallengeSpent => (
                "SET expires_at = :expires",
                Some("attribute_not_exists(pk)"),
            ),
            Write::ReleaseCounted => ("ADD #day :one SET expires_at = :expires", None),
            Write::Tallied => (
                "ADD #field :one SET expires_at = :expires, office = :office, service = :service",
                None,
            ),
            Write::OfferCounted => ("ADD #field :one", None),
        }
    }
}

/// Values and attribute names for the placeholders of a use case's writes. A `#name` stands for
/// the attribute `name` unless given otherwise; a `:word` that is a status (`:free`, `:waiting`,
/// `:open`, `:sent`, …) stands for that status.
#[derive(Debug, Clone, Default)]
pub(super) struct Values {
    values: HashMap<String, AttributeValue>,
    names: HashMap<String, String>,
}

impl Values {
    /// The values every write may use at `now`.
    pub(super) fn at(now: DateTime<Utc>) -> Self {
        Self::new()
            .with(":now", s(ts(now)))
            .with(":epoch", n(epoch(now)))
    }

    /// The constants: numbers, the empty list, the index partitions.
    pub(super) fn new() -> Self {
        Self::default()
            .with(":one", n(1))
            .with(":zero", n(0))
            .with(":nothing", AttributeValue::L(vec![]))
            .with(":enqueue", s(ENQUEUE_DUE))
            .with(":age", s(AGE_DUE))
    }

    pub(super) fn with(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.to_owned(), value);
        self
    }

    /// `#placeholder` stands for the attribute `name` (a name only known at run time).
    pub(super) fn name(mut self, placeholder: &str, name: &str) -> Self {
        self.names.insert(placeholder.to_owned(), name.to_owned());
        self
    }

    /// What the writes about one offer refer to: the offer, its slot and wish, the slot's place
    /// in the free index should it go back.
    pub(super) fn offer(self, offer: &Offer) -> Self {
        self.with(":offer", s(offer.id.as_ref()))
            .with(":slot", s(offer.slot.as_ref()))
            .with(
                ":declined",
                AttributeValue::L(offer.slot_ids().map(|id| s(id.as_ref())).collect()),
            )
            .with(":wish", s(offer.wish.as_ref()))
            .with(":office", s(offer.office.as_ref()))
            .with(":service", s(offer.service.as_ref()))
            .with(":start", s(ts(offer.start)))
            .with(":fpk", s(free_pk(&offer.office)))
            .with(":fsk", s(free_sk(offer.start, &offer.slot)))
    }

    /// The state the use case read a wish in, for writes that require it unchanged.
    pub(super) fn wish(self, wish: &Wish) -> Self {
        self.with(":from", s(wish.status.as_str()))
    }

    /// The values a key condition uses.
    pub(super) fn bind_condition(&self, condition: &str) -> Result<Bound, StoreError> {
        self.bind(condition, None)
    }

    /// The attribute values and names `update` and `condition` use, each exactly once.
    fn bind(&self, update: &str, condition: Option<&str>) -> Result<Bound, StoreError> {
        let expressions = [Some(update), condition];
        let mut values = HashMap::new();
        let mut names = HashMap::new();
        for word in expressions.iter().flatten().flat_map(|e| placeholders(e)) {
            if let Some(name) = word.strip_prefix('#') {
                let bound = match (self.names.get(word), name) {
                    (Some(given), _) => given.clone(),
                    (None, "body") => keys::MAIL_BODY.to_owned(),
                    (None, plain) => plain.to_owned(),
                };
                names.insert(word.to_owned(), bound);
            } else if let Some(status) = word.strip_prefix(':') {
                let value = match self.values.get(word) {
                    Some(v) => v.clone(),
                    None if is_status(status) => s(status),
                    None => {
                        return Err(StoreError::Corrupt(format!(
                            "no value for {word} in {update:?}"
                        )));
                    }
                };
                values.insert(word.to_owned(), value);
            }
        }
        Ok((values, names))
    }
}

/// The `#name` and `:value` placeholders of an expression, in order (repeats included).
fn placeholders(expression: &str) -> impl Iterator<Item = &str> {
    expression
        .match_indices(['#', ':'])
        .map(move |(at, _)| {
            let rest = &expression[at + 1..];
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &expression[at..=at + len]
        })
        .filter(|word| word.len() > 1)
}

fn is_status(word: &str) -> bool {
    SlotStatus::ALL.iter().any(|st| st.as_str() == word)
        || WishStatus::ALL.iter().any(|st| st.as_str() == word)
        || OfferStatus::ALL.iter().any(|st| st.as_str() == word)
        || [
            keys::MAIL_PENDING,
            keys::MAIL_SENT,
            keys::MAIL_FAILED,
            keys::EVENT_PUBLISHED,
        ]
        .contains(&word)
}

/// The request of `write` on the item at `key` of `table`.
pub(super) fn update(
    table: &str,
    key: HashMap<String, AttributeValue>,
    write: Write,
    values: &Values,
) -> Result<Update, StoreError> {
    let (update, condition) = write.spec();
    expression_update(table, key, update, condition, values)
}

/// As [`update`], for an expression computed at run time.
pub(super) fn expression_update(
    table: &str,
    key: HashMap<String, AttributeValue>,
    update: &str,
    condition: Option<&str>,
    values: &Values,
) -> Result<Update, StoreError> {
    let (bound, names) = values.bind(update, condition)?;
    Ok(Update::builder()
        .table_name(table)
        .set_key(Some(key))
        .update_expression(update)
        .set_condition_expression(condition.map(str::to_owned))
        .set_expression_attribute_names((!names.is_empty()).then_some(names))
        .set_expression_attribute_values((!bound.is_empty()).then_some(bound))
        .build()?)
}

/// Deletes the item at `key` of `table` if `condition` holds.
pub(super) fn delete(
    table: &str,
    key: HashMap<String, AttributeValue>,
    condition: &str,
    values: &Values,
) -> Result<Delete, StoreError> {
    let (bound, names) = values.bind_condition(condition)?;
    Ok(Delete::builder()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression(condition)
        .set_expression_attribute_names((!names.is_empty()).then_some(names))
        .set_expression_attribute_values((!bound.is_empty()).then_some(bound))
        .build()?)
}

/// Each use case, up to the wire: every write it sends binds exactly its placeholders.
#[cfg(test)]
mod use_cases;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_read_whole() {
        let found: Vec<&str> =
            placeholders("SET #status = :to, a = :b_1 REMOVE x WHERE c > :now").collect();
        assert_eq!(found, ["#status", ":to", ":b_1", ":now"]);
    }

    #[test]
    fn status_placeholders_bind_themselves_and_others_must_be_given() {
        let (values, names) = Values::default()
            .bind("SET #status = :offered", Some("#status = :free"))
            .unwrap();
        assert_eq!(values[":offered"], s("offered"));
        assert_eq!(values[":free"], s("free"));
        assert_eq!(names["#status"], "status");
        let missing = Values::default().bind("SET a = :offer", None);
        assert!(matches!(missing, Err(StoreError::Corrupt(m)) if m.contains(":offer")));
    }

    #[test]
    fn only_the_placeholders_a_write_uses_are_bound() {
        let (values, names) = Values::at(Utc::now())
            .with(":unused", s("x"))
            .bind(Write::MailSent.spec().0, None)
            .unwrap();
        let mut bound: Vec<&String> = values.keys().collect();
        bound.sort();
        assert_eq!(bound, [":now", ":sent"]);
        assert_eq!(names["#body"], keys::MAIL_BODY);
        assert_eq!(names["#to"], "to");
    }
}
