//! The calendar file of a booked appointment (RFC 5545).

use crate::domain::{Catalog, Language, Offer};
use crate::render::texts;
use crate::render::views::{office_name, service_name};
use chrono::{DateTime, Utc};

/// What a calendar file does with its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Put the appointment into the calendar.
    Publish,
    /// Take it out again (the appointment was given back): the same `UID`, a higher `SEQUENCE`.
    Cancel,
}

impl Method {
    /// The `method` parameter of the attachment's content type.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Method::Publish => "text/calendar; charset=utf-8; method=PUBLISH",
            Method::Cancel => "text/calendar; charset=utf-8; method=CANCEL",
        }
    }
}

/// An iCalendar event for an accepted appointment (times in UTC, so every calendar shows the
/// right local time), or its cancellation. `page` is the link the description points to.
#[must_use]
pub fn appointment(
    offer: &Offer,
    catalog: &Catalog,
    lang: Language,
    (base_url, page): (&str, &str),
    method: Method,
) -> String {
    let office = catalog.office(&offer.office);
    let fmt = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let office_name = office_name(catalog, &offer.office);
    let summary = format!(
        "{} – {office_name}",
        service_name(catalog, &offer.service, lang)
    );
    let location = office.map_or_else(
        || office_name.clone(),
        |o| format!("{}, {}", o.name, o.address),
    );
    let description = texts(lang).fill(
        "ics_description",
        &[("office", &office_name), ("url", page)],
    );
    let host = base_url
        .split("://")
        .nth(1)
        .unwrap_or("terminagent")
        .trim_end_matches('/');
    let lines = [
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".into(),
        "PRODID:-//Terminagent//DE".into(),
        match method {
            Method::Publish => "METHOD:PUBLISH".into(),
            Method::Cancel => "METHOD:CANCEL".into(),
        },
        "BEGIN:VEVENT".into(),
        format!("UID:{}@{host}", offer.id),
        match method {
            Method::Publish => "SEQUENCE:0".into(),
            Method::Cancel => "SEQUENCE:1".into(),
        },
        format!("DTSTAMP:{}", fmt(offer.created_at)),
        format!("DTSTART:{}", fmt(offer.start)),
        format!("DTEND:{}", fmt(offer.end())),
        match method {
            Method::Publish => "STATUS:CONFIRMED".into(),
            Method::Cancel => "STATUS:CANCELLED".into(),
        },
        format!("SUMMARY:{}", escape(&summary)),
        format!("LOCATION:{}", escape(&location)),
        format!("DESCRIPTION:{}", escape(&description)),
        "END:VEVENT".into(),
        "END:VCALENDAR".into(),
    ];
    let mut out = String::new();
    for line in lines {
        out.push_str(&fold(&line));
        out.push_str("\r\n");
    }
    out
}

/// Text values escaped as RFC 5545 3.3.11 asks.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
}

/// Folds a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 character.
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{escape, fold};

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let line = format!("DESCRIPTION:{}", "ä".repeat(60));
        let folded = fold(&line);
        for part in folded.split("\r\n") {
            assert!(part.len() <= 75, "{} octets", part.len());
        }
        assert_eq!(folded.replace("\r\n ", ""), line);
    }

    #[test]
    fn separators_in_text_values_are_escaped() {
        assert_eq!(escape("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }
}
