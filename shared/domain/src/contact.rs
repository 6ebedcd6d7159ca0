//! How the office reaches the person behind a wish: by email (the citizen's own wish, with its
//! double opt-in and its mails), or by phone (a wish a clerk took on the phone or at the counter
//! for someone without email: nothing is mailed, its offers are on the console's call list).

use super::email::Email;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Whom a wish belongs to and how they hear of it. Stored flattened into the wish: an email
/// wish keeps its `email` attribute as before, a phone wish has `phone` (name and number)
/// instead — the citizen's path and its stored form are unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Contact {
    Email { email: Email },
    Phone { phone: PhoneContact },
}

impl Contact {
    /// The address mails go to; `None` for a phone contact, which is never mailed.
    #[must_use]
    pub fn email(&self) -> Option<&Email> {
        match self {
            Contact::Email { email } => Some(email),
            Contact::Phone { .. } => None,
        }
    }

    /// The name and number the clerk calls; `None` for an email contact.
    #[must_use]
    pub fn phone(&self) -> Option<&PhoneContact> {
        match self {
            Contact::Email { .. } => None,
            Contact::Phone { phone } => Some(phone),
        }
    }
}

impl From<Email> for Contact {
    fn from(email: Email) -> Self {
        Contact::Email { email }
    }
}

/// A person reached by phone: a name or reference the clerk recognises them by, and the number.
/// Only what is needed to call them back; both are personal data (redacted in `Debug`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneContact {
    pub name: Reference,
    pub number: PhoneNumber,
}

impl fmt::Debug for PhoneContact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneContact(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("please enter a name or a reference")]
    NameEmpty,
    #[error("the name or reference may have at most 80 characters")]
    NameTooLong,
    #[error("the name or reference may not contain control characters")]
    NameInvalid,
    #[error("please enter a phone number")]
    PhoneEmpty,
    #[error(
        "this is not a phone number: digits, with an optional leading + and spaces, dashes, slashes or brackets (6 to 15 digits)"
    )]
    PhoneInvalid,
}

impl ContactError {
    /// A stable code for the field error.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            ContactError::NameEmpty | ContactError::PhoneEmpty => "required",
            ContactError::NameTooLong => "too_long",
            ContactError::NameInvalid | ContactError::PhoneInvalid => "invalid",
        }
    }
}

/// A name or reference (a case number, "Frau M., Zimmer 3"): trimmed, 1–80 characters, no
/// control characters.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reference(String);

impl Reference {
    /// # Errors
    /// When empty, longer than 80 characters, or holding a control character.
    pub fn parse(value: &str) -> Result<Self, ContactError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(ContactError::NameEmpty);
        }
        if value.chars().count() > 80 {
            return Err(ContactError::NameTooLong);
        }
        if value.chars().any(char::is_control) {
            return Err(ContactError::NameInvalid);
        }
        Ok(Self(value.to_owned()))
    }
}

impl TryFrom<String> for Reference {
    type Error = ContactError;
    fn try_from(value: String) -> Result<Self, ContactError> {
        Self::parse(&value)
    }
}

impl From<Reference> for String {
    fn from(r: Reference) -> String {
        r.0
    }
}

impl AsRef<str> for Reference {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reference(<redacted>)")
    }
}

/// A phone number as the clerk dials it: digits with an optional leading `+`, the separators
/// people write (spaces, `-`, `/`, `(`, `)`) removed; 6 to 15 digits (E.164 allows 15).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// # Errors
    /// When empty, or not digits (with an optional leading `+`) between the usual separators,
    /// or fewer than 6 or more than 15 digits.
    pub fn parse(value: &str) -> Result<Self, ContactError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(ContactError::PhoneEmpty);
        }
        let (plus, rest) = match value.strip_prefix('+') {
            Some(rest) => ("+", rest),
            None => ("", value),
        };
        let mut digits = String::new();
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '/' | '(' | ')' => {}
                _ => return Err(ContactError::PhoneInvalid),
            }
        }
        if !(6..=15).contains(&digits.len()) {
            return Err(ContactError::PhoneInvalid);
        }
        Ok(Self(format!("{plus}{digits}")))
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = ContactError;
    fn try_from(value: String) -> Result<Self, ContactError> {
        Self::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> String {
        p.0
    }
}

impl AsRef<str> for PhoneNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneNumber(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_keep_digits_and_a_leading_plus_only() {
        let p = |s: &str| PhoneNumber::parse(s).map(|p| p.as_ref().to_owned());
        assert_eq!(p(" +49 (30) 123-456 78 ").unwrap(), "+493012345678");
        assert_eq!(p("030 / 1234567").unwrap(), "0301234567");
        assert_eq!(p(""), Err(ContactError::PhoneEmpty));
        for bad in [
            "12345",
            "0301234567890123",
            "030 123x456",
            "++49301234",
            "030\n1234567",
        ] {
            assert_eq!(p(bad), Err(ContactError::PhoneInvalid), "{bad:?}");
        }
    }

    #[test]
    fn a_reference_is_trimmed_short_and_free_of_control_characters() {
        assert_eq!(Reference::parse("  Frau M.  ").unwrap().as_ref(), "Frau M.");
        assert_eq!(Reference::parse(" "), Err(ContactError::NameEmpty));
        assert_eq!(
            Reference::parse(&"x".repeat(81)),
            Err(ContactError::NameTooLong)
        );
        assert!(Reference::parse(&"ä".repeat(80)).is_ok());
        assert_eq!(Reference::parse("a\rb"), Err(ContactError::NameInvalid));
    }

    #[test]
    fn an_email_contact_is_stored_as_before_and_a_phone_contact_beside_it() {
        let email: Contact = Email::parse("a@b.de").unwrap().into();
        assert_eq!(
            serde_json::to_value(&email).unwrap(),
            serde_json::json!({"email": "a@b.de"})
        );
        let phone = Contact::Phone {
            phone: PhoneContact {
                name: Reference::parse("Frau M.").unwrap(),
                number: PhoneNumber::parse("030 123456").unwrap(),
            },
        };
        let stored = serde_json::to_value(&phone).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"phone": {"name": "Frau M.", "number": "030123456"}})
        );
        assert_eq!(serde_json::from_value::<Contact>(stored).unwrap(), phone);
        assert_eq!(phone.email(), None);
        assert!(!format!("{phone:?}").contains("123456"));
    }
}
