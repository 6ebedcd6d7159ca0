//! What pages and mails show of a wish or an offer: label/value rows and names from the
//! catalogue, in the reader's language. Pure functions of domain values.

use super::{rows, texts, windows_text};
use crate::domain::wait::{Place, RELEASE_WINDOW_DAYS};
use crate::domain::wish::{CLOSED_NAMED, windows_map};
use crate::domain::{
    Catalog, ExpectedWait, FieldErrors, Language, Offer, OfferStatus, OfficeId, ServiceId, Weekday,
    Window, Wish, WishStatus,
};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// A service's name in `lang`, or its id when the catalogue no longer has it.
#[must_use]
pub fn service_name(catalog: &Catalog, service: &ServiceId, lang: Language) -> String {
    catalog
        .service(service)
        .map_or_else(|| service.to_string(), |s| s.name.get(lang).to_owned())
}

/// An office's name, or its id when the catalogue no longer has it.
#[must_use]
pub fn office_name(catalog: &Catalog, office: &OfficeId) -> String {
    catalog
        .office(office)
        .map_or_else(|| office.to_string(), |o| o.name.clone())
}

#[must_use]
pub fn office_names(catalog: &Catalog, offices: &[OfficeId]) -> String {
    offices
        .iter()
        .map(|o| office_name(catalog, o))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Service, offices and windows of a wish (and how many persons, for a family).
#[must_use]
pub fn wish_rows(wish: &Wish, catalog: &Catalog, lang: Language) -> Vec<(String, String)> {
    let t = texts(lang);
    let mut details = rows(
        &[
            ("label_service", service_name(catalog, &wish.service, lang)),
            ("label_offices", office_names(catalog, &wish.offices)),
            (
                "label_windows",
                windows_text(&windows_map(&wish.windows), lang),
            ),
        ],
        lang,
    );
    if wish.persons > 1 {
        let n = wish.persons.to_string();
        let party = t.fill("persons_many", &[("n", &n)]);
        details.push((t.get("label_persons").to_owned(), party));
    }
    details
}

/// Service, office, address, time and length of an offered slot.
#[must_use]
pub fn offer_rows(offer: &Offer, catalog: &Catalog, lang: Language) -> Vec<(String, String)> {
    let t = texts(lang);
    let office = catalog.office(&offer.office);
    let mut details = rows(
        &[
            ("label_service", service_name(catalog, &offer.service, lang)),
            ("label_office", office_name(catalog, &offer.office)),
            (
                "label_address",
                office.map(|o| o.address.clone()).unwrap_or_default(),
            ),
            ("label_when", t.when_long(offer.start)),
            (
                "label_duration",
                t.fill("minutes", &[("n", &offer.total_minutes().to_string())]),
            ),
        ],
        lang,
    );
    // A family: how many come, and the whole run ("for 3 persons, 8:30–9:15").
    if offer.persons > 1 || !offer.also.is_empty() {
        let (from, to) = (t.clock(offer.start), t.clock(offer.end()));
        let n = offer.persons.to_string();
        let party = t.fill("persons_for", &[("n", &n), ("from", &from), ("to", &to)]);
        details.push((t.get("label_persons").to_owned(), party));
    }
    details
}

/// The wish page: status and details, the place in each line with a rough wait, and the
/// buttons that fit the wish's state (each a form that POSTs to the action's own URL).
#[must_use]
pub fn wish_page(
    wish: &Wish,
    places: &[Place],
    catalog: &Catalog,
    token: &str,
    lang: Language,
    title_key: Option<&str>,
) -> serde_json::Value {
    let t = texts(lang);
    let mut wish_in_lang = wish.clone();
    wish_in_lang.language = lang;
    let mut details = wish_rows(&wish_in_lang, catalog, lang);
    details.insert(
        0,
        (
            t.get("label_status").to_owned(),
            t.get(&format!("status_{}", wish.status.as_str()))
                .to_owned(),
        ),
    );
    // Looking for an earlier appointment: the one it holds stays booked until then.
    if let Some(held) = wish.earlier.as_ref().filter(|_| wish.in_line()) {
        details.insert(
            1,
            (
                t.get("label_booked").to_owned(),
                t.fill("booked_looking", &[("when", &t.when_long(held.before))]),
            ),
        );
    }
    // Where the wish stands, per line: "3 wishes ahead of yours – Bürgerbüro Bilk, Monday 8–9",
    // and a rough wait where recent releases allow one.
    let mut queue = Vec::new();
    let mut unknown = 0usize;
    {
        for place in places {
            let office = office_name(catalog, &place.office);
            let hours = t.fill(
                "hour_range",
                &[
                    ("from", &place.window.hour().to_string()),
                    ("to", &(place.window.hour() + 1).to_string()),
                ],
            );
            let key = match place.ahead {
                0 => "place_none",
                1 => "place_one",
                _ => "place_many",
            };
            let text = t.fill(
                key,
                &[
                    ("n", &place.ahead.to_string()),
                    ("office", &office),
                    ("day", t.weekday(place.window.day())),
                    ("hours", &hours),
                ],
            );
            let wait = place.wait.map(|w| {
                t.fill(
                    "queue_wait",
                    &[
                        ("days", &RELEASE_WINDOW_DAYS.to_string()),
                        ("wait", &wait_text(t, w)),
                    ],
                )
            });
            unknown += usize::from(wait.is_none());
            queue.push(json!({"text": text, "wait": wait}));
        }
    }
    // Said once, not per line.
    let queue_unknown = match unknown {
        0 => None,
        n if n == queue.len() => Some(t.get("queue_wait_unknown")),
        _ => Some(t.get("queue_wait_unknown_some")),
    };
    let mut buttons = Vec::new();
    let base = format!("/w/{token}");
    if wish.status == WishStatus::Paused {
        buttons.push(json!({"label": t.get("wish_resume"), "action": format!("{base}/confirm?lang={}", lang.code()), "class": ""}));
    }
    if wish.status == WishStatus::Pending {
        buttons.push(json!({"label": t.get("wish_confirm"), "action": format!("{base}/confirm?lang={}", lang.code()), "class": ""}));
    }
    if wish.reminded_at.is_some()
        && matches!(wish.status, WishStatus::Waiting | WishStatus::Offered)
    {
        buttons.push(json!({"label": t.get("wish_keep"), "action": format!("{base}/keep?lang={}", lang.code()), "class": ""}));
    }
    if wish.status.is_active() {
        buttons.push(json!({"label": t.get("wish_cancel"), "action": format!("{base}/cancel?lang={}", lang.code()), "class": "danger"}));
    }
    json!({"title": t.get(title_key.unwrap_or("wish_title")), "details": details, "buttons": buttons, "home": true,
        "queue": queue, "queue_unknown": queue_unknown, "queue_note": t.get("queue_note"),
        "lang_switch": format!("/w/{token}?lang={}", lang.other().code())})
}

/// What the form shows: services, offices, and per weekday the hours at least one office is open.
#[must_use]
pub fn form_context(c: &Catalog, lang: Language) -> serde_json::Value {
    let t = texts(lang);
    let days: Vec<serde_json::Value> = Weekday::ALL
        .iter()
        .filter_map(|d| {
            let hours: Vec<u8> = (0u8..24)
                .filter(|h| c.offices.iter().any(|o| o.is_open(*d, *h)))
                .collect();
            (!hours.is_empty())
                .then(|| json!({"key": d.key(), "name": t.weekday(*d), "hours": hours}))
        })
        .collect();
    json!({
        "services": c.services.iter().map(|s| json!({"id": s.id, "name": s.name.get(lang)})).collect::<Vec<_>>(),
        "offices": c.offices.iter().map(|o| {
            let hours = o
                .opening_hours
                .iter()
                .map(|(d, ranges)| {
                    let r = ranges.iter().map(|[a, b]| format!("{a}–{b}")).collect::<Vec<_>>().join(", ");
                    format!("{} {r}", t.weekday(*d))
                })
                .collect::<Vec<_>>()
                .join("; ");
            let missing: Vec<&str> = c.services.iter().filter(|s| !o.offers(&s.id)).map(|s| s.name.get(lang)).collect();
            json!({
                "id": o.id, "name": o.name, "address": o.address,
                "hours": t.fill("form_office_hours", &[("hours", &hours)]),
                "note": (!missing.is_empty()).then(|| t.fill("form_office_services_missing", &[("services", &missing.join(", "))])),
                "phone": o.dial().and(o.phone.as_deref()), "dial": o.dial(),
            })
        }).collect::<Vec<_>>(),
        "days": days,
    })
}

/// A form's field errors into its page model: `errors` (field → English message),
/// `error_codes` (field → stable code, for texts that say it in the page's language) and
/// `error_texts` (field → a sentence already in the page's language, where the code alone
/// cannot say it) — what the form templates' `field_error` reads.
pub fn add_field_errors(ctx: &mut serde_json::Value, errors: &FieldErrors, lang: Language) {
    ctx["error_codes"] = json!(
        errors
            .iter()
            .map(|(k, v)| (k.clone(), v.code))
            .collect::<BTreeMap<_, _>>()
    );
    ctx["error_texts"] = json!(localized_errors(errors, lang));
    ctx["errors"] = json!(errors.messages());
}

/// Errors that name the windows they are about, in the page's language: "Montag 7–8 Uhr: keines
/// der gewählten Bürgerbüros hat dann geöffnet …" (text `error_<field>_<code>_at`).
#[must_use]
pub fn localized_errors(errors: &FieldErrors, lang: Language) -> BTreeMap<String, String> {
    let t = texts(lang);
    errors
        .iter()
        .filter(|(_, e)| !e.windows.is_empty())
        .map(|(field, e)| {
            let shown: BTreeSet<Window> = e.windows.iter().take(CLOSED_NAMED).copied().collect();
            let mut named = windows_text(&windows_map(&shown), lang);
            if e.windows.len() > CLOSED_NAMED {
                named.push_str(", …");
            }
            let key = format!("error_{field}_{}_at", e.code);
            (field.clone(), t.fill(&key, &[("windows", &named)]))
        })
        .collect()
}

/// "about 5 days", "about 3 weeks", in the page's language (the texts fit `queue_wait`).
#[must_use]
pub fn wait_text(t: &super::Texts, wait: ExpectedWait) -> String {
    match wait {
        ExpectedWait::Days(1) => t.get("wait_day_one").to_owned(),
        ExpectedWait::Days(n) => t.fill("wait_days", &[("n", &n.to_string())]),
        ExpectedWait::Weeks(n) => t.fill("wait_weeks", &[("n", &n.to_string())]),
    }
}

/// How the offer page is asked for: its link, language, a title for the result of an action,
/// and the one action to confirm (the page behind a mail's action link).
#[derive(Debug, Clone, Copy)]
pub struct OfferPage<'a> {
    pub token: &'a str,
    pub lang: Language,
    pub title_key: Option<&'a str>,
    pub choice: Option<&'a str>,
}

/// The offer page; with `choice`, only that action's button (the page a mail's action link
/// opens: following a link never changes anything, the button does).
#[must_use]
pub fn offer_page(
    offer: &Offer,
    catalog: &Catalog,
    page: OfferPage<'_>,
    now: DateTime<Utc>,
) -> serde_json::Value {
    let OfferPage {
        token,
        lang,
        title_key,
        choice,
    } = page;
    let t = texts(lang);
    let mut details = offer_rows(offer, catalog, lang);
    let status = offer.effective_status(now);
    if status == OfferStatus::Open {
        details.extend(rows(
            &[("label_deadline", t.when_long(offer.deadline))],
            lang,
        ));
    }
    let base = format!("/o/{token}");
    let (title, paragraphs, notice, buttons) = if status == OfferStatus::Open {
        let all = [
            ("accept", "offer_accept", ""),
            ("decline", "offer_decline", "secondary"),
            ("cancel", "offer_cancel", "danger"),
        ];
        let buttons = all
            .iter()
            .filter(|(action, _, _)| choice.is_none_or(|c| c == *action))
            .map(|(action, label, class)| {
                json!({"label": t.get(label), "action": format!("{base}/{action}?lang={}", lang.code()), "class": class})
            })
            .collect::<Vec<_>>();
        let paragraphs = if choice.is_some() {
            vec![t.get("offer_confirm_choice").to_owned()]
        } else {
            let deadline = t.when_long(offer.deadline);
            vec![
                t.fill("offer_open", &[("deadline", &deadline)]),
                t.fill("offer_no_answer", &[("deadline", &deadline)]),
            ]
        };
        (
            t.get(title_key.unwrap_or("offer_title")).to_owned(),
            paragraphs,
            None,
            buttons,
        )
    } else {
        let title = match (status, title_key) {
            (OfferStatus::Accepted, _) => t.get("offer_accepted_title"),
            (OfferStatus::Declined, _) => t.get("offer_declined_title"),
            (OfferStatus::Expired, _) => t.get("offer_expired_title"),
            (OfferStatus::Withdrawn, None) => t.get("offer_withdrawn_title"),
            (_, Some(k)) => t.get(k),
            _ => t.get("offer_title"),
        };
        let notice = if status == OfferStatus::Withdrawn && title_key.is_none() {
            t.get("offer_gone_withdrawn_detail").to_owned()
        } else {
            t.get(&format!("offer_gone_{}", status.as_str())).to_owned()
        };
        (title.to_owned(), Vec::new(), Some(notice), vec![])
    };
    let lang_switch = format!("/o/{token}?lang={}", lang.other().code());
    json!({"title": title, "paragraphs": paragraphs, "notice": notice, "details": details, "buttons": buttons, "home": true, "lang_switch": lang_switch})
}

/// The page of a booked appointment (`/a/{token}`): its details, the calendar file, and, while
/// it is still to come, "find me an earlier one" (unless it looks already: `looking`) and
/// "give it back" (with `choice`, only that button: the page a link opens asks before anything
/// changes). `title_key` names what was just done.
#[must_use]
pub fn appointment_page(
    offer: &Offer,
    (status, looking): (crate::domain::offer::AppointmentStatus, bool),
    catalog: &Catalog,
    page: OfferPage<'_>,
) -> serde_json::Value {
    use crate::domain::offer::AppointmentStatus;
    let OfferPage {
        token,
        lang,
        title_key,
        choice,
    } = page;
    let t = texts(lang);
    let base = format!("/a/{token}");
    let (title, paragraphs, buttons) = match status {
        AppointmentStatus::Booked => {
            let give_back = json!({"label": t.get("appointment_return"), "action": format!("{base}/return?lang={}", lang.code()), "class": "danger", "hint": t.get("appointment_return_hint")});
            let earlier = json!({"label": t.get("appointment_earlier"), "action": format!("{base}/earlier?lang={}", lang.code()), "hint": t.get("appointment_earlier_hint")});
            let (paragraphs, buttons) = match choice {
                Some("return") => (vec![t.get("appointment_confirm_return")], vec![give_back]),
                Some(_) if !looking => (vec![t.get("appointment_confirm_earlier")], vec![earlier]),
                _ if looking => (
                    vec![
                        t.get("appointment_booked_intro"),
                        t.get("appointment_looking"),
                    ],
                    vec![give_back],
                ),
                _ => (
                    vec![t.get("appointment_booked_intro")],
                    vec![earlier, give_back],
                ),
            };
            let default_title = if looking {
                "appointment_earlier_title"
            } else {
                "appointment_title"
            };
            let paragraphs = paragraphs.into_iter().map(str::to_owned).collect();
            (
                t.get(title_key.unwrap_or(default_title)),
                paragraphs,
                buttons,
            )
        }
        AppointmentStatus::Returned => (
            t.get("appointment_returned_title"),
            vec![t.get("appointment_returned_intro").to_owned()],
            vec![],
        ),
        AppointmentStatus::Replaced => (
            t.get("appointment_replaced_title"),
            vec![t.get("appointment_replaced_intro").to_owned()],
            vec![],
        ),
        AppointmentStatus::Past => (
            t.get("appointment_past_title"),
            vec![t.get("appointment_past_intro").to_owned()],
            vec![],
        ),
    };
    let links = if matches!(
        status,
        AppointmentStatus::Returned | AppointmentStatus::Replaced
    ) {
        vec![]
    } else {
        vec![
            json!({"href": format!("{base}/calendar.ics"), "label": t.get("appointment_calendar")}),
        ]
    };
    let lang_switch = format!("{base}?lang={}", lang.other().code());
    json!({"title": title, "paragraphs": paragraphs, "details": offer_rows(offer, catalog, lang),
        "buttons": buttons, "links": links, "home": true, "lang_switch": lang_switch})
}

/// The clerks' statistics page: queue length per office and service, then the offer figures.
#[must_use]
pub fn stats_page(
    stats: &crate::domain::stats::Stats,
    catalog: Option<&Catalog>,
    lang: Language,
) -> serde_json::Value {
    let t = texts(lang);
    let name_of = |office: &str, service: &str| {
        let o = catalog
            .and_then(|c| c.office(office))
            .map_or(office.to_owned(), |o| o.name.clone());
        let s = catalog
            .and_then(|c| c.service(service))
            .map_or(service.to_owned(), |s| s.name.get(lang).to_owned());
        format!("{o} · {s}")
    };
    let mut details: Vec<(String, String)> = stats
        .queues
        .iter()
        .map(|q| (name_of(&q.office, &q.service), q.waiting.to_string()))
        .collect();
    details.sort();
    details.extend(rows(
        &[
            ("stats_offers_open", stats.offers_open.to_string()),
            ("stats_accepted", stats.offers_accepted.to_string()),
            ("stats_declined", stats.offers_declined.to_string()),
            ("stats_expired", stats.offers_expired.to_string()),
            (
                "stats_rate",
                stats
                    .acceptance_rate
                    .map_or_else(|| "–".to_owned(), |r| format!("{:.0} %", r * 100.0)),
            ),
        ],
        lang,
    ));
    json!({"title": t.get("stats_title"), "paragraphs": [t.get("stats_intro")], "details": details})
}

/// The width of the statistics chart's drawing, in its own units (the page scales it).
const CHART_WIDTH: u32 = 360;
/// Room at the right of the longest bar for its figure.
const CHART_FIGURE_ROOM: u32 = 90;
const CHART_ROW: u32 = 70;

/// A number as the page's language writes it: `6,5` or `6.5`, without a needless `.0`.
pub(super) fn decimal(value: f64, lang: Language) -> String {
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text).to_owned();
    match lang {
        Language::De => text.replace('.', ","),
        Language::En => text,
    }
}

/// "6,5 Tage", "1 day".
fn days_text(t: &super::Texts, days: f64, lang: Language) -> String {
    if (days - 1.0).abs() < f64::EPSILON {
        t.get("public_day_one").to_owned()
    } else {
        t.fill("public_days", &[("n", &decimal(days, lang))])
    }
}

/// The public statistics page (`/statistik`, `/statistics`): for each office and service that has
/// one, a bar of the median days to a first offer (server-drawn SVG, its geometry computed here),
/// the table of every figure of every group (the chart's text alternative), and how each is
/// counted. `lang_switch` is the page in
/// the other language.
#[must_use]
pub fn statistics_page(
    stats: &crate::domain::public_stats::PublicStats,
    catalog: &Catalog,
    lang: Language,
    lang_switch: &str,
) -> serde_json::Value {
    use crate::domain::public_stats::{MIN_FIRST_OFFERS, WINDOW_DAYS};
    let t = texts(lang);
    let longest = stats
        .groups
        .iter()
        .filter_map(|g| g.median_days_to_offer)
        .fold(0.0_f64, f64::max);
    let span = f64::from(CHART_WIDTH - CHART_FIGURE_ROOM);
    let mut bars = Vec::new();
    let mut table = Vec::new();
    for g in &stats.groups {
        let office = office_name(catalog, &g.office);
        let service = service_name(catalog, &g.service, lang);
        // Only groups with a median get a bar (the table shows every group): office and
        // service on two lines, then the bar with its figure.
        if let Some(days) = g.median_days_to_offer {
            let top = u32::try_from(bars.len()).unwrap_or(0) * CHART_ROW;
            // A wait of 0 days still shows a sliver, so the bar is seen to be there.
            let width = if longest > 0.0 {
                (days / longest * span).max(2.0)
            } else {
                2.0
            };
            bars.push(
                json!({"office": office, "service": service, "office_y": top + 16,
                "service_y": top + 34, "bar_y": top + 42, "figure_y": top + 55,
                "width": format!("{width:.1}"), "figure_x": format!("{:.1}", width + 6.0),
                "figure": days_text(t, days, lang)}),
            );
        }
        table.push(json!({
            "office": office, "service": service, "waiting": g.waiting, "released": g.released_28d,
            "median": g.median_days_to_offer.map(|d| decimal(d, lang)),
            "share": g.taken_share.map(|s| t.fill("public_percent", &[("n", &format!("{:.0}", s * 100.0))])),
        }));
    }
    let days = WINDOW_DAYS.to_string();
    let min = MIN_FIRST_OFFERS.to_string();
    let how: Vec<String> = [
        "public_how_waiting",
        "public_how_released",
        "public_how_median",
        "public_how_share",
        "public_how_estimates",
    ]
    .iter()
    .map(|k| t.fill(k, &[("days", &days), ("min", &min)]))
    .collect();
    json!({
        "title": t.get("public_title"),
        "intro": t.fill("public_intro", &[("days", &days)]),
        "updated": t.fill("public_updated", &[("when", &t.when_long(stats.updated_at))]),
        "chart": {"width": CHART_WIDTH, "height": u32::try_from(bars.len()).unwrap_or(0) * CHART_ROW + 4,
            "empty": bars.is_empty(), "bars": bars,
            "caption": t.fill("public_chart_caption", &[("days", &days)]),
            "desc": t.fill("public_chart_desc", &[("min", &min)])},
        "table": table,
        "caption": t.fill("public_table_caption", &[("days", &days)]),
        "how": how,
        "form": format!("/?lang={}", lang.code()),
        "lang_switch": lang_switch,
    })
}
