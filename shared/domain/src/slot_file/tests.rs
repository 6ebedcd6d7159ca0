//! Tests of reading slot files: CSV and JSON, their shapes, every problem by line and field.

use super::*;
use proptest::prelude::*;

const HEADER: &str = "id,office,service,start,minutes,status\n";

fn errors(text: &str, format: Format) -> Vec<String> {
    parse(text, format)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_good_csv_file_is_read_with_line_numbers() {
    let text = format!(
        "{HEADER}bilk-1,bilk,id-card,2026-12-02T08:30:00+01:00,15,free\n\nbilk-2,bilk,passport,2026-12-02T09:00:00+01:00,30,booked\n"
    );
    let rows = parse(&text, Format::Csv).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].line, 2);
    assert_eq!(rows[1].line, 4, "the blank line counts");
    assert_eq!(
        rows[1].row,
        SlotRow {
            id: "bilk-2".into(),
            office: "bilk".into(),
            service: "passport".into(),
            start: "2026-12-02T09:00:00+01:00".into(),
            minutes: 30,
            status: Status::Booked,
            persons: 1,
        }
    );
}

#[test]
fn a_persons_column_says_how_many_each_slot_serves() {
    let text = "id,office,service,start,minutes,status,persons\n\
            b-1,bilk,id-card,2026-12-02T08:30:00+01:00,15,free,3\n\
            b-2,bilk,id-card,2026-12-02T08:45:00+01:00,15,free,\n";
    let rows = parse(text, Format::Csv).unwrap();
    assert_eq!(rows[0].row.persons, 3);
    assert_eq!(rows[1].row.persons, 1, "empty is one person");
    let bad = "id,office,service,start,minutes,status,persons\n\
            b-1,bilk,id-card,2026-12-02T08:30:00+01:00,15,free,0\n\
            b-2,bilk,id-card,2026-12-02T08:45:00+01:00,15,free,zwei\n";
    assert_eq!(
        errors(bad, Format::Csv),
        [
            "line 2, persons: 0 is not from 1 to 20",
            "line 3, persons: \"zwei\" is not a whole number"
        ]
    );
    let json = r#"[{"id": "b-1", "office": "bilk", "service": "id-card", "start": "2026-12-02T08:30:00+01:00", "minutes": 15, "status": "free", "persons": 2}]"#;
    assert_eq!(parse(json, Format::Json).unwrap()[0].row.persons, 2);
}

#[test]
fn columns_may_come_in_any_order_with_crlf_a_bom_and_quotes() {
    let text = "\u{feff}status;minutes;start;service;office;id\r\n\"free\";15;2026-12-02T08:30:00+01:00;id-card;bilk;\"a;b\"\r\n";
    let e = errors(text, Format::Csv);
    assert_eq!(
        e,
        vec![r#"line 2, id: "a;b" may only contain letters, digits and . _ : -"#]
    );
    let text = "status;minutes;start;service;office;id\r\n\"free\";15;2026-12-02T08:30:00+01:00;id-card;bilk;\"x\"\"\"\r\n";
    assert!(errors(text, Format::Csv)[0].contains(r#""x\"""#));
    let text = "status;minutes;start;service;office;id\r\n \"free\" ;15;2026-12-02T08:30:00+01:00;id-card;bilk;b-1\r\n";
    assert_eq!(parse(text, Format::Csv).unwrap()[0].row.id, "b-1");
}

#[test]
fn every_bad_field_is_named_with_its_line() {
    let text = format!(
        "{HEADER}ok-1,bilk,id-card,2026-12-02T08:30:00+01:00,15,free\nbad 2,Bilk,,tomorrow,0,offered\nok-1,bilk,id-card,2026-12-02T08:30:00+01:00,481,free\n"
    );
    assert_eq!(
        errors(&text, Format::Csv),
        vec![
            "line 3, service: empty",
            "line 3, minutes: 0 is not from 1 to 480",
            r#"line 3, id: "bad 2" may only contain letters, digits and . _ : -"#,
            r#"line 3, office: "Bilk" is not an id (lower-case letters, digits and -, at most 40)"#,
            r#"line 3, start: "tomorrow" is not RFC 3339 with an offset, e.g. 2024-01-24T08:30:00+01:00"#,
            r#"line 3, status: "offered" is neither "free" nor "booked""#,
            "line 4, minutes: 481 is not from 1 to 480",
        ]
    );
}

#[test]
fn a_duplicate_id_points_at_its_first_line() {
    let row = "b-1,bilk,id-card,2026-12-02T08:30:00+01:00,15,free\n";
    assert_eq!(
        errors(&format!("{HEADER}{row}{row}"), Format::Csv),
        vec![r#"line 3, id: slot id "b-1" is already on line 2"#]
    );
}

#[test]
fn header_problems_are_reported_before_any_row() {
    let e = errors(
        "id,office,service,begin,minutes,status,status\nx\n",
        Format::Csv,
    );
    assert_eq!(
        e,
        vec![
            r#"line 1: unknown column "begin" in the header (expected id,office,service,start,minutes,status,persons)"#,
            "line 1, status: this column appears twice in the header",
            "line 1, start: this column is missing from the header",
        ]
    );
    assert_eq!(
        errors("", Format::Csv),
        vec![
            "line 1: the file is empty; it needs the header id,office,service,start,minutes,status,persons"
        ]
    );
    assert_eq!(
        errors(HEADER, Format::Csv),
        vec!["line 1: the file has no slots"]
    );
}

#[test]
fn a_short_row_and_an_unclosed_quote_are_named() {
    assert_eq!(
        errors(
            &format!("{HEADER}a,bilk,id-card\nb,bilk,id-card,x,15,free\n"),
            Format::Csv
        ),
        vec![
            "line 2: expected 6 values, found 3",
            r#"line 3, start: "x" is not RFC 3339 with an offset, e.g. 2024-01-24T08:30:00+01:00"#
        ]
    );
    assert_eq!(
        errors(&format!("{HEADER}\n\"a,bilk\n"), Format::Csv),
        vec![r#"line 3: a quoted value is not closed (a " is missing)"#]
    );
    assert_eq!(
        errors(&format!("{HEADER}\"a\"x,bilk\n"), Format::Csv),
        vec!["line 2: unexpected 'x' after a closing quote"]
    );
}

#[test]
fn a_quoted_line_break_keeps_later_line_numbers_right() {
    let text = format!(
        "{HEADER}\"a\nb\",bilk,id-card,2026-12-02T08:30:00+01:00,15,free\nc,bilk,id-card,x,15,free\n"
    );
    let e = errors(&text, Format::Csv);
    assert!(e[0].starts_with("line 2, id:"), "{e:?}");
    assert!(e[1].starts_with("line 4, start:"), "{e:?}");
}

#[test]
fn json_rows_carry_the_line_of_their_object() {
    let text = r#"[
  {"id": "b-1", "office": "bilk", "service": "id-card",
   "start": "2026-12-02T08:30:00+01:00", "minutes": 15, "status": "free"},
  {"id": "b-2", "office": "bilk", "service": "id-card",
   "start": "2026-12-02T08:30:00+01:00", "minutes": "15", "status": "free", "room": 3},
  {"id": 7, "office": "bilk", "service": "id-card", "start": "2026-12-02T08:30:00+01:00", "minutes": 1.5, "status": "free"},
  "x"
]"#;
    assert_eq!(
        errors(text, Format::Json),
        vec![
            "line 4, room: unknown field (expected id, office, service, start, minutes, status, persons)",
            "line 6, id: must be text",
            "line 6, minutes: 1.5 is not a whole number",
            "line 7: each entry must be an object",
        ]
    );
    let text = text.replace(", \"room\": 3", "").replace("  \"x\"\n", "");
    let text = text.replace("\"free\"},\n]", "\"free\"}\n]");
    assert_eq!(
        errors(&text, Format::Json),
        vec![
            "line 6, id: must be text",
            "line 6, minutes: 1.5 is not a whole number"
        ]
    );
    let good = r#"[{"id": "b-1", "office": "bilk", "service": "id-card", "start": "2026-12-02T08:30:00+01:00", "minutes": 15, "status": "free"}]"#;
    assert_eq!(parse(good, Format::Json).unwrap()[0].row.minutes, 15);
}

#[test]
fn broken_json_names_its_line() {
    let e = errors("[\n{\"id\": \"a\",\n}\n]", Format::Json);
    assert!(e[0].starts_with("line 3: not a JSON array"), "{e:?}");
    assert_eq!(
        element_lines("[ {\"a\": \"]\\\"[\"},\n 1, [2,\n3],\n\"x\"]"),
        vec![1, 2, 2, 4]
    );
}

#[test]
fn the_format_follows_the_extension_then_the_content() {
    assert_eq!(Format::guess("a.JSON", ""), Format::Json);
    assert_eq!(Format::guess("a.csv", "[]"), Format::Csv);
    assert_eq!(Format::guess("export", "\u{feff} [ ]"), Format::Json);
    assert_eq!(Format::guess("export", "id,office"), Format::Csv);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// 10 000 arbitrary texts as CSV exports: parsed or refused, never a panic.
    #[test]
    fn csv_parsing_never_panics(text in "\\PC*") {
        let _ = parse(&text, Format::Csv);
    }

    #[test]
    fn csv_parsing_never_panics_on_near_csv(text in "[\"\n\r,; a-z0-9:+T-]{0,200}") {
        let _ = parse(&format!("{HEADER}{text}"), Format::Csv);
    }

    #[test]
    fn json_parsing_never_panics(text in "[\\[\\]{}\",:\n a-z0-9]{0,200}") {
        let _ = parse(&text, Format::Json);
    }

    #[test]
    fn any_valid_row_survives_a_round_trip_through_csv(
        id in "[A-Za-z0-9._:-]{1,40}",
        office in "[a-z0-9-]{1,40}",
        minutes in 1u16..=480,
        free in any::<bool>(),
    ) {
        let status = if free { "free" } else { "booked" };
        let text = format!("{HEADER}\"{id}\",{office},id-card,2026-12-02T08:30:00+01:00,{minutes},{status}\n");
        let rows = parse(&text, Format::Csv).unwrap();
        prop_assert_eq!(rows.len(), 1);
        prop_assert_eq!(&rows[0].row.id, &id);
        prop_assert_eq!(rows[0].row.minutes, minutes);
    }
}
