//! The staff console's page models.

use super::texts;
use crate::domain::allocation::{AllocationReport, Problem};
use crate::domain::staff::{AuditAction, AuditEntry};
use crate::domain::stats::Overview;
use crate::domain::wait::Place;
use crate::domain::{Catalog, Language, Slot, SlotStatus, Weekday, Wish};
use serde_json::{Value, json};

/// The overview page: a table of the lines and offers per office and service, then per office
/// a weekday × hour table of the wishes waiting (the heat map), each cell shaded by its share of
/// the office's busiest hour and always carrying its number.
#[must_use]
pub fn overview(overview: &Overview, catalog: &Catalog, lang: Language) -> Value {
    let t = texts(lang);
    let office_name = |id: &str| {
        catalog
            .office(id)
            .map_or_else(|| id.to_owned(), |o| o.name.clone())
    };
    let service_name = |id: &str| {
        catalog
            .service(id)
            .map_or_else(|| id.to_owned(), |s| s.name.get(lang).to_owned())
    };
    let groups: Vec<Value> = overview
        .groups
        .iter()
        .map(|g| {
            json!({"office": office_name(&g.office), "service": service_name(&g.service),
                   "waiting": g.waiting, "open": g.offers_open, "accepted": g.accepted_28d,
                   "declined": g.declined_28d, "expired": g.expired_28d,
                   "median": median_wait(t, g, lang)})
        })
        .collect();
    let mut heat = Vec::new();
    for office in &catalog.offices {
        let counts = overview.heat.get(office.id.as_ref());
        let hours: Vec<u8> = (0..24u8)
            .filter(|h| Weekday::ALL.iter().any(|d| office.is_open(*d, *h)))
            .collect();
        let days: Vec<Weekday> = Weekday::ALL
            .into_iter()
            .filter(|d| hours.iter().any(|h| office.is_open(*d, *h)))
            .collect();
        let max = counts.map_or(0, |c| c.values().copied().max().unwrap_or(0));
        let rows: Vec<Value> = days
            .iter()
            .map(|day| {
                let cells: Vec<Value> = hours
                    .iter()
                    .map(|h| {
                        let open = office.is_open(*day, *h);
                        let n = counts
                            .and_then(|c| c.get(&(*day, *h)))
                            .copied()
                            .unwrap_or(0);
                        json!({"open": open, "count": n, "level": heat_level(n, max)})
                    })
                    .collect();
                json!({"day": t.weekday(*day), "cells": cells})
            })
            .collect();
        heat.push(json!({
            "office": office.name,
            "hours": hours.iter().map(|h| t.fill("hour_range", &[("from", &h.to_string()), ("to", &(h + 1).to_string())])).collect::<Vec<_>>(),
            "rows": rows,
            "empty": max == 0,
        }));
    }
    json!({"title": t.get("staff_overview_title"), "groups": groups, "heat": heat})
}

/// What the slots page lists.
pub struct SlotsModel<'a> {
    /// The office chosen for the list of free slots.
    pub office: Option<&'a str>,
    pub listed: Option<&'a [Slot]>,
    /// The slot looked up by id.
    pub found: Option<&'a Slot>,
    pub not_found: bool,
}

/// The slots page: the upload form, the look-up by id, an office's free slots, each slot with
/// the buttons its state allows (release a booked one, withdraw one that is not booked).
#[must_use]
pub fn slots(catalog: &Catalog, lang: Language, model: &SlotsModel<'_>) -> Value {
    let t = texts(lang);
    let slot_json = |s: &Slot| {
        let office = catalog
            .office(&s.office)
            .map_or_else(|| s.office.as_ref().to_owned(), |o| o.name.clone());
        let service = catalog.service(&s.service).map_or_else(
            || s.service.as_ref().to_owned(),
            |x| x.name.get(lang).to_owned(),
        );
        let status = match s.status {
            SlotStatus::Free => t.get("staff_slot_free"),
            SlotStatus::Offered => t.get("staff_slot_offered"),
            SlotStatus::Booked => t.get("staff_slot_booked_status"),
        };
        json!({"id": s.id.as_ref(), "office": office, "service": service,
               "start": t.when_long(s.start), "minutes": s.minutes, "status": status,
               "release": s.status == SlotStatus::Booked, "withdraw": s.status != SlotStatus::Booked})
    };
    let offices: Vec<Value> = catalog
        .offices
        .iter()
        .map(|o| json!({"id": o.id.as_ref(), "name": o.name, "selected": model.office == Some(o.id.as_ref())}))
        .collect();
    let office_name = model
        .office
        .and_then(|o| catalog.office(o))
        .map(|o| o.name.clone());
    json!({
        "title": t.get("staff_slots_title"),
        "offices": offices,
        "office_name": office_name,
        "listed": model.listed.map(|l| l.iter().map(slot_json).collect::<Vec<_>>()),
        "found": model.found.map(slot_json),
        "missing": model.not_found,
    })
}

/// The support page: per wish found its state, service, offices, hours, place in line, and a
/// cancel button while it is active.
#[must_use]
pub fn support(found: Option<&[(Wish, Vec<Place>)]>, catalog: &Catalog, lang: Language) -> Value {
    let t = texts(lang);
    let wishes: Option<Vec<Value>> = found.map(|found| {
        found
            .iter()
            .map(|(wish, places)| {
                // The citizen's own wish page, as a model: its details and places in line.
                let page = super::views::wish_page(wish, places, catalog, "", lang, None);
                let mut details = page["details"].clone();
                if let Some(rows) = details.as_array_mut() {
                    let when = wish.confirmed_at.unwrap_or(wish.created_at);
                    rows.push(json!([t.get("staff_support_since"), t.when_long(when)]));
                    rows.push(json!([t.get("staff_support_wish_id"), wish.id.to_string()]));
                }
                // A wish taken by phone: whom to call; it hears of nothing by mail.
                let phone = wish.contact.phone();
                if let (Some(p), Some(rows)) = (phone, details.as_array_mut()) {
                    rows.insert(0, json!([t.get("staff_phone_name"), p.name.as_ref()]));
                    rows.insert(1, json!([t.get("staff_phone_number"), p.number.as_ref()]));
                }
                let hint = if phone.is_some() {
                    "staff_support_cancel_hint_phone"
                } else {
                    "staff_support_cancel_hint"
                };
                json!({"id": wish.id.to_string(), "details": details, "queue": page["queue"],
                       "cancel": wish.status.is_active(), "cancel_hint": t.get(hint)})
            })
            .collect()
    });
    json!({"title": t.get("staff_support_title"), "wishes": wishes})
}

/// The call list: per open offer of a wish taken by phone, whom to call (name, number), what
/// is offered (office, service, time), until when the answer is due, and the calls that reached
/// nobody so far.
#[must_use]
pub fn calls(calls: &[crate::app::Call], catalog: &Catalog, lang: Language) -> Value {
    let t = texts(lang);
    let rows: Vec<Value> = calls
        .iter()
        .filter_map(|c| {
            let phone = c.wish.contact.phone()?;
            let attempts: Vec<String> = c
                .attempts
                .iter()
                .map(|a| {
                    t.fill(
                        "staff_calls_attempt",
                        &[("when", &t.when_long(a.at)), ("who", &a.actor)],
                    )
                })
                .collect();
            Some(json!({
                "offer": c.offer.id.to_string(),
                "name": phone.name.as_ref(),
                "number": phone.number.as_ref(),
                "office": super::views::office_name(catalog, &c.offer.office),
                "service": super::views::service_name(catalog, &c.offer.service, lang),
                "start": t.when_long(c.offer.start),
                "deadline": t.when_long(c.offer.deadline),
                "wish": c.wish.id.to_string(),
                "attempts": attempts,
            }))
        })
        .collect();
    json!({"title": t.get("staff_calls_title"), "calls": rows})
}

/// The audit log page.
#[must_use]
pub fn audit(entries: &[AuditEntry], lang: Language) -> Value {
    let t = texts(lang);
    let rows: Vec<Value> = entries
        .iter()
        .map(|e| {
            let what = match e.action {
                AuditAction::Viewed => t.get("staff_audit_viewed"),
                AuditAction::FoundNothing => t.get("staff_audit_found_nothing"),
                AuditAction::Cancelled => t.get("staff_audit_cancelled"),
                AuditAction::Entered => t.get("staff_audit_entered"),
                AuditAction::Accepted => t.get("staff_audit_accepted"),
                AuditAction::Declined => t.get("staff_audit_declined"),
                AuditAction::NotReached => t.get("staff_audit_not_reached"),
            };
            json!({"when": t.when_long(e.at), "who": e.actor, "what": what,
                   "wish": e.wish.as_ref().map(ToString::to_string)})
        })
        .collect();
    json!({"title": t.get("staff_audit_title"), "entries": rows})
}

/// The supervisors' allocation record page: the period's form (`from`, `to` as entered, with
/// `field_errors` by field), and after a verification its summary, each finding by chain and
/// position, and the chains whose start has expired.
#[must_use]
pub fn allocations(
    (from, to): (&str, &str),
    field_errors: &std::collections::BTreeMap<String, String>,
    report: Option<&AllocationReport>,
    lang: Language,
) -> Value {
    let t = texts(lang);
    let errors: Vec<Value> = field_errors
        .keys()
        .map(|field| {
            let text = if field == "from" {
                t.get("staff_alloc_error_from")
            } else {
                t.get("staff_alloc_error_to")
            };
            json!({"field": field, "text": text})
        })
        .collect();
    let report = report.map(|r| {
        let findings: Vec<Value> = r
            .findings
            .iter()
            .map(|f| {
                let position = match f.problem {
                    Problem::Missing { through } if through != f.seq => {
                        format!("{}–{through}", f.seq)
                    }
                    _ => f.seq.to_string(),
                };
                let what = t.get(match f.problem {
                    Problem::Edited => "staff_alloc_edited",
                    Problem::Missing { .. } => "staff_alloc_missing",
                    Problem::OutOfOrder(_) => "staff_alloc_out_of_order",
                    Problem::Unreadable(_) => "staff_alloc_unreadable",
                    Problem::Rule(_) => "staff_alloc_rule",
                });
                json!({"line": f.line, "position": position, "what": what,
                       "detail": f.problem.to_string()})
            })
            .collect();
        let expired: Vec<Value> = r
            .expired_starts
            .iter()
            .map(|(line, seq)| json!({"line": line, "seq": seq}))
            .collect();
        let summary = t
            .get(if r.is_clean() {
                "staff_alloc_clean"
            } else {
                "staff_alloc_found"
            })
            .replace("{records}", &r.records.to_string())
            .replace("{lines}", &r.lines.to_string())
            .replace("{findings}", &r.findings.len().to_string());
        json!({"clean": r.is_clean(), "summary": summary, "findings": findings,
               "expired": expired,
               "period": format!("{} – {}", r.period.from, r.period.to)})
    });
    json!({"title": t.get("staff_alloc_title"), "from": from, "to": to, "errors": errors,
           "from_invalid": field_errors.contains_key("from"),
           "to_invalid": field_errors.contains_key("to"),
           "report": report})
}

/// The median wait as the overview says it: "3 days (12 wishes)", or why there is none yet.
fn median_wait(t: &super::Texts, g: &crate::domain::stats::GroupFigures, lang: Language) -> String {
    let n = g.first_offers_28d.to_string();
    match g.median_days_to_offer {
        Some(days) => t.fill(
            "staff_median_wait",
            &[("days", &super::views::decimal(days, lang)), ("n", &n)],
        ),
        None => t.fill("staff_median_too_few", &[("n", &n)]),
    }
}

/// 0 (none) to 4 (the office's busiest hour), for the cell's shade.
fn heat_level(n: i64, max: i64) -> i64 {
    if n <= 0 || max <= 0 {
        return 0;
    }
    (n * 4 + max - 1) / max
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample;

    #[test]
    fn the_busiest_hour_is_the_darkest_and_an_empty_one_is_blank() {
        assert_eq!(heat_level(0, 10), 0);
        assert_eq!(heat_level(1, 10), 1);
        assert_eq!(heat_level(10, 10), 4);
        assert_eq!(heat_level(6, 10), 3);
    }

    #[test]
    fn the_overview_renders_in_both_languages_with_its_heat_map() {
        let catalog = sample();
        let mut o = Overview::default();
        let office = catalog.offices[0].id.as_ref().to_owned();
        let service = catalog.offices[0].services[0].as_ref().to_owned();
        o.group(&office, &service).waiting = 3;
        o.heat
            .entry(office.clone())
            .or_default()
            .insert((Weekday::Mon, 8), 3);
        for lang in [Language::De, Language::En] {
            let mut ctx = overview(&o, &catalog, lang);
            ctx["staff"] = json!({"name": "clerk@example.org", "role": "Clerk", "csrf": "x"});
            let html = crate::render::render("staff_overview.html", lang, ctx).unwrap();
            assert!(html.contains("<caption"), "{html}");
            assert!(html.contains("heat-4"), "{html}");
            assert!(html.contains("name=\"csrf\" value=\"x\""));
        }
    }

    #[test]
    fn the_median_wait_is_shown_with_its_count_or_why_there_is_none() {
        let catalog = sample();
        let mut o = Overview::default();
        let g = o.group("bilk", "id-card");
        (g.median_days_to_offer, g.first_offers_28d) = (Some(2.5), 6);
        let g = o.group("bilk", "passport");
        g.first_offers_28d = 2;
        let said = |lang| {
            let ctx = overview(&o, &catalog, lang);
            let median = |i: usize| ctx["groups"][i]["median"].as_str().unwrap().to_owned();
            (median(0), median(1))
        };
        assert_eq!(
            said(Language::De),
            (
                "2,5 Tage (6 Wünsche)".to_owned(),
                "– (erst 2 Wünsche mit erstem Angebot; mindestens 5 nötig)".to_owned()
            )
        );
        assert_eq!(said(Language::En).0, "2.5 days (6 wishes)");
    }
}

#[cfg(test)]
mod slot_page_tests {
    use super::*;
    use crate::testing::sample;

    #[test]
    fn the_slots_page_renders_with_a_slot_and_a_list_in_both_languages() {
        let catalog = sample();
        let slot: Slot = serde_json::from_value(json!({"id": "s-1", "office": "bilk",
            "service": "id-card", "start": "2030-01-07T08:00:00.000Z", "minutes": 15,
            "status": "booked", "offer": null, "wish": null}))
        .unwrap();
        for lang in [Language::De, Language::En] {
            let listed = [slot.clone()];
            let mut ctx = slots(
                &catalog,
                lang,
                &SlotsModel {
                    office: Some("bilk"),
                    listed: Some(&listed),
                    found: Some(&slot),
                    not_found: false,
                },
            );
            ctx["staff"] = json!({"name": "clerk@example.org", "role": "Clerk", "csrf": "x"});
            ctx["errors"] = json!(["Zeile 3, start: bad"]);
            let html = crate::render::render("staff_slots.html", lang, ctx).unwrap();
            assert!(html.contains("name=\"id\" value=\"s-1\""), "{html}");
            assert!(html.contains("Zeile 3, start: bad"));
        }
    }

    #[test]
    fn the_allocation_page_names_each_finding_by_chain_and_position_in_both_languages() {
        use crate::domain::allocation::{Finding, Period};
        let today = chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
        let line = "bilk#id-card#mon#8".to_owned();
        let report = AllocationReport {
            period: Period::parse(Some("2024-01-01"), None, today).unwrap(),
            records: 5,
            lines: 1,
            findings: vec![
                Finding {
                    line: line.clone(),
                    seq: 3,
                    problem: Problem::Edited,
                },
                Finding {
                    line: line.clone(),
                    seq: 4,
                    problem: Problem::Missing { through: 5 },
                },
            ],
            expired_starts: vec![(line, 2)],
        };
        for lang in [Language::De, Language::En] {
            let mut ctx = allocations(
                ("2024-01-01", ""),
                &std::collections::BTreeMap::default(),
                Some(&report),
                lang,
            );
            ctx["staff"] = json!({"name": "s@example.org", "role": "Supervisor", "csrf": "x", "supervisor": true});
            let html = crate::render::render("staff_allocations.html", lang, ctx).unwrap();
            assert!(html.contains("bilk#id-card#mon#8"), "{html}");
            assert!(html.contains("4–5"), "{html}");
            assert!(html.contains("<caption"), "{html}");
            assert!(html.contains("/staff/allocations?lang="), "{html}");
            // A refused period names its field.
            let errors = [("to".to_owned(), "x".to_owned())].into();
            let mut ctx = allocations(("2024-01-01", "x"), &errors, None, lang);
            ctx["staff"] = json!({"csrf": "x", "supervisor": true});
            let html = crate::render::render("staff_allocations.html", lang, ctx).unwrap();
            assert!(html.contains("href=\"#to\""), "{html}");
            assert!(html.contains("aria-invalid"), "{html}");
        }
    }
}
