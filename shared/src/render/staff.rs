//! The staff console's page models.

use super::texts;
use crate::domain::stats::Overview;
use crate::domain::{Catalog, Language, Weekday};
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
                   "declined": g.declined_28d, "expired": g.expired_28d})
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
    use crate::domain::catalog::tests::sample;

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
}
