//! Configuration from the environment, checked once at start-up.

use crate::domain::{Email, OfferTiming, WishAge};
use chrono::Duration;
use std::fmt;

/// How admin routes are protected.
#[derive(Clone)]
pub enum AdminAuth {
    /// `Authorization: Bearer <key>`, for the local runner and tests.
    Bearer(Secret),
    /// API Gateway has checked the caller's IAM signature; the request must carry that identity.
    Iam,
}

/// A secret that never shows in logs.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    #[must_use]
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// Constant-time comparison, so the key cannot be guessed byte by byte from response times.
    #[must_use]
    pub fn matches(&self, candidate: &str) -> bool {
        let a = self.0.as_bytes();
        let b = candidate.as_bytes();
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Clone)]
pub struct Config {
    pub wishes_table: String,
    pub slots_table: String,
    pub event_bus: String,
    pub mail_from: String,
    pub ses_configuration_set: Option<String>,
    /// Absolute base of every link in mails, e.g. `https://termine.example.de`.
    pub public_base_url: String,
    pub admin: AdminAuth,
    /// Where people report barriers (the accessibility statement names it): the operator's
    /// address, by default the sender address.
    pub accessibility_contact: Email,
    pub timing: OfferTiming,
    pub wish_age: WishAge,
    pub limits: Limits,
    /// How long after its commit an event appears in the events feed: longer than any
    /// transaction takes from being written to being committed, so that a reader polling with
    /// its cursor never passes an event that is still on its way (`FEED_SETTLE_SECONDS`, 30).
    pub feed_settle: Duration,
    /// How long an undeliverable mail is retried (with growing waits) before it is given up on
    /// and its wish paused (`MAIL_RETRY_HOURS`, 24).
    pub mail_retry_for: Duration,
}

/// Abuse limits on submissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wishes one address may have pending, waiting, offered or paused at once.
    pub active_per_address: usize,
    /// Submissions per address per hour.
    pub submissions_per_address_hour: usize,
    /// Submissions (and other state-changing requests) per client address per hour.
    pub requests_per_client_hour: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            active_per_address: 3,
            submissions_per_address_hour: 5,
            requests_per_client_hour: 60,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variables: {0}")]
    Missing(String),
    #[error("{0} is not valid: {1}")]
    Invalid(&'static str, String),
}

impl Config {
    /// Reads `WISHES_TABLE`, `SLOTS_TABLE`, `EVENT_BUS_NAME`, `MAIL_FROM`, `PUBLIC_BASE_URL`,
    /// `ADMIN_AUTH` (`iam`, the default when `ADMIN_KEY` is unset) or `ADMIN_KEY`, and optionally
    /// `SES_CONFIGURATION_SET`, `OFFER_HOLD_HOURS`, `OFFER_DEADLINE_BEFORE_START_HOURS`,
    /// `OFFER_MIN_RESPONSE_MINUTES`, `WISH_MAX_AGE_DAYS` (90), `WISH_REMINDER_DAYS` (7), `MAX_ACTIVE_WISHES_PER_EMAIL` (3),
    /// `MAX_SUBMISSIONS_PER_EMAIL_HOUR` (5), `MAX_SUBMISSIONS_PER_CLIENT_HOUR` (60),
    /// `ACCESSIBILITY_CONTACT` (an address; `MAIL_FROM` when unset), `FEED_SETTLE_SECONDS` (30),
    /// `MAIL_RETRY_HOURS` (24).
    ///
    /// # Errors
    /// Names every missing variable at once, or the first invalid one.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    }

    /// # Errors
    /// As [`Config::from_env`].
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = [
            "WISHES_TABLE",
            "SLOTS_TABLE",
            "EVENT_BUS_NAME",
            "MAIL_FROM",
            "PUBLIC_BASE_URL",
        ];
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|k| get(k).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(ConfigError::Missing(missing.join(", ")));
        }
        let value = |k: &str| get(k).unwrap_or_default();
        let base = value("PUBLIC_BASE_URL").trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(ConfigError::Invalid(
                "PUBLIC_BASE_URL",
                "must start with https:// or http://".into(),
            ));
        }
        let admin = match (get("ADMIN_AUTH").as_deref(), get("ADMIN_KEY")) {
            (Some("iam") | None, None) => AdminAuth::Iam,
            (Some("bearer") | None, Some(key)) if key.len() >= 16 => {
                AdminAuth::Bearer(Secret::new(key))
            }
            (Some("bearer") | None, Some(_)) => {
                return Err(ConfigError::Invalid(
                    "ADMIN_KEY",
                    "must be at least 16 characters".into(),
                ));
            }
            (Some("bearer"), None) => return Err(ConfigError::Missing("ADMIN_KEY".into())),
            (Some(other), _) => {
                return Err(ConfigError::Invalid(
                    "ADMIN_AUTH",
                    format!("{other:?}: use iam or bearer"),
                ));
            }
        };
        let number = |k: &'static str, default: i64| -> Result<i64, ConfigError> {
            get(k).map_or(Ok(default), |v| {
                v.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| ConfigError::Invalid(k, format!("{v:?} is not a whole number")))
            })
        };
        let timing = OfferTiming {
            hold: Duration::hours(number("OFFER_HOLD_HOURS", 24)?),
            before_start: Duration::hours(number("OFFER_DEADLINE_BEFORE_START_HOURS", 2)?),
            min_response: Duration::minutes(number("OFFER_MIN_RESPONSE_MINUTES", 60)?),
        };
        let wish_age = WishAge {
            max_age: Duration::days(number("WISH_MAX_AGE_DAYS", 90)?),
            remind_before: Duration::days(number("WISH_REMINDER_DAYS", 7)?),
        };
        if wish_age.remind_before >= wish_age.max_age {
            return Err(ConfigError::Invalid(
                "WISH_REMINDER_DAYS",
                "must be less than WISH_MAX_AGE_DAYS".into(),
            ));
        }
        let limits = Limits {
            active_per_address: usize::try_from(number("MAX_ACTIVE_WISHES_PER_EMAIL", 3)?)
                .unwrap_or(3),
            submissions_per_address_hour: usize::try_from(number(
                "MAX_SUBMISSIONS_PER_EMAIL_HOUR",
                5,
            )?)
            .unwrap_or(5),
            requests_per_client_hour: u32::try_from(number("MAX_SUBMISSIONS_PER_CLIENT_HOUR", 60)?)
                .unwrap_or(60),
        };
        let feed_settle = Duration::seconds(number("FEED_SETTLE_SECONDS", 30)?);
        Ok(Self {
            feed_settle,
            mail_retry_for: Duration::hours(number("MAIL_RETRY_HOURS", 24)?),
            accessibility_contact: accessibility_contact(
                get("ACCESSIBILITY_CONTACT"),
                &value("MAIL_FROM"),
            )?,
            limits,
            wish_age,
            wishes_table: value("WISHES_TABLE"),
            slots_table: value("SLOTS_TABLE"),
            event_bus: value("EVENT_BUS_NAME"),
            mail_from: value("MAIL_FROM"),
            ses_configuration_set: get("SES_CONFIGURATION_SET"),
            public_base_url: base,
            admin,
            timing,
        })
    }
}

/// `ACCESSIBILITY_CONTACT`, or the sender address when it is unset.
fn accessibility_contact(set: Option<String>, mail_from: &str) -> Result<Email, ConfigError> {
    match set {
        Some(v) => Email::parse(&v)
            .map_err(|e| ConfigError::Invalid("ACCESSIBILITY_CONTACT", format!("{v:?}: {e}"))),
        None => Email::parse(mail_from).map_err(|e| {
            ConfigError::Invalid(
                "ACCESSIBILITY_CONTACT",
                format!("unset, and MAIL_FROM is no plain address to use instead: {e}"),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn every_missing_variable_is_named_at_once() {
        let Err(ConfigError::Missing(m)) = Config::from_lookup(lookup(&[("WISHES_TABLE", "w")]))
        else {
            unreachable!("config without variables accepted")
        };
        assert_eq!(m, "SLOTS_TABLE, EVENT_BUS_NAME, MAIL_FROM, PUBLIC_BASE_URL");
    }

    #[test]
    fn admin_defaults_to_iam_and_short_keys_are_refused() {
        let base = [
            ("WISHES_TABLE", "w"),
            ("SLOTS_TABLE", "s"),
            ("EVENT_BUS_NAME", "b"),
            ("MAIL_FROM", "m@x.de"),
            ("PUBLIC_BASE_URL", "http://x/"),
        ];
        let c = Config::from_lookup(lookup(&base)).unwrap();
        assert!(matches!(c.admin, AdminAuth::Iam));
        assert_eq!(c.public_base_url, "http://x");
        let mut short = base.to_vec();
        short.push(("ADMIN_KEY", "abc"));
        assert!(Config::from_lookup(lookup(&short)).is_err());
    }

    #[test]
    fn the_accessibility_contact_defaults_to_the_sender_and_must_be_an_address() {
        let base = [
            ("WISHES_TABLE", "w"),
            ("SLOTS_TABLE", "s"),
            ("EVENT_BUS_NAME", "b"),
            ("MAIL_FROM", "termine@stadt.example"),
            ("PUBLIC_BASE_URL", "https://x.example"),
        ];
        let c = Config::from_lookup(lookup(&base)).unwrap();
        assert_eq!(c.accessibility_contact.as_ref(), "termine@stadt.example");
        let mut set = base.to_vec();
        set.push(("ACCESSIBILITY_CONTACT", "Barrierefreiheit@Stadt.example"));
        let c = Config::from_lookup(lookup(&set)).unwrap();
        assert_eq!(
            c.accessibility_contact.as_ref(),
            "barrierefreiheit@stadt.example"
        );
        let mut bad = base.to_vec();
        bad.push(("ACCESSIBILITY_CONTACT", "x@y.de\r\nBcc: z@y.de"));
        assert!(matches!(
            Config::from_lookup(lookup(&bad)),
            Err(ConfigError::Invalid("ACCESSIBILITY_CONTACT", _))
        ));
    }
}
