//! Slot files exported by a booking system, CSV or JSON, read and checked as a whole before
//! anything is sent: a file with one bad row is refused entirely, with every problem named by its
//! line and field. One implementation for the clerks' CLI (`clerk slots load`) and the staff
//! console's upload; the rows then go through the same checks against the catalogue as
//! `PUT /admin/slots` ([`super::slot::SlotRow::validate`]).

use super::persons::MAX_SLOT_PERSONS;
use chrono::DateTime;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// The columns of a slot file, in the order the admin API names them.
pub const COLUMNS: [&str; 7] = [
    "id", "office", "service", "start", "minutes", "status", "persons",
];
/// The columns a file may leave out (`persons`: one person each).
pub const OPTIONAL: [&str; 1] = ["persons"];

/// The longest slot duration the admin API takes, in minutes.
pub const MAX_MINUTES: u64 = 480;

/// How a slot file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// `.json` is JSON, `.csv`/`.txt` CSV; otherwise the content decides (`[` first is JSON).
    #[must_use]
    pub fn guess(path: &str, text: &str) -> Self {
        let ext = std::path::Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("");
        if ext.eq_ignore_ascii_case("json") {
            Format::Json
        } else if ext.eq_ignore_ascii_case("csv") || ext.eq_ignore_ascii_case("txt") {
            Format::Csv
        } else if strip_bom(text).trim_start().starts_with('[') {
            Format::Json
        } else {
            Format::Csv
        }
    }
}

/// Whether a slot is free (new capacity, a cancellation) or booked in the booking system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Free,
    Booked,
}

/// One checked slot, as `PUT /admin/slots` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotRow {
    pub id: String,
    pub office: String,
    pub service: String,
    /// RFC 3339 with an offset, as written in the file.
    pub start: String,
    pub minutes: u16,
    pub status: Status,
    /// How many persons the slot serves; absent in the file: one.
    #[serde(skip_serializing_if = "is_one")]
    pub persons: u8,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_one(n: &u8) -> bool {
    *n == 1
}

/// A checked slot and the line of the file it came from (for the server's answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub line: usize,
    pub row: SlotRow,
}

impl Located {
    /// The row in the shape of `PUT /admin/slots`, for [`super::slot::SlotRow::validate`].
    #[must_use]
    pub fn contract_row(&self) -> super::slot::SlotRow {
        let status = match self.row.status {
            Status::Free => "free",
            Status::Booked => "booked",
        };
        super::slot::SlotRow {
            id: Some(self.row.id.clone()),
            office: Some(self.row.office.clone()),
            service: Some(self.row.service.clone()),
            start: Some(self.row.start.clone()),
            minutes: Some(u64::from(self.row.minutes)),
            status: Some(status.to_owned()),
            persons: super::request::Given::Whole(u64::from(self.row.persons)),
        }
    }
}

/// One problem in a file: where (line, and field if there is one) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    pub field: Option<String>,
    pub message: String,
}

impl RowError {
    fn new(line: usize, field: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            line,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            // Line 0: the server named a row the file does not have.
            Some(field) if self.line == 0 => write!(f, "{}: {}", field, self.message),
            Some(field) => write!(f, "line {}, {}: {}", self.line, field, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Reads a whole slot file.
///
/// # Errors
/// Every problem found, in file order; nothing is returned when there is one.
pub fn parse(text: &str, format: Format) -> Result<Vec<Located>, Vec<RowError>> {
    let text = strip_bom(text);
    // Problems of the file's shape end the reading; problems of single rows are collected with
    // every other row's, so one run names them all.
    let (raw, mut errors) = match format {
        Format::Csv => csv_rows(text)?,
        Format::Json => json_rows(text)?,
    };
    let mut rows = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in raw {
        match check_row(&r) {
            Ok(row) => {
                if let Some(first) = seen.get(&row.id) {
                    errors.push(RowError::new(
                        r.line,
                        Some("id"),
                        format!("slot id {:?} is already on line {first}", row.id),
                    ));
                } else {
                    seen.insert(row.id.clone(), r.line);
                    rows.push(Located { line: r.line, row });
                }
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(RowError::new(1, None, "the file has no slots"));
    }
    errors.sort_by_key(|e| e.line);
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// A row before it is checked: its line and each column's value (`None` when absent).
struct RawRow {
    line: usize,
    values: HashMap<&'static str, Value>,
}

/// A value as the file has it: CSV has only text, JSON also numbers and other types.
enum Value {
    Text(String),
    Json(serde_json::Value),
}

impl Value {
    fn text(&self) -> Option<&str> {
        match self {
            Value::Text(s) | Value::Json(serde_json::Value::String(s)) => Some(s.as_str()),
            Value::Json(_) => None,
        }
    }
}

fn check_row(r: &RawRow) -> Result<SlotRow, Vec<RowError>> {
    let mut errors = Vec::new();
    let line = r.line;
    let mut text = |field: &'static str| -> Option<String> {
        match r.values.get(field) {
            None => {
                errors.push(RowError::new(line, Some(field), "missing"));
                None
            }
            Some(v) => match v.text().map(str::trim) {
                Some("") => {
                    errors.push(RowError::new(line, Some(field), "empty"));
                    None
                }
                Some(s) => Some(s.to_owned()),
                None => {
                    errors.push(RowError::new(line, Some(field), "must be text"));
                    None
                }
            },
        }
    };
    let id = text("id");
    let office = text("office");
    let service = text("service");
    let start = text("start");
    let status = text("status");
    let minutes = whole(r, "minutes", MAX_MINUTES, None)
        .and_then(|m| u16::try_from(m).map_err(|_| format!("must be from 1 to {MAX_MINUTES}")))
        .map_err(|m| errors.push(RowError::new(line, Some("minutes"), m)))
        .ok();

    if let Some(id) = &id
        && let Err(m) = check_slot_id(id)
    {
        errors.push(RowError::new(line, Some("id"), m));
    }
    for (field, value) in [("office", &office), ("service", &service)] {
        if let Some(v) = value
            && let Err(m) = check_slug(v)
        {
            errors.push(RowError::new(line, Some(field), m));
        }
    }
    if let Some(s) = &start
        && DateTime::parse_from_rfc3339(s).is_err()
    {
        errors.push(RowError::new(
            line,
            Some("start"),
            format!("{s:?} is not RFC 3339 with an offset, e.g. 2024-01-24T08:30:00+01:00"),
        ));
    }
    let status = status.and_then(|s| match s.to_ascii_lowercase().as_str() {
        "free" => Some(Status::Free),
        "booked" => Some(Status::Booked),
        _ => {
            errors.push(RowError::new(
                line,
                Some("status"),
                format!("{s:?} is neither \"free\" nor \"booked\""),
            ));
            None
        }
    });
    let persons = whole(r, "persons", u64::from(MAX_SLOT_PERSONS), Some(1))
        .and_then(|n| u8::try_from(n).map_err(|_| format!("must be from 1 to {MAX_SLOT_PERSONS}")))
        .map_err(|m| errors.push(RowError::new(line, Some("persons"), m)))
        .ok();
    match (id, office, service, start, minutes, status, persons) {
        (
            Some(id),
            Some(office),
            Some(service),
            Some(start),
            Some(minutes),
            Some(status),
            Some(persons),
        ) if errors.is_empty() => Ok(SlotRow {
            id,
            office,
            service,
            start,
            minutes,
            status,
            persons,
        }),
        _ => Err(errors),
    }
}

/// A whole-number column from one to `max`; `absent` is its value when the row leaves it out or
/// empty (`None`: the column is required).
fn whole(r: &RawRow, field: &str, max: u64, absent: Option<u64>) -> Result<u64, String> {
    let given = match r.values.get(field) {
        None | Some(Value::Json(serde_json::Value::Null)) => None,
        Some(Value::Json(serde_json::Value::Number(n))) => Some(
            n.as_u64()
                .ok_or_else(|| format!("{n} is not a whole number"))?,
        ),
        Some(v) => match v.text().map(str::trim) {
            Some("") => return absent.ok_or_else(|| "empty".to_owned()),
            Some(s) => Some(
                s.parse::<u64>()
                    .map_err(|_| format!("{s:?} is not a whole number"))?,
            ),
            None => return Err("must be a whole number".to_owned()),
        },
    };
    match given {
        None => absent.ok_or_else(|| "missing".to_owned()),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(format!("{n} is not from 1 to {max}")),
    }
}

/// The booking system's slot id: what the admin API accepts (and what fits in a URL path).
///
/// # Errors
/// A sentence saying what is wrong.
pub fn check_slot_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id.chars().count() > 128 {
        return Err("must be at most 128 characters".into());
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
    {
        return Err(format!(
            "{id:?} may only contain letters, digits and . _ : -"
        ));
    }
    Ok(())
}

fn check_slug(v: &str) -> Result<(), String> {
    if v.chars().count() > 40
        || !v
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "{v:?} is not an id (lower-case letters, digits and -, at most 40)"
        ));
    }
    Ok(())
}

// ---- CSV ------------------------------------------------------------------------------------

/// One CSV record and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    line: usize,
    fields: Vec<String>,
}

/// Splits CSV text into records (RFC 4180: quoted fields may hold the delimiter, line breaks and
/// doubled quotes). Blank lines are skipped.
fn records(text: &str, delimiter: char) -> Result<Vec<Record>, RowError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut record_line = 1;
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    // Whether the current field was quoted: then spaces around it are not part of it.
    let mut quoted = false;
    let mut finish_record =
        |fields: &mut Vec<String>, field: &mut String, quoted: &mut bool, at: usize| {
            fields.push(std::mem::take(field));
            *quoted = false;
            let record = std::mem::take(fields);
            let blank = record.len() == 1 && record[0].trim().is_empty();
            if !blank {
                out.push(Record {
                    line: at,
                    fields: record,
                });
            }
        };
    while let Some(c) = chars.next() {
        match c {
            '"' if field.trim().is_empty() && !quoted => {
                field.clear();
                quoted = true;
                let open_line = line;
                loop {
                    match chars.next() {
                        None => {
                            return Err(RowError::new(
                                open_line,
                                None,
                                "a quoted value is not closed (a \" is missing)",
                            ));
                        }
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            field.push(ch);
                        }
                    }
                }
                // After the closing quote only spaces may come before the delimiter or line end.
                while let Some(&next) = chars.peek() {
                    if next == ' ' || (next == '\t' && delimiter != '\t') {
                        chars.next();
                    } else if next == delimiter || next == '\n' || next == '\r' {
                        break;
                    } else {
                        return Err(RowError::new(
                            line,
                            None,
                            format!("unexpected {next:?} after a closing quote"),
                        ));
                    }
                }
            }
            c if c == delimiter => {
                fields.push(std::mem::take(&mut field));
                quoted = false;
            }
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                finish_record(&mut fields, &mut field, &mut quoted, record_line);
                line += 1;
                record_line = line;
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !fields.is_empty() || quoted {
        finish_record(&mut fields, &mut field, &mut quoted, record_line);
    }
    Ok(out)
}

/// `;` when the header uses it and no `,` (as spreadsheets in German locales write CSV).
fn delimiter(text: &str) -> char {
    let header = text.lines().next().unwrap_or("");
    if header.contains(';') && !header.contains(',') {
        ';'
    } else {
        ','
    }
}

/// The rows and the problems of single rows; `Err` when the file as a whole cannot be read.
type Rows = Result<(Vec<RawRow>, Vec<RowError>), Vec<RowError>>;

fn csv_rows(text: &str) -> Rows {
    let records = records(text, delimiter(text)).map_err(|e| vec![e])?;
    let Some((header, data)) = records.split_first() else {
        return Err(vec![RowError::new(
            1,
            None,
            format!(
                "the file is empty; it needs the header {}",
                COLUMNS.join(",")
            ),
        )]);
    };
    let mut errors = Vec::new();
    let mut columns: Vec<Option<&'static str>> = Vec::new();
    for name in &header.fields {
        let name = name.trim().to_ascii_lowercase();
        match COLUMNS.iter().find(|c| **c == name) {
            Some(c) if columns.contains(&Some(*c)) => {
                errors.push(RowError::new(
                    header.line,
                    Some(c),
                    "this column appears twice in the header",
                ));
                columns.push(None);
            }
            Some(c) => columns.push(Some(*c)),
            None => {
                errors.push(RowError::new(
                    header.line,
                    None,
                    format!(
                        "unknown column {name:?} in the header (expected {})",
                        COLUMNS.join(",")
                    ),
                ));
                columns.push(None);
            }
        }
    }
    for c in COLUMNS {
        if !columns.contains(&Some(c)) && !OPTIONAL.contains(&c) {
            errors.push(RowError::new(
                header.line,
                Some(c),
                "this column is missing from the header",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows = Vec::new();
    for r in data {
        if r.fields.len() != columns.len() {
            errors.push(RowError::new(
                r.line,
                None,
                format!(
                    "expected {} values, found {}",
                    columns.len(),
                    r.fields.len()
                ),
            ));
            continue;
        }
        let values = columns
            .iter()
            .zip(&r.fields)
            .filter_map(|(c, v)| c.map(|c| (c, Value::Text(v.clone()))))
            .collect();
        rows.push(RawRow {
            line: r.line,
            values,
        });
    }
    Ok((rows, errors))
}

// ---- JSON -----------------------------------------------------------------------------------

fn json_rows(text: &str) -> Rows {
    let items: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| {
        vec![RowError::new(
            e.line().max(1),
            None,
            format!("not a JSON array of slot objects: {e}"),
        )]
    })?;
    let lines = element_lines(text);
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let line = lines.get(i).copied().unwrap_or(1);
        let serde_json::Value::Object(map) = item else {
            errors.push(RowError::new(line, None, "each entry must be an object"));
            continue;
        };
        let mut values = HashMap::new();
        for (k, v) in map {
            if let Some(c) = COLUMNS.iter().find(|c| **c == k) {
                values.insert(*c, Value::Json(v));
            } else {
                errors.push(RowError::new(
                    line,
                    Some(&k),
                    format!("unknown field (expected {})", COLUMNS.join(", ")),
                ));
            }
        }
        rows.push(RawRow { line, values });
    }
    Ok((rows, errors))
}

/// The line on which each element of a top-level JSON array starts (the text is valid JSON).
fn element_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut line = 1;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut expect_element = false;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if depth == 1 && expect_element && !c.is_whitespace() && c != ']' {
            lines.push(line);
            expect_element = false;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                if depth == 1 {
                    expect_element = true;
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expect_element = true,
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests;
