//! What a citizen asks for (`POST /api/wishes`, the form) and how it is checked against the
//! catalogue: every problem named by field.

use super::catalog::Catalog;
use super::email::Email;
use super::ids::{OfficeId, ServiceId};
use super::time::{Weekday, Window};
use super::wish::Language;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Most offices one wish may name.
pub const MAX_OFFICES: usize = 10;
/// Most one-hour windows one wish may name.
pub const MAX_WINDOWS: usize = 60;
/// Most closed windows an error names (then "…").
pub const CLOSED_NAMED: usize = 6;

/// One field's problem: a stable code for programs and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub code: &'static str,
    pub message: String,
    /// The windows the problem is about (for `windows`/`closed`), so a page can name them in
    /// its own language.
    #[serde(skip)]
    pub windows: Vec<Window>,
}

/// Problems keyed by field name, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, FieldError>);

impl FieldErrors {
    /// Records the first problem of a field; later ones for the same field are dropped.
    pub fn add(&mut self, field: &str, code: &'static str, message: impl Into<String>) {
        self.add_about(field, code, message, Vec::new());
    }

    /// As [`FieldErrors::add`], for a field whose value cannot be used at all: `None`.
    #[must_use]
    pub fn refuse<T>(
        &mut self,
        field: &str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Option<T> {
        self.add(field, code, message);
        None
    }

    /// As [`FieldErrors::add`], naming the windows the problem is about.
    pub fn add_about(
        &mut self,
        field: &str,
        code: &'static str,
        message: impl Into<String>,
        windows: Vec<Window>,
    ) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| FieldError {
                code,
                message: message.into(),
                windows,
            });
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[must_use]
    pub fn get(&self, field: &str) -> Option<&FieldError> {
        self.0.get(field)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &FieldError)> {
        self.0.iter()
    }

    /// `{field: message}` as the public contract shows it.
    #[must_use]
    pub fn messages(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), v.message.clone()))
            .collect()
    }
}

/// `POST /api/wishes` as it arrives: every field loose, so each problem can be named.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WishRequest {
    #[serde(default)]
    pub email: Option<serde_json::Value>,
    #[serde(default)]
    pub service: Option<serde_json::Value>,
    #[serde(default)]
    pub offices: Option<serde_json::Value>,
    #[serde(default)]
    pub windows: Option<serde_json::Value>,
    #[serde(default)]
    pub language: Option<serde_json::Value>,
}

/// A checked wish, ready to be stored as `pending`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWish {
    pub email: Email,
    pub service: ServiceId,
    pub offices: Vec<OfficeId>,
    pub windows: BTreeSet<Window>,
    pub language: Language,
}

impl WishRequest {
    /// Checks every field against the catalogue.
    ///
    /// A window is accepted when at least one chosen office offering the service is open then; it
    /// applies at each chosen office that is open then.
    ///
    /// # Errors
    /// [`FieldErrors`] with one entry per bad field.
    pub fn validate(&self, catalog: &Catalog) -> Result<NewWish, FieldErrors> {
        let mut errors = FieldErrors::default();

        let email = if let Some(s) = self.email.as_ref().and_then(serde_json::Value::as_str) {
            Email::parse(s)
                .map_err(|e| {
                    let code = if e == super::email::EmailError::Empty {
                        "required"
                    } else {
                        "invalid"
                    };
                    errors.add("email", code, e.to_string());
                })
                .ok()
        } else {
            errors.add("email", "required", "please enter an email address");
            None
        };

        let language = match &self.language {
            None | Some(serde_json::Value::Null) => Some(Language::De),
            Some(v) => {
                if let Some(l) = v.as_str().and_then(Language::parse) {
                    Some(l)
                } else {
                    errors.add("language", "invalid", "language must be \"de\" or \"en\"");
                    None
                }
            }
        };

        let service = if let Some(s) = self.service.as_ref().and_then(serde_json::Value::as_str) {
            if let Some(svc) = catalog.service(s) {
                Some(svc.id.clone())
            } else {
                errors.add(
                    "service",
                    "unknown",
                    "please choose one of the listed services",
                );
                None
            }
        } else {
            errors.add("service", "required", "please choose a service");
            None
        };

        let offices = self.parse_offices(catalog, service.as_ref(), &mut errors);
        let windows = self.parse_windows(&mut errors);

        if let (Some(service), Some(offices), Some(windows)) = (&service, &offices, &windows) {
            let closed: Vec<Window> = windows
                .iter()
                .copied()
                .filter(|w| {
                    !offices.iter().any(|o| {
                        catalog
                            .office(o)
                            .is_some_and(|o| o.offers(service) && o.is_open(w.day(), w.hour()))
                    })
                })
                .collect();
            if !closed.is_empty() {
                // "mon 7–8, sat 9–10: …", in the request's own terms.
                let mut named: Vec<String> = closed
                    .iter()
                    .take(CLOSED_NAMED)
                    .map(|w| format!("{} {}–{}", w.day(), w.hour(), w.hour() + 1))
                    .collect();
                if closed.len() > CLOSED_NAMED {
                    named.push("…".to_owned());
                }
                errors.add_about(
                    "windows",
                    "closed",
                    format!(
                        "{}: none of the chosen offices is open then",
                        named.join(", ")
                    ),
                    closed,
                );
            }
        }

        match (email, service, offices, windows, language) {
            (Some(email), Some(service), Some(offices), Some(windows), Some(language))
                if errors.is_empty() =>
            {
                Ok(NewWish {
                    email,
                    service,
                    offices,
                    windows,
                    language,
                })
            }
            _ => Err(errors),
        }
    }

    fn parse_offices(
        &self,
        catalog: &Catalog,
        service: Option<&ServiceId>,
        errors: &mut FieldErrors,
    ) -> Option<Vec<OfficeId>> {
        let Some(list) = self.offices.as_ref().and_then(serde_json::Value::as_array) else {
            return errors.refuse("offices", "required", "please choose at least one office");
        };
        let mut offices: Vec<OfficeId> = Vec::new();
        for item in list {
            let Some(office) = item.as_str().and_then(|s| catalog.office(s)) else {
                return errors.refuse("offices", "unknown", "please choose offices from the list");
            };
            if service.is_some_and(|s| !office.offers(s)) {
                return errors.refuse(
                    "offices",
                    "not_offered",
                    format!("{} does not offer this service", office.name),
                );
            }
            if !offices.contains(&office.id) {
                offices.push(office.id.clone());
            }
        }
        if offices.is_empty() {
            return errors.refuse("offices", "required", "please choose at least one office");
        }
        at_most(offices.len(), MAX_OFFICES, ("offices", "offices"), errors).then_some(offices)
    }

    fn parse_windows(&self, errors: &mut FieldErrors) -> Option<BTreeSet<Window>> {
        let Some(map) = self.windows.as_ref().and_then(serde_json::Value::as_object) else {
            return errors.refuse(
                "windows",
                "required",
                "please choose at least one hour on one weekday",
            );
        };
        let mut windows = BTreeSet::new();
        for (key, hours) in map {
            let Some(day) = Weekday::parse(key) else {
                return errors.refuse(
                    "windows",
                    "invalid",
                    format!("{key:?} is not a weekday (mon … sun)"),
                );
            };
            let Some(hours) = hours.as_array() else {
                return errors.refuse(
                    "windows",
                    "invalid",
                    format!("hours for {day} must be a list, e.g. [8, 9]"),
                );
            };
            for h in hours {
                let window = h
                    .as_u64()
                    .and_then(|h| u8::try_from(h).ok())
                    .and_then(|h| Window::new(day, h).ok());
                let Some(window) = window else {
                    return errors.refuse(
                        "windows",
                        "invalid",
                        format!("hours for {day} must be whole numbers from 0 to 23"),
                    );
                };
                windows.insert(window);
            }
        }
        if windows.is_empty() {
            return errors.refuse(
                "windows",
                "required",
                "please choose at least one hour on one weekday",
            );
        }
        at_most(windows.len(), MAX_WINDOWS, ("windows", "hours"), errors).then_some(windows)
    }
}

/// Whether `count` choices are within `max`; a `too_many` error for `field` (choices of `what`)
/// when not.
fn at_most(
    count: usize,
    max: usize,
    (field, what): (&str, &str),
    errors: &mut FieldErrors,
) -> bool {
    if count > max {
        errors.add(
            field,
            "too_many",
            format!("please choose at most {max} {what}"),
        );
    }
    count <= max
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::catalog::tests::sample;
    use crate::domain::wish::{NewWishView, queue_lines};
    use proptest::prelude::*;
    use serde_json::json;

    fn req(v: serde_json::Value) -> WishRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_seed_wish_is_accepted() {
        let w = req(
            json!({"email": "anna@example.de", "service": "id-card", "offices": ["bilk"],
            "windows": {"mon": [8], "tue": [8], "wed": [8], "thu": [8], "fri": [12]}}),
        )
        .validate(&sample())
        .unwrap();
        assert_eq!(w.windows.len(), 5);
        assert_eq!(w.language, Language::De);
    }

    #[test]
    fn every_missing_field_is_named() {
        let e = req(json!({})).validate(&sample()).unwrap_err();
        for f in ["email", "service", "offices", "windows"] {
            assert_eq!(e.get(f).map(|e| e.code), Some("required"), "{f}");
        }
    }

    #[test]
    fn a_window_when_no_chosen_office_is_open_is_refused() {
        let e = req(
            json!({"email": "a@b.de", "service": "id-card", "offices": ["bilk"],
            "windows": {"sun": [8]}}),
        )
        .validate(&sample())
        .unwrap_err();
        assert_eq!(e.get("windows").map(|e| e.code), Some("closed"));
    }

    #[test]
    fn the_refusal_names_every_window_no_chosen_office_is_open_for() {
        // Bilk opens at 8 and is closed at weekends; 8 on Monday is fine.
        let e = req(
            json!({"email": "a@b.de", "service": "id-card", "offices": ["bilk"],
            "windows": {"mon": [7, 8], "sat": [9]}}),
        )
        .validate(&sample())
        .unwrap_err();
        let w = e.get("windows").unwrap();
        assert_eq!(w.code, "closed");
        assert_eq!(
            w.message,
            "mon 7–8, sat 9–10: none of the chosen offices is open then"
        );
        assert_eq!(
            w.windows,
            [
                Window::new(Weekday::Mon, 7).unwrap(),
                Window::new(Weekday::Sat, 9).unwrap()
            ]
        );
        // Many are cut short.
        let e = req(
            json!({"email": "a@b.de", "service": "id-card", "offices": ["bilk"],
            "windows": {"sun": [8, 9, 10, 11, 12, 13, 14, 15]}}),
        )
        .validate(&sample())
        .unwrap_err();
        let w = e.get("windows").unwrap();
        assert_eq!(w.windows.len(), 8);
        assert!(
            w.message.starts_with("sun 8–9, sun 9–10, "),
            "{}",
            w.message
        );
        assert!(w.message.contains("sun 13–14, …: none"), "{}", w.message);
    }

    #[test]
    fn a_window_open_at_one_of_several_offices_is_accepted() {
        // Saturday morning: only Altstadt is open.
        let w = req(
            json!({"email": "a@b.de", "service": "id-card", "offices": ["bilk", "altstadt"],
            "windows": {"sat": [10]}, "language": "en"}),
        )
        .validate(&sample())
        .unwrap();
        let lines = queue_lines(
            &NewWishView {
                offices: &w.offices,
                windows: &w.windows,
            },
            &sample(),
        );
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].0.as_ref(), "altstadt");
    }

    #[test]
    fn wrong_types_and_ranges_are_field_errors() {
        let e = req(json!({"email": 5, "service": "id-card", "offices": "bilk",
            "windows": {"mon": [25]}, "language": "fr"}))
        .validate(&sample())
        .unwrap_err();
        assert_eq!(e.get("email").map(|e| e.code), Some("required"));
        assert_eq!(e.get("offices").map(|e| e.code), Some("required"));
        assert_eq!(e.get("windows").map(|e| e.code), Some("invalid"));
        assert_eq!(e.get("language").map(|e| e.code), Some("invalid"));
    }

    /// Any JSON value at all, nested a few levels.
    pub(crate) fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number)),
            "\\PC{0,12}".prop_map(serde_json::Value::from),
            prop_oneof!["mon", "fri", "sun", "bilk", "id-card", "a@b.de", "de", "en"]
                .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        "email", "service", "offices", "windows", "language", "mon", "tue", "x"
                    ]
                    .prop_map(String::from),
                    inner,
                    0..6
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

        /// 10 000 arbitrary JSON documents as wish requests: either refused by serde or validated,
        /// never a panic; whatever validates satisfies the limits.
        #[test]
        fn any_json_wish_validates_without_panic(v in arb_json()) {
            if let Ok(r) = serde_json::from_value::<WishRequest>(v)
                && let Ok(new) = r.validate(&sample())
            {
                prop_assert!(!new.offices.is_empty() && new.offices.len() <= MAX_OFFICES);
                prop_assert!(!new.windows.is_empty() && new.windows.len() <= MAX_WINDOWS);
            }
        }

        #[test]
        fn validation_never_panics_on_arbitrary_json(
            email in proptest::option::of("\\PC{0,30}"),
            offices in proptest::collection::vec("[a-z]{0,10}", 0..4),
            day in "[a-z]{0,4}",
            hours in proptest::collection::vec(-5i64..30, 0..5),
        ) {
            let r = req(json!({"email": email, "service": "id-card", "offices": offices, "windows": {day: hours}}));
            let _ = r.validate(&sample());
        }
    }
}
