//! Wishes for people without email, taken by a clerk on the phone or at the counter: what the
//! clerk enters and how it is checked, the wish it becomes (confirmed at once: the clerk is the
//! opt-in), and the answers a clerk records from the call list.

use super::catalog::Catalog;
use super::contact::{Contact, ContactError, PhoneContact, PhoneNumber, Reference};
use super::ids::WishId;
use super::lifecycle::{Change, DomainEvent, new_wish};
use super::request::{Asked, FieldErrors, Given, WishDraft};
use super::wish::{Wish, WishStatus};
use chrono::{DateTime, Utc};

/// The console's form as given: what is asked for (the citizen's shape, without an address),
/// the name or reference, the number, and the persons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneWishDraft {
    pub wish: WishDraft,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// `None`: one person.
    pub persons: Option<String>,
}

/// A checked phone wish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneWish {
    pub contact: PhoneContact,
    /// What is asked for, the persons (1 to 5) with it.
    pub asked: Asked,
}

impl PhoneWishDraft {
    /// Checks every field: what is asked for as a citizen's wish is checked, and the name, the
    /// number and the persons.
    ///
    /// # Errors
    /// [`FieldErrors`] with one entry per bad field (`name`, `phone`, `persons`, and those of a
    /// citizen's wish but `email`).
    pub fn validate(&self, catalog: &Catalog) -> Result<PhoneWish, FieldErrors> {
        let mut errors = FieldErrors::default();
        // The persons as the citizen's form gives them (the select's text).
        let mut wish = self.wish.clone();
        wish.persons = match self.persons.as_deref().map(str::trim) {
            None | Some("") => Given::Absent,
            Some(p) => p.parse::<u64>().map_or(Given::NotWhole, Given::Whole),
        };
        let asked = wish.checked_wish(catalog, &mut errors);
        let mut refuse = |field: &str, e: ContactError| errors.add(field, e.code(), e.to_string());
        let name = Reference::parse(self.name.as_deref().unwrap_or_default())
            .map_err(|e| refuse("name", e))
            .ok();
        let number = PhoneNumber::parse(self.phone.as_deref().unwrap_or_default())
            .map_err(|e| refuse("phone", e))
            .ok();
        match (asked, name, number) {
            (Some(asked), Some(name), Some(number)) if errors.is_empty() => Ok(PhoneWish {
                contact: PhoneContact { name, number },
                asked,
            }),
            _ => Err(errors),
        }
    }
}

/// The wish a clerk took: waiting at once, its place in every line the time it was entered —
/// the clerk's entry is the person's opt-in — and `WishConfirmed` as for a citizen's wish.
#[must_use]
pub fn taken_by_phone(id: WishId, new: PhoneWish, now: DateTime<Utc>) -> Change<Wish> {
    let mut wish = new_wish(id, Contact::Phone { phone: new.contact }, new.asked, now);
    wish.status = WishStatus::Waiting;
    wish.confirmed_at = Some(now);
    let event = DomainEvent::WishConfirmed {
        wish: wish.id.clone(),
        service: wish.service.clone(),
        offices: wish.offices.clone(),
    };
    Change {
        state: wish,
        events: vec![event],
    }
}

/// What the clerk heard when calling about an offer.
///
/// `NotReached` changes nothing about the offer: the person has the same time to answer as a
/// citizen with an email (the offer's deadline), so the clerk calls again later; the attempt is
/// recorded (who, when) and shown on the call list. If nobody is reached by the deadline, the
/// offer expires as any offer does (`OfferExpired`, the slot goes on, the wish keeps its place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallAnswer {
    Accepted,
    Declined,
    NotReached,
}

impl CallAnswer {
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "accepted" => Some(Self::Accepted),
            "declined" => Some(Self::Declined),
            "not_reached" => Some(Self::NotReached),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::tests::sample;

    fn draft() -> PhoneWishDraft {
        let catalog = sample();
        let office = &catalog.offices[0];
        let service = office.services[0].to_string();
        let (day, hour) = crate::Weekday::ALL
            .iter()
            .find_map(|d| (0..24).find(|h| office.is_open(*d, *h)).map(|h| (*d, h)))
            .unwrap();
        PhoneWishDraft {
            wish: WishDraft {
                email: None,
                service: Some(service),
                offices: Some(vec![office.id.to_string()]),
                windows: Some(vec![crate::DayHours {
                    day: day.to_string(),
                    hours: Some(vec![Some(u64::from(hour))]),
                }]),
                language: None,
                persons: Given::Absent,
            },
            name: Some("Frau M.".into()),
            phone: Some("0211 123456".into()),
            persons: Some("2".into()),
        }
    }

    #[test]
    fn a_phone_wish_needs_no_address_and_waits_at_once_with_its_place() {
        let now = DateTime::parse_from_rfc3339("2026-12-04T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let checked = draft().validate(&sample()).unwrap();
        assert_eq!(checked.asked.persons, 2);
        let change = taken_by_phone(WishId::parse("w").unwrap(), checked, now);
        let wish = change.state;
        assert_eq!(wish.persons, 2, "the family's size on the wish");
        assert_eq!(
            (wish.status, wish.confirmed_at, wish.contact.email()),
            (WishStatus::Waiting, Some(now), None)
        );
        assert_eq!(wish.contact.phone().unwrap().number.as_ref(), "0211123456");
        assert!(matches!(
            change.events.as_slice(),
            [DomainEvent::WishConfirmed { .. }]
        ));
    }

    #[test]
    fn each_bad_field_of_a_phone_wish_is_named() {
        let mut d = draft();
        d.name = Some("  ".into());
        d.phone = Some("abc".into());
        d.persons = Some("6".into());
        d.wish.offices = Some(vec![]);
        let errors = d.validate(&sample()).unwrap_err().messages();
        let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(fields, ["name", "offices", "persons", "phone"]);
        assert!(!errors.contains_key("email"));
    }

    #[test]
    fn call_answers_parse_from_the_form() {
        assert_eq!(
            CallAnswer::parse("not_reached"),
            Some(CallAnswer::NotReached)
        );
        assert_eq!(CallAnswer::parse("accepted"), Some(CallAnswer::Accepted));
        assert_eq!(CallAnswer::parse("maybe"), None);
    }
}
