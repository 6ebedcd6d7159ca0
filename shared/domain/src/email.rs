//! A citizen's email address, checked and normalised at the edge.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("please enter an email address")]
    Empty,
    #[error("the email address is too long")]
    TooLong,
    #[error("this is not a valid email address")]
    Invalid,
    /// The part before the `@` has characters outside plain ASCII: mail services (Amazon SES
    /// among them) cannot deliver to such an address, so it is refused now rather than retried.
    #[error(
        "the part before the @ may only use the letters a–z, digits and . _ % + - (no umlauts or other accented letters)"
    )]
    LocalPart,
}

/// A syntactically valid, normalised (trimmed, lower-case) address without any character that could
/// inject a mail header.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// # Errors
    /// When the text is empty, longer than 254 characters, or not of the form `local@domain.tld`.
    pub fn parse(value: &str) -> Result<Self, EmailError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(EmailError::Empty);
        }
        if value.len() > 254 {
            return Err(EmailError::TooLong);
        }
        // Control characters (CR/LF above all), spaces and the characters that delimit addresses
        // in a header are never part of an address we accept.
        if value.chars().any(|c| {
            c.is_control()
                || c.is_whitespace()
                || matches!(
                    c,
                    '<' | '>' | ',' | ';' | '"' | '(' | ')' | '[' | ']' | '\\'
                )
        }) {
            return Err(EmailError::Invalid);
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(EmailError::Invalid);
        };
        let domain_ok = domain.len() >= 3
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.len() > 64 || domain.contains('@') || !domain_ok {
            return Err(EmailError::Invalid);
        }
        if !local.chars().all(is_local_char) {
            return Err(if local.is_ascii() {
                EmailError::Invalid
            } else {
                EmailError::LocalPart
            });
        }
        // A domain with non-ASCII letters (müller.de) is sent in its punycode form
        // (xn--mller-kva.de), which every mail service takes.
        let domain = idna::domain_to_ascii(domain).map_err(|_| EmailError::Invalid)?;
        if domain.len() + local.len() + 1 > 254 {
            return Err(EmailError::TooLong);
        }
        Ok(Self(format!("{}@{domain}", local.to_lowercase())))
    }

    /// The address as the abuse limits count it: lower case and without a `+tag` in the part
    /// before the `@`, so `Anna+1@example.de` and `anna@example.de` are one address. Mails still
    /// go to the address as given.
    #[must_use]
    pub fn limit_key(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let local = local.split_once('+').map_or(local, |(base, _)| base);
        format!("{local}@{domain}")
    }
}

/// A character of the part before the `@` that every mail service takes: RFC 5322's `atext`
/// (ASCII letters, digits and ``!#$%&'*+/=?^_`{|}~-``) and the dot.
fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c)
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, EmailError> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Addresses are personal data: never print them in logs by accident.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Anna.Meier@Example.DE ").unwrap().as_ref(),
            "anna.meier@example.de"
        );
    }

    #[test]
    fn header_injection_is_refused() {
        assert_eq!(
            Email::parse("a@b.de\r\nBcc: x@y.de"),
            Err(EmailError::Invalid)
        );
        assert_eq!(Email::parse("a@b.de\nX"), Err(EmailError::Invalid));
        assert_eq!(Email::parse("Anna <a@b.de>"), Err(EmailError::Invalid));
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "", "a", "a@", "@b.de", "a@b", "a@@b.de", "a@.de", "a@b..de", "a b@c.de",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn unicode_domains_are_sent_as_punycode_and_unicode_local_parts_refused() {
        assert_eq!(
            Email::parse("anna@müller.de").unwrap().as_ref(),
            "anna@xn--mller-kva.de"
        );
        assert_eq!(
            Email::parse("anna@Bücher.Example").unwrap().as_ref(),
            "anna@xn--bcher-kva.example"
        );
        assert_eq!(
            Email::parse("jürgen@example.de"),
            Err(EmailError::LocalPart)
        );
        assert!(
            EmailError::LocalPart.to_string().contains("before the @"),
            "the message says what to change"
        );
    }

    #[test]
    fn limits_count_an_address_without_its_tag_and_case() {
        let key = |s: &str| Email::parse(s).unwrap().limit_key();
        assert_eq!(key("Anna+1@Example.de"), "anna@example.de");
        assert_eq!(key("anna+termine+x@example.de"), "anna@example.de");
        assert_eq!(key("anna@example.de"), "anna@example.de");
        assert_ne!(key("anna.b@example.de"), key("annab@example.de"));
        // The mail goes to the address as given (its tag kept).
        assert_eq!(
            Email::parse("Anna+1@Example.de").unwrap().as_ref(),
            "anna+1@example.de"
        );
    }

    #[test]
    fn debug_output_hides_the_address() {
        assert!(!format!("{:?}", Email::parse("a@b.de").unwrap()).contains("b.de"));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn accepted_addresses_never_contain_line_breaks(s in "\\PC{0,40}[\r\n]?\\PC{0,40}") {
            if let Ok(e) = Email::parse(&s) {
                prop_assert!(!e.as_ref().contains(['\r', '\n']));
            }
        }
    }
}
