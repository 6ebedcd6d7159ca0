//! The city's offices and services: data loaded from a file or the database, never from code.

use super::ids::{OfficeId, ServiceId};
use super::language::Language;
use super::time::Weekday;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A name in each language we speak; English falls back to German.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Names {
    pub de: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

impl Names {
    #[must_use]
    pub fn get(&self, language: Language) -> &str {
        match language {
            Language::De => &self.de,
            Language::En => self.en.as_deref().unwrap_or(&self.de),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub id: ServiceId,
    pub name: Names,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Office {
    pub id: OfficeId,
    pub name: String,
    pub address: String,
    pub services: Vec<ServiceId>,
    /// Opening hours per weekday as `[from, to)` pairs of local hours, e.g. `{"mon": [[8, 13], [14, 18]]}`.
    pub opening_hours: BTreeMap<Weekday, Vec<[u8; 2]>>,
    /// The office's phone number as people dial it, for those who cannot use the form (shown
    /// where the form cannot take their wish, e.g. without JavaScript when the proof of work is
    /// enforced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl Office {
    /// Whether a slot starting in this local hour can exist at this office.
    #[must_use]
    pub fn is_open(&self, day: Weekday, hour: u8) -> bool {
        self.opening_hours
            .get(&day)
            .is_some_and(|ranges| ranges.iter().any(|[from, to]| *from <= hour && hour < *to))
    }

    /// The phone number as a `tel:` link dials it (`+49 211 89-91` → `+492118991`: the digits and
    /// the leading plus); `None` without a number or for one that is not a phone number.
    #[must_use]
    pub fn dial(&self) -> Option<String> {
        let phone = self.phone.as_deref()?.trim();
        let allowed = |c: char| c.is_ascii_digit() || " +-/()".contains(c);
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        if phone.len() > 30 || digits < 3 || !phone.chars().all(allowed) || phone[1..].contains('+')
        {
            return None;
        }
        Some(
            phone
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '+')
                .collect(),
        )
    }

    #[must_use]
    pub fn offers(&self, service: &ServiceId) -> bool {
        self.services.contains(service)
    }
}

/// Why a catalogue file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalogue is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("office {office}: unknown service {service}")]
    UnknownService { office: String, service: String },
    #[error("office {office}: opening hours {from}-{to} on {day} are not within 0-24")]
    BadHours {
        office: String,
        day: Weekday,
        from: u8,
        to: u8,
    },
    #[error(
        "office {office}: phone {phone:?} is not a phone number (digits, spaces, + - / ( ), at most 30)"
    )]
    BadPhone { office: String, phone: String },
    #[error("duplicate id {0}")]
    Duplicate(String),
    /// A text shown on pages, in mails and in calendar files holds a control character (a line
    /// break, a tab, NUL, DEL, C1): it could break a header line or a calendar line, or hide
    /// text. `field` names where, e.g. `offices[1].name` or `services[0].name.en`.
    #[error("{field}: must not contain control characters (line breaks, tabs and the like)")]
    ControlCharacter { field: String },
    #[error("the catalogue has no office or no service")]
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub services: Vec<Service>,
    pub offices: Vec<Office>,
}

impl Catalog {
    /// Reads and checks a catalogue (see `data/catalog.json`).
    ///
    /// # Errors
    /// When the JSON is malformed or inconsistent (unknown service, bad hours, duplicate ids).
    pub fn from_json(json: &str) -> Result<Self, CatalogError> {
        let catalog: Catalog = serde_json::from_str(json)?;
        catalog.check()?;
        Ok(catalog)
    }

    fn check(&self) -> Result<(), CatalogError> {
        if self.offices.is_empty() || self.services.is_empty() {
            return Err(CatalogError::Empty);
        }
        self.check_texts()?;
        let mut seen = std::collections::BTreeSet::new();
        for id in self
            .services
            .iter()
            .map(|s| format!("service {}", s.id))
            .chain(self.offices.iter().map(|o| format!("office {}", o.id)))
        {
            if !seen.insert(id.clone()) {
                return Err(CatalogError::Duplicate(id));
            }
        }
        for office in &self.offices {
            if let Some(phone) = &office.phone
                && office.dial().is_none()
            {
                return Err(CatalogError::BadPhone {
                    office: office.id.to_string(),
                    phone: phone.clone(),
                });
            }
            for service in &office.services {
                if self.service(service).is_none() {
                    return Err(CatalogError::UnknownService {
                        office: office.id.to_string(),
                        service: service.to_string(),
                    });
                }
            }
            for (day, ranges) in &office.opening_hours {
                for [from, to] in ranges {
                    if from >= to || *to > 24 {
                        return Err(CatalogError::BadHours {
                            office: office.id.to_string(),
                            day: *day,
                            from: *from,
                            to: *to,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Every text of the catalogue is free of control characters (`char::is_control`: U+0000–
    /// U+001F, U+007F–U+009F, so CR, LF and TAB too). Ids need no check: they allow only
    /// letters, digits and a few marks.
    fn check_texts(&self) -> Result<(), CatalogError> {
        let services = self.services.iter().enumerate().flat_map(|(i, s)| {
            std::iter::once((format!("services[{i}].name.de"), Some(&s.name.de))).chain(
                std::iter::once((format!("services[{i}].name.en"), s.name.en.as_ref())),
            )
        });
        let offices = self.offices.iter().enumerate().flat_map(|(i, o)| {
            [
                (format!("offices[{i}].name"), Some(&o.name)),
                (format!("offices[{i}].address"), Some(&o.address)),
                (format!("offices[{i}].phone"), o.phone.as_ref()),
            ]
        });
        for (field, text) in services.chain(offices) {
            if text.is_some_and(|t| t.chars().any(char::is_control)) {
                return Err(CatalogError::ControlCharacter { field });
            }
        }
        Ok(())
    }

    /// The office with this id (an [`OfficeId`] or a text not yet checked).
    #[must_use]
    pub fn office(&self, id: impl AsRef<str>) -> Option<&Office> {
        self.offices.iter().find(|o| o.id.as_ref() == id.as_ref())
    }

    /// The service with this id (a [`ServiceId`] or a text not yet checked).
    #[must_use]
    pub fn service(&self, id: impl AsRef<str>) -> Option<&Service> {
        self.services.iter().find(|s| s.id.as_ref() == id.as_ref())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Catalog {
        Catalog::from_json(include_str!("../../../data/catalog.json")).unwrap()
    }

    #[test]
    fn phone_numbers_are_checked_and_dialled_as_digits() {
        let with = |phone: &str| {
            let json = format!(
                r#"{{"services":[{{"id":"a","name":{{"de":"A"}}}}],
                "offices":[{{"id":"x","name":"X","address":"Y","services":["a"],"opening_hours":{{}},"phone":{phone:?}}}]}}"#
            );
            Catalog::from_json(&json)
        };
        let c = with("+49 211 89-91").unwrap();
        assert_eq!(c.offices[0].dial().as_deref(), Some("+492118991"));
        assert_eq!(
            with("(0211) 89-91").unwrap().offices[0].dial().as_deref(),
            Some("02118991")
        );
        for bad in [
            "call us",
            "12",
            "+49 211 +1",
            "javascript:alert(1)",
            &"1".repeat(31),
        ] {
            assert!(
                matches!(with(bad), Err(CatalogError::BadPhone { .. })),
                "{bad} accepted"
            );
        }
        assert_eq!(
            sample()
                .offices
                .iter()
                .filter(|o| o.dial().is_some())
                .count(),
            sample().offices.len()
        );
    }

    #[test]
    fn the_shipped_catalogue_is_valid() {
        let c = sample();
        assert!(c.offices.len() >= 3);
        assert!(c.service("id-card").is_some());
    }

    #[test]
    fn opening_hours_are_half_open_ranges() {
        let c = sample();
        let bilk = c.office("bilk").unwrap();
        assert!(bilk.is_open(Weekday::Mon, 8));
        assert!(!bilk.is_open(Weekday::Sun, 8));
        assert!(!bilk.is_open(Weekday::Mon, 6));
    }

    #[test]
    fn unknown_services_in_an_office_are_refused() {
        let json = r#"{"services":[{"id":"a","name":{"de":"A"}}],
            "offices":[{"id":"x","name":"X","address":"Y","services":["b"],"opening_hours":{}}]}"#;
        assert!(matches!(
            Catalog::from_json(json),
            Err(CatalogError::UnknownService { .. })
        ));
    }

    #[test]
    fn a_control_character_in_any_catalogue_text_is_refused_naming_its_field() {
        let text = |name: &str, en: &str, address: &str, phone: &str| {
            serde_json::json!({"services": [{"id": "a", "name": {"de": "A", "en": en}}],
                "offices": [{"id": "x", "name": name, "address": address, "services": ["a"],
                             "opening_hours": {}, "phone": phone}]})
            .to_string()
        };
        assert!(Catalog::from_json(&text("Bürgerbüro Bilk", "A", "Y 1", "0211 1")).is_ok());
        let controls = [
            '\r', '\n', '\t', '\0', '\u{1b}', '\u{1f}', '\u{7f}', '\u{85}', '\u{9f}',
        ];
        for c in controls {
            let bad = format!("Bilk{c}X");
            for (json, field) in [
                (text(&bad, "A", "Y", "0211 1"), "offices[0].name"),
                (text("X", &bad, "Y", "0211 1"), "services[0].name.en"),
                (text("X", "A", &bad, "0211 1"), "offices[0].address"),
                (
                    text("X", "A", "Y", &format!("0211{c}1")),
                    "offices[0].phone",
                ),
            ] {
                match Catalog::from_json(&json) {
                    Err(CatalogError::ControlCharacter { field: f }) => {
                        assert_eq!(f, field, "{c:?}");
                    }
                    other => panic!("{c:?} in {field}: {other:?}"),
                }
            }
        }
        let de = r#"{"services":[{"id":"a","name":{"de":"A\u2028\r"}}],
            "offices":[{"id":"x","name":"X","address":"Y","services":["a"],"opening_hours":{}}]}"#;
        let e = Catalog::from_json(de).unwrap_err();
        assert!(e.to_string().starts_with("services[0].name.de: "), "{e}");
    }

    #[test]
    fn inverted_opening_hours_are_refused() {
        let json = r#"{"services":[{"id":"a","name":{"de":"A"}}],
            "offices":[{"id":"x","name":"X","address":"Y","services":["a"],"opening_hours":{"mon":[[12,8]]}}]}"#;
        assert!(matches!(
            Catalog::from_json(json),
            Err(CatalogError::BadHours { .. })
        ));
    }
}
