//! Identifiers: each kind has its own type so a wish id can never be passed as an offer id.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a text is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("may only contain letters, digits and . _ : -")]
    BadCharacter,
}

fn check(value: &str, max: usize, allowed: impl Fn(char) -> bool) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty);
    }
    if value.chars().count() > max {
        return Err(IdError::TooLong(max));
    }
    if !value.chars().all(allowed) {
        return Err(IdError::BadCharacter);
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $max:expr, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks the text and wraps it.
            ///
            /// # Errors
            /// When the text is empty, too long or has characters outside the allowed set.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                check(value, $max, $allowed)?;
                Ok(Self(value.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                check(&value, $max, $allowed)?;
                Ok(Self(value))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn slug_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

fn external_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

id_type!(
    /// A citizen office, e.g. `bilk`; one of the configured catalogue.
    OfficeId, 40, slug_char
);
id_type!(
    /// A service, e.g. `id-card`.
    ServiceId, 40, slug_char
);
id_type!(
    /// The booking system's own id of an appointment slot.
    SlotId, 128, external_char
);
id_type!(
    /// A wish, made by us (`UUIDv7`, so ids sort by creation time).
    WishId, 64, external_char
);
id_type!(
    /// An offer of one slot to one wish.
    OfferId, 64, external_char
);

impl WishId {
    #[must_use]
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl OfferId {
    #[must_use]
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_ids_are_lowercase_slugs() {
        assert!(OfficeId::parse("bilk").is_ok());
        assert!(OfficeId::parse("nord-2").is_ok());
        assert_eq!(OfficeId::parse(""), Err(IdError::Empty));
        assert_eq!(OfficeId::parse("Bilk"), Err(IdError::BadCharacter));
        assert_eq!(OfficeId::parse("a b"), Err(IdError::BadCharacter));
    }

    #[test]
    fn slot_ids_from_booking_systems_allow_common_separators() {
        assert!(SlotId::parse("BILK:2024-01-24T08:30").is_ok());
        assert_eq!(SlotId::parse("x#y"), Err(IdError::BadCharacter));
        assert_eq!(SlotId::parse(&"a".repeat(129)), Err(IdError::TooLong(128)));
    }

    #[test]
    fn generated_wish_ids_sort_by_creation() {
        let a = WishId::generate();
        let b = WishId::generate();
        assert!(a < b);
    }
}
