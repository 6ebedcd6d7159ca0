//! Appointment slots as the booking system gives them to us.

use super::catalog::Catalog;
use super::ids::{OfferId, OfficeId, ServiceId, SlotId, WishId};
use super::persons::MAX_SLOT_PERSONS;
use super::request::FieldErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotStatus {
    /// Nobody holds it: it goes to the queue first, then is publicly bookable.
    Free,
    /// Held for one wish by an open offer.
    Offered,
    Booked,
}

impl SlotStatus {
    pub const ALL: [SlotStatus; 3] = [SlotStatus::Free, SlotStatus::Offered, SlotStatus::Booked];

    /// The word the contracts and the tables use.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SlotStatus::Free => "free",
            SlotStatus::Offered => "offered",
            SlotStatus::Booked => "booked",
        }
    }
}

/// A slot; its serde form is the one the slots table and the contracts use.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub id: SlotId,
    pub office: OfficeId,
    pub service: ServiceId,
    #[serde(with = "super::time::stored")]
    pub start: DateTime<Utc>,
    pub minutes: u16,
    pub status: SlotStatus,
    pub offer: Option<OfferId>,
    pub wish: Option<WishId>,
    /// How many persons the booking system's appointment serves (a family takes one slot for
    /// enough persons, or a run of back-to-back slots).
    #[serde(default = "super::persons::one")]
    pub persons: u8,
}

/// One slot row as the booking system gives it (`PUT /admin/slots`), before any check: each
/// field as given, `None` where it is missing or not of the contract's type (a text; `minutes` a
/// whole number).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotRow {
    pub id: Option<String>,
    pub office: Option<String>,
    pub service: Option<String>,
    pub start: Option<String>,
    pub minutes: Option<u64>,
    pub status: Option<String>,
    /// How many persons the slot serves (absent: one).
    pub persons: super::request::Given,
}

/// A checked slot row: what the booking system says the slot is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotUpsert {
    pub id: SlotId,
    pub office: OfficeId,
    pub service: ServiceId,
    pub start: DateTime<Utc>,
    pub minutes: u16,
    /// Only `Free` or `Booked`: an offer is ours to make.
    pub status: SlotStatus,
    pub persons: u8,
}

impl SlotRow {
    /// Checks one row against the catalogue; errors are keyed by field name.
    ///
    /// # Errors
    /// A [`FieldErrors`] naming every field that is missing or wrong.
    pub fn validate(&self, catalog: &Catalog) -> Result<SlotUpsert, FieldErrors> {
        let mut errors = FieldErrors::default();
        let id = match self.id.as_deref().map(SlotId::parse) {
            Some(Ok(id)) => Some(id),
            Some(Err(e)) => {
                errors.add("id", "invalid", format!("slot id {e}"));
                None
            }
            None => {
                errors.add("id", "required", "a slot id (text) is required");
                None
            }
        };
        let office = if let Some(s) = &self.office {
            if let Some(o) = catalog.office(s) {
                Some(o)
            } else {
                errors.add("office", "unknown", format!("unknown office {s:?}"));
                None
            }
        } else {
            errors.add("office", "required", "an office id is required");
            None
        };
        let service = if let Some(s) = &self.service {
            if let Some(svc) = catalog.service(s) {
                Some(svc.id.clone())
            } else {
                errors.add("service", "unknown", format!("unknown service {s:?}"));
                None
            }
        } else {
            errors.add("service", "required", "a service id is required");
            None
        };
        if let (Some(o), Some(s)) = (office, &service)
            && !o.offers(s)
        {
            errors.add(
                "service",
                "not_offered",
                format!("office {} does not offer {s}", o.id),
            );
        }
        let start = if let Some(s) = &self.start {
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                Some(t.with_timezone(&Utc))
            } else {
                errors.add(
                    "start",
                    "invalid",
                    "start must be RFC 3339 with an offset, e.g. 2024-01-24T08:30:00+01:00",
                );
                None
            }
        } else {
            errors.add("start", "required", "a start time is required");
            None
        };
        let minutes = if let Some(m @ 1..=480) = self.minutes {
            u16::try_from(m).ok()
        } else {
            errors.add(
                "minutes",
                "invalid",
                "minutes must be a whole number from 1 to 480",
            );
            None
        };
        let status = match self.status.as_deref() {
            Some("free") => Some(SlotStatus::Free),
            Some("booked") => Some(SlotStatus::Booked),
            _ => {
                errors.add("status", "invalid", "status must be \"free\" or \"booked\"");
                None
            }
        };
        let persons = self.persons.persons(MAX_SLOT_PERSONS, &mut errors);
        match (id, office, service, start, minutes, status, persons) {
            (
                Some(id),
                Some(office),
                Some(service),
                Some(start),
                Some(minutes),
                Some(status),
                Some(persons),
            ) if errors.is_empty() => Ok(SlotUpsert {
                id,
                office: office.id.clone(),
                service,
                start,
                minutes,
                status,
                persons,
            }),
            _ => Err(errors),
        }
    }
}
