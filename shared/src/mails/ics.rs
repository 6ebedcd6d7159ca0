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

/// A TEXT value escaped as RFC 5545 3.3.11 asks: backslash, semicolon and comma get a
/// backslash; every line break (CRLF, a lone CR, LF) becomes `\n`, so no value can end its
/// content line and start another (`X-…:`) in the file; the other control characters (all but
/// HTAB) are not TSAFE-CHARs and are dropped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
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

    #[test]
    fn every_line_break_in_a_text_value_is_escaped_and_no_control_character_is_left() {
        // RFC 5545 3.3.11: a line break in TEXT is `\n` whichever way it came (CRLF, CR, LF);
        // other control characters (all but HTAB) are not TSAFE-CHARs at all.
        assert_eq!(escape("a\r\nb\rc\nd"), "a\\nb\\nc\\nd");
        assert_eq!(escape("x\r\nX-INJECTED:1"), "x\\nX-INJECTED:1");
        assert_eq!(escape("a\u{0}b\u{1b}c\u{7f}d\te"), "abcd\te");
        let line = fold(&format!(
            "LOCATION:{}",
            escape(&"Amt\r\nX:1, Raum 3; ".repeat(9))
        ));
        for part in line.split("\r\n") {
            assert!(part.len() <= 75, "{} octets", part.len());
            assert!(!part.contains('\r') && !part.contains('\n'), "{part:?}");
        }
        let continued: Vec<_> = line.split("\r\n").skip(1).collect();
        assert!(!continued.is_empty());
        assert!(
            continued.iter().all(|p| p.starts_with(' ')),
            "{continued:?}"
        );
    }
}
