//! The JSON shapes of the public contracts (DESIGN.md), and the form's fields in the JSON
//! contract's shape.

use crate::domain::offer::AppointmentStatus;
use crate::domain::request::Given;
use crate::domain::slot::SlotRow;
use crate::domain::time::rfc3339;
use crate::domain::wish::windows_map;
use crate::domain::{Catalog, DayHours, Language, Offer, Slot, Wish, WishDraft};
use serde::Deserialize;
use serde_json::{Value, json};

/// `POST /api/wishes` as it arrives: every field loose, so that each problem can be named by
/// field ([`WishDraft::validate`]) instead of refusing the whole body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WishRequest {
    #[serde(default)]
    pub email: Option<Value>,
    #[serde(default)]
    pub service: Option<Value>,
    #[serde(default)]
    pub offices: Option<Value>,
    #[serde(default)]
    pub windows: Option<Value>,
    #[serde(default)]
    pub language: Option<Value>,
    #[serde(default)]
    pub persons: Option<Value>,
    /// The solved proof-of-work challenge (the widget's payload), when one is asked for.
    #[serde(default)]
    pub altcha: Option<Value>,
}

/// The fields `POST /api/wishes` takes.
pub const WISH_FIELDS: [&str; 7] = [
    "email", "service", "offices", "windows", "language", "persons", "altcha",
];
/// The fields of a row of `PUT /admin/slots`.
pub const SLOT_FIELDS: [&str; 7] = [
    "id", "office", "service", "start", "minutes", "status", "persons",
];

/// The fields of a JSON object that are not among `known`, each with a message naming the
/// known ones (keyed `{prefix}{field}`): a typo such as `window` is refused, not ignored.
#[must_use]
pub fn unknown_fields(
    object: &serde_json::Map<String, Value>,
    known: &[&str],
    prefix: &str,
) -> std::collections::BTreeMap<String, String> {
    object
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| {
            (
                format!("{prefix}{k}"),
                format!("unknown field; the fields are {}", known.join(", ")),
            )
        })
        .collect()
}

/// A field's text; `None` when it is missing or not a text.
fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

/// A count as given: absent (or null), a whole number, or anything else.
fn whole(v: Option<&Value>) -> Given {
    match v.filter(|v| !v.is_null()).map(Value::as_u64) {
        None => Given::Absent,
        Some(Some(n)) => Given::Whole(n),
        Some(None) => Given::NotWhole,
    }
}

/// A JSON value as text: a text as it is, anything else as its JSON (which names no id or code).
fn as_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

impl WishRequest {
    /// The proof of work as sent: a string, or anything else as its JSON (which no check takes).
    #[must_use]
    pub fn proof(&self) -> Option<String> {
        match self.altcha.as_ref()? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    /// The request in the contract's shape, for the checks against the catalogue.
    #[must_use]
    pub fn draft(&self) -> WishDraft {
        WishDraft {
            email: text(self.email.as_ref()),
            service: text(self.service.as_ref()),
            offices: self
                .offices
                .as_ref()
                .and_then(Value::as_array)
                .map(|list| list.iter().map(as_text).collect()),
            windows: self
                .windows
                .as_ref()
                .and_then(Value::as_object)
                .map(|days| {
                    days.iter()
                        .map(|(day, hours)| DayHours {
                            day: day.clone(),
                            hours: hours
                                .as_array()
                                .map(|hs| hs.iter().map(Value::as_u64).collect()),
                        })
                        .collect()
                }),
            language: self.language.as_ref().filter(|v| !v.is_null()).map(as_text),
            persons: whole(self.persons.as_ref()),
        }
    }
}

/// A wish as a JSON body: an object whose fields are all among `known` (else `400` naming the
/// others), each then checked by field ([`WishDraft::validate`]); `shape` names the object the
/// body must be in the `400` for anything else.
pub(super) fn wish_request_json(
    body: &[u8],
    known: &[&str],
    shape: &str,
) -> Result<WishRequest, Box<axum::response::Response>> {
    use axum::http::StatusCode;
    let not_a_wish = |why: &str| {
        super::json_error(
            StatusCode::BAD_REQUEST,
            &format!("body is not {shape}{why}"),
            json!({}),
        )
    };
    let object = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(Box::new(not_a_wish(""))),
        Err(e) => return Err(Box::new(not_a_wish(&format!(": {e}")))),
    };
    let unknown = unknown_fields(&object, known, "");
    if !unknown.is_empty() {
        return Err(Box::new(super::json_error(
            StatusCode::BAD_REQUEST,
            "unknown fields",
            json!(unknown),
        )));
    }
    serde_json::from_value(Value::Object(object))
        .map_err(|e| Box::new(not_a_wish(&format!(": {e}"))))
}

/// One row of `PUT /admin/slots` as it arrives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotInput {
    pub id: Option<Value>,
    pub office: Option<Value>,
    pub service: Option<Value>,
    pub start: Option<Value>,
    pub minutes: Option<Value>,
    pub status: Option<Value>,
    #[serde(default)]
    pub persons: Option<Value>,
}

impl SlotInput {
    /// The row in the contract's shape, for the checks against the catalogue.
    #[must_use]
    pub fn row(&self) -> SlotRow {
        SlotRow {
            id: text(self.id.as_ref()),
            office: text(self.office.as_ref()),
            service: text(self.service.as_ref()),
            start: text(self.start.as_ref()),
            minutes: self.minutes.as_ref().and_then(Value::as_u64),
            status: text(self.status.as_ref()),
            persons: whole(self.persons.as_ref()),
        }
    }
}

pub(super) fn offices_json(c: &Catalog, lang: Language) -> serde_json::Value {
    json!(c
        .offices
        .iter()
        .map(|o| json!({
            "id": o.id,
            "name": o.name,
            "address": o.address,
            "services": o.services.iter().filter_map(|s| c.service(s)).map(|s| json!({"id": s.id, "name": s.name.get(lang)})).collect::<Vec<_>>(),
            "opening_hours": o.opening_hours,
            "phone": o.phone,
        }))
        .collect::<Vec<_>>())
}

/// The form's fields in the contract's shape (`offices` repeated, windows as `w=mon-8`), and the
/// values to show again in the form.
pub(super) fn form_to_request(body: &[u8]) -> (WishDraft, Value) {
    let mut draft = WishDraft {
        offices: Some(Vec::new()),
        ..WishDraft::default()
    };
    let mut days: Vec<DayHours> = Vec::new();
    let mut window_keys = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "email" => draft.email = Some(v.into_owned()),
            "service" => draft.service = Some(v.into_owned()),
            "language" => draft.language = Some(v.into_owned()),
            "persons" => {
                draft.persons = v.parse::<u64>().map_or(Given::NotWhole, Given::Whole);
            }
            "offices" => draft.offices.get_or_insert_default().push(v.into_owned()),
            "w" => {
                if let Some((day, hour)) = v.split_once('-') {
                    // A non-numeric hour is one validation refuses with a message.
                    let hour = hour.parse::<u64>().ok();
                    match days.iter_mut().find(|d| d.day == day) {
                        Some(d) => d.hours.get_or_insert_default().push(hour),
                        None => days.push(DayHours {
                            day: day.to_owned(),
                            hours: Some(vec![hour]),
                        }),
                    }
                    window_keys.push(v.into_owned());
                }
            }
            _ => {}
        }
    }
    let values = json!({"email": draft.email, "service": draft.service, "offices": draft.offices, "windows": window_keys, "persons": match draft.persons { Given::Whole(n) => Some(n), _ => None }});
    // In the JSON contract's order: weekdays sorted by their key.
    days.sort_by(|a, b| a.day.cmp(&b.day));
    draft.windows = (!days.is_empty()).then_some(days);
    (draft, values)
}

/// The form's proof of work (the widget's hidden `altcha` field), when it sent one.
pub(super) fn form_proof(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "altcha")
        .map(|(_, v)| v.into_owned())
}

pub(super) fn wish_json(w: &Wish) -> serde_json::Value {
    json!({
        "id": w.id,
        "status": w.status.as_str(),
        "service": w.service,
        "offices": w.offices,
        "windows": windows_map(&w.windows),
        "language": w.language.code(),
        "persons": w.persons,
    })
}

/// Every slot an offer holds (one, or a family's run), each in the contract's slot shape.
fn run_json(o: &Offer) -> Vec<serde_json::Value> {
    o.run()
        .iter()
        .map(|s| json!({"id": s.id, "office": o.office, "service": o.service, "start": rfc3339(s.start), "minutes": s.minutes}))
        .collect()
}

pub(super) fn offer_json(o: &Offer, now: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    let slots = run_json(o);
    json!({
        "id": o.id,
        "status": o.effective_status(now).as_str(),
        "deadline": rfc3339(o.deadline),
        "slot": slots[0],
        "slots": slots,
        "persons": o.persons,
    })
}

/// `/a/{token}`'s JSON: `slot` the first slot, `slots` every slot it holds (a family's run),
/// `earlier` while its wish looks for an earlier appointment.
pub(super) fn appointment_json(
    o: &Offer,
    status: AppointmentStatus,
    earlier: bool,
) -> serde_json::Value {
    let slots = run_json(o);
    json!({"id": o.id, "status": status.as_str(), "slot": slots[0], "slots": slots,
        "persons": o.persons, "earlier": earlier})
}

pub(super) fn slot_json(s: &Slot) -> serde_json::Value {
    let status = match s.status {
        crate::domain::SlotStatus::Free => "free",
        crate::domain::SlotStatus::Offered => "offered",
        crate::domain::SlotStatus::Booked => "booked",
    };
    let mut v = json!({"id": s.id, "office": s.office, "service": s.service, "start": rfc3339(s.start), "minutes": s.minutes, "status": status, "persons": s.persons});
    if let Some(w) = &s.wish {
        v["wish"] = json!(w);
    }
    v
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::request::{MAX_OFFICES, MAX_WINDOWS};
    use crate::domain::slot::SlotStatus;
    use crate::domain::wish::{NewWishView, queue_lines};
    use crate::domain::{Weekday, Window};
    use crate::testing::sample;
    use proptest::prelude::*;
    use serde_json::json;

    fn req(v: serde_json::Value) -> WishDraft {
        serde_json::from_value::<WishRequest>(v).unwrap().draft()
    }

    fn input(json: serde_json::Value) -> SlotRow {
        serde_json::from_value::<SlotInput>(json).unwrap().row()
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
                && let Ok(new) = r.draft().validate(&sample())
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

    #[test]
    fn a_complete_row_is_accepted_and_start_is_normalised_to_utc() {
        let s = input(
            serde_json::json!({"id": "b-1", "office": "bilk", "service": "id-card",
            "start": "2024-01-24T08:30:00+01:00", "minutes": 15, "status": "free"}),
        )
        .validate(&sample())
        .unwrap();
        assert_eq!(s.start.to_rfc3339(), "2024-01-24T07:30:00+00:00");
        assert_eq!(s.status, SlotStatus::Free);
    }

    #[test]
    fn every_bad_field_is_named() {
        let e = input(
            serde_json::json!({"id": 5, "office": "mars", "service": "x",
            "start": "tomorrow", "minutes": 0, "status": "offered"}),
        )
        .validate(&sample())
        .unwrap_err();
        for f in ["id", "office", "service", "start", "minutes", "status"] {
            assert!(e.get(f).is_some(), "{f} not reported");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 10_000, failure_persistence: None, ..Default::default() })]

        /// 10 000 arbitrary slot batches (any JSON): refused by serde or checked row by row,
        /// never a panic.
        #[test]
        fn any_slot_batch_is_checked_without_panic(v in arb_json()) {
            if let Ok(rows) = serde_json::from_value::<Vec<SlotInput>>(v) {
                for row in rows {
                    let _ = row.row().validate(&sample());
                }
            }
        }
    }

    #[test]
    fn a_service_the_office_does_not_offer_is_refused() {
        let e = input(
            serde_json::json!({"id": "k", "office": "kaiserswerth", "service": "passport",
            "start": "2024-01-24T08:30:00+01:00", "minutes": 15, "status": "free"}),
        )
        .validate(&sample())
        .unwrap_err();
        assert_eq!(e.get("service").map(|f| f.code), Some("not_offered"));
    }
}
