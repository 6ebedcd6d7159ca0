//! What a citizen asks for (`POST /api/wishes`, the form) and how it is checked against the
//! catalogue: every problem named by field.

use super::catalog::Catalog;
use super::email::Email;
use super::ids::{OfficeId, ServiceId};
use super::language::Language;
use super::persons::MAX_PERSONS;
use super::time::{Weekday, Window};
use serde::Serialize;
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

/// A wish request in the contract's shape, before any check against the catalogue: each field
/// as given, `None` where it is missing (for email and service also where it is not a text). The
/// JSON request (`shared::http::dto::WishRequest`) and the form both become one of these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WishDraft {
    pub email: Option<String>,
    pub service: Option<String>,
    /// `None` when not a list. An element that is not a text is kept as its JSON text, which
    /// names no office.
    pub offices: Option<Vec<String>>,
    /// `None` when not an object of weekday → hours.
    pub windows: Option<Vec<DayHours>>,
    /// `None` when missing (German). A value that is not a text is kept as its JSON text, which
    /// names no language.
    pub language: Option<String>,
    /// For how many persons (absent: one).
    pub persons: Given,
}

/// A count as given: absent, a whole number, or anything else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Given {
    #[default]
    Absent,
    Whole(u64),
    NotWhole,
}

impl Given {
    /// How many persons: one when absent, else a whole number from one to `max`; an `invalid`
    /// error for `persons` otherwise.
    pub fn persons(self, max: u8, errors: &mut FieldErrors) -> Option<u8> {
        match self {
            Given::Absent => Some(1),
            Given::Whole(n) if (1..=u64::from(max)).contains(&n) => u8::try_from(n).ok(),
            _ => errors.refuse(
                "persons",
                "invalid",
                format!("persons must be a whole number from 1 to {max}"),
            ),
        }
    }
}

/// The hours given for one weekday key, as given: `hours` is `None` when not a list, an hour is
/// `None` when it is not a whole number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayHours {
    pub day: String,
    pub hours: Option<Vec<Option<u64>>>,
}

/// What a wish asks for, checked against the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub service: ServiceId,
    pub offices: Vec<OfficeId>,
    pub windows: BTreeSet<Window>,
    pub language: Language,
    pub persons: u8,
}

/// A checked wish, ready to be stored as `pending`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWish {
    pub email: Email,
    pub service: ServiceId,
    pub offices: Vec<OfficeId>,
    pub windows: BTreeSet<Window>,
    pub language: Language,
    pub persons: u8,
}

impl WishDraft {
    /// Checks every field against the catalogue.
    ///
    /// A window is accepted when at least one chosen office offering the service is open then; it
    /// applies at each chosen office that is open then.
    ///
    /// # Errors
    /// [`FieldErrors`] with one entry per bad field.
    pub fn validate(&self, catalog: &Catalog) -> Result<NewWish, FieldErrors> {
        let mut errors = FieldErrors::default();

        let email = if let Some(s) = self.email.as_deref() {
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

        match (email, self.checked_wish(catalog, &mut errors)) {
            (Some(email), Some(what)) if errors.is_empty() => Ok(NewWish {
                email,
                service: what.service,
                offices: what.offices,
                windows: what.windows,
                language: what.language,
                persons: what.persons,
            }),
            _ => Err(errors),
        }
    }

    /// Checks what is asked for — service, offices, windows, language — against the catalogue,
    /// adding each problem to `errors`: the part of a wish that a citizen's submission and a
    /// wish a clerk takes by phone share.
    pub(crate) fn checked_wish(
        &self,
        catalog: &Catalog,
        errors: &mut FieldErrors,
    ) -> Option<Asked> {
        let language = match &self.language {
            None => Some(Language::De),
            Some(v) => {
                if let Some(l) = Language::parse(v) {
                    Some(l)
                } else {
                    errors.add("language", "invalid", "language must be \"de\" or \"en\"");
                    None
                }
            }
        };

        let service = if let Some(s) = self.service.as_deref() {
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

        let persons = self.persons.persons(MAX_PERSONS, errors);
        let offices = self.parse_offices(catalog, service.as_ref(), errors);
        let windows = self.parse_windows(errors);

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

        Some(Asked {
            service: service?,
            offices: offices?,
            windows: windows?,
            language: language?,
            persons: persons?,
        })
    }

    fn parse_offices(
        &self,
        catalog: &Catalog,
        service: Option<&ServiceId>,
        errors: &mut FieldErrors,
    ) -> Option<Vec<OfficeId>> {
        let Some(list) = &self.offices else {
            return errors.refuse("offices", "required", "please choose at least one office");
        };
        let mut offices: Vec<OfficeId> = Vec::new();
        for item in list {
            let Some(office) = catalog.office(item) else {
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
        let Some(days) = &self.windows else {
            return errors.refuse(
                "windows",
                "required",
                "please choose at least one hour on one weekday",
            );
        };
        let mut windows = BTreeSet::new();
        for DayHours { day: key, hours } in days {
            let Some(day) = Weekday::parse(key) else {
                return errors.refuse(
                    "windows",
                    "invalid",
                    format!("{key:?} is not a weekday (mon … sun)"),
                );
            };
            let Some(hours) = hours else {
                return errors.refuse(
                    "windows",
                    "invalid",
                    format!("hours for {day} must be a list, e.g. [8, 9]"),
                );
            };
            for h in hours {
                let window = h
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
