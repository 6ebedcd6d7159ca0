//! Offers: one slot held for one wish until it is answered or its deadline passes.

use super::ids::{OfferId, OfficeId, ServiceId, SlotId, WishId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OfferStatus {
    Open,
    Accepted,
    Declined,
    Expired,
    /// The wish was cancelled or the office took the slot back.
    Withdrawn,
    /// Accepted, then given back by the citizen before it took place: the slot went back to
    /// the queue.
    Returned,
    /// Accepted, then swapped for an earlier appointment of the same wish: the slot went back
    /// to the queue.
    Replaced,
}

impl OfferStatus {
    pub const ALL: [OfferStatus; 7] = [
        OfferStatus::Open,
        OfferStatus::Accepted,
        OfferStatus::Declined,
        OfferStatus::Expired,
        OfferStatus::Withdrawn,
        OfferStatus::Returned,
        OfferStatus::Replaced,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OfferStatus::Open => "open",
            OfferStatus::Accepted => "accepted",
            OfferStatus::Declined => "declined",
            OfferStatus::Expired => "expired",
            OfferStatus::Withdrawn => "withdrawn",
            OfferStatus::Returned => "returned",
            OfferStatus::Replaced => "replaced",
        }
    }
}

/// An offer; its serde form is the one the tables use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub id: OfferId,
    pub wish: WishId,
    pub slot: SlotId,
    pub office: OfficeId,
    pub service: ServiceId,
    #[serde(with = "super::time::stored")]
    pub start: DateTime<Utc>,
    pub minutes: u16,
    pub status: OfferStatus,
    #[serde(with = "super::time::stored")]
    pub deadline: DateTime<Utc>,
    #[serde(with = "super::time::stored")]
    pub created_at: DateTime<Utc>,
    /// How many persons the wish is for.
    #[serde(default = "super::persons::one")]
    pub persons: u8,
    /// The slots the offer holds after its first, back to back (a family's run); empty for one
    /// slot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<super::party::RunSlot>,
}

/// A booked appointment (an accepted offer) as its page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppointmentStatus {
    /// Booked and still to come: it can be given back.
    Booked,
    /// Given back; the slot went to the queue.
    Returned,
    /// Swapped for an earlier appointment; the slot went to the queue.
    Replaced,
    /// It has begun or is over.
    Past,
}

impl AppointmentStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Returned => "returned",
            Self::Replaced => "replaced",
            Self::Past => "past",
        }
    }
}

impl Offer {
    /// Every slot the offer holds, the first first.
    pub fn slot_ids(&self) -> impl Iterator<Item = &SlotId> {
        std::iter::once(&self.slot).chain(self.also.iter().map(|s| &s.id))
    }

    /// The slots it holds after the first (for the events).
    #[must_use]
    pub fn also_ids(&self) -> Vec<SlotId> {
        self.also.iter().map(|s| s.id.clone()).collect()
    }

    /// The slots it holds, each as a run slot, the first first.
    #[must_use]
    pub fn run(&self) -> Vec<super::party::RunSlot> {
        let first = super::party::RunSlot {
            id: self.slot.clone(),
            start: self.start,
            minutes: self.minutes,
        };
        std::iter::once(first)
            .chain(self.also.iter().cloned())
            .collect()
    }

    /// When the appointment ends: the end of its last slot.
    #[must_use]
    pub fn end(&self) -> DateTime<Utc> {
        self.also.last().map_or(
            self.start + chrono::Duration::minutes(i64::from(self.minutes)),
            |last| last.start + chrono::Duration::minutes(i64::from(last.minutes)),
        )
    }

    /// How long the appointment lasts, all its slots together, in minutes.
    #[must_use]
    pub fn total_minutes(&self) -> i64 {
        (self.end() - self.start).num_minutes()
    }

    /// When the reminder of this appointment, accepted at `booked_at`, is due: `before` its
    /// start, unless it was booked less than that ahead (then none).
    #[must_use]
    pub fn reminder_at(
        &self,
        before: chrono::Duration,
        booked_at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let at = self.start - before;
        (at > booked_at).then_some(at)
    }

    /// What the offer is as an appointment: `None` for one that was never accepted.
    #[must_use]
    pub fn appointment(&self, now: DateTime<Utc>) -> Option<AppointmentStatus> {
        match self.status {
            OfferStatus::Accepted if now < self.start => Some(AppointmentStatus::Booked),
            OfferStatus::Accepted => Some(AppointmentStatus::Past),
            OfferStatus::Returned => Some(AppointmentStatus::Returned),
            OfferStatus::Replaced => Some(AppointmentStatus::Replaced),
            _ => None,
        }
    }

    /// An open offer whose deadline has passed counts as expired, even before the rescan records it.
    #[must_use]
    pub fn effective_status(&self, now: DateTime<Utc>) -> OfferStatus {
        if self.status == OfferStatus::Open && now >= self.deadline {
            OfferStatus::Expired
        } else {
            self.status
        }
    }
}
