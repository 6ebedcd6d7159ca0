//! The JSON shapes of the public contracts (DESIGN.md), and the form's fields in the JSON
//! contract's shape.

use crate::domain::time::rfc3339;
use crate::domain::wish::windows_map;
use crate::domain::{Catalog, Language, Offer, Slot, Wish, WishRequest};
use serde_json::json;
use std::collections::BTreeMap;

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
        }))
        .collect::<Vec<_>>())
}

/// The form's fields into the JSON contract's shape: `offices` repeated, windows as `w=mon-8`.
pub(super) fn form_to_request(body: &[u8]) -> (WishRequest, serde_json::Value) {
    let mut email = None;
    let mut service = None;
    let mut language = None;
    let mut offices = Vec::new();
    let mut windows: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    let mut window_keys = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "email" => email = Some(v.into_owned()),
            "service" => service = Some(v.into_owned()),
            "language" => language = Some(v.into_owned()),
            "offices" => offices.push(v.into_owned()),
            "w" => {
                if let Some((day, hour)) = v.split_once('-') {
                    // A non-numeric hour becomes a value validation will refuse with a message.
                    let hour = hour
                        .parse::<u64>()
                        .map_or_else(|_| json!(hour), |h| json!(h));
                    windows.entry(day.to_owned()).or_default().push(hour);
                    window_keys.push(v.into_owned());
                }
            }
            _ => {}
        }
    }
    let values =
        json!({"email": email, "service": service, "offices": offices, "windows": window_keys});
    let request = WishRequest {
        email: email.map(serde_json::Value::from),
        service: service.map(serde_json::Value::from),
        offices: Some(json!(offices)),
        windows: (!windows.is_empty()).then(|| json!(windows)),
        language: language.map(serde_json::Value::from),
    };
    (request, values)
}

pub(super) fn wish_json(w: &Wish) -> serde_json::Value {
    json!({
        "id": w.id,
        "status": w.status.as_str(),
        "service": w.service,
        "offices": w.offices,
        "windows": windows_map(&w.windows),
        "language": w.language.code(),
    })
}

pub(super) fn offer_json(o: &Offer, now: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    json!({
        "id": o.id,
        "status": o.effective_status(now).as_str(),
        "deadline": rfc3339(o.deadline),
        "slot": {"id": o.slot, "office": o.office, "service": o.service, "start": rfc3339(o.start), "minutes": o.minutes},
    })
}

pub(super) fn slot_json(s: &Slot) -> serde_json::Value {
    let status = match s.status {
        crate::domain::SlotStatus::Free => "free",
        crate::domain::SlotStatus::Offered => "offered",
        crate::domain::SlotStatus::Booked => "booked",
    };
    let mut v = json!({"id": s.id, "office": s.office, "service": s.service, "start": rfc3339(s.start), "minutes": s.minutes, "status": status});
    if let Some(w) = &s.wish {
        v["wish"] = json!(w);
    }
    v
}
