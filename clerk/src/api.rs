//! The admin API over HTTP (`Authorization: Bearer <key>`), and the public office list used to
//! check a file's offices and services before anything is stored.

use crate::file::{Located, SlotRow, check_slot_id};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Rows per `PUT /admin/slots` request: well below the API's 1 MiB body limit (a row is about
/// 150 bytes).
pub const BATCH: usize = 1000;

/// Why a call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "the admin key was refused (set TERMINAGENT_ADMIN_KEY or pass --key with the server's ADMIN_KEY)"
    )]
    Unauthorized,
    #[error("no slot with id {0:?}")]
    NoSuchSlot(String),
    #[error("{0}")]
    Refused(String),
    /// The server checked the batch and stored nothing; `fields` as it names them, `[row].field`.
    #[error("{message}")]
    Invalid {
        message: String,
        fields: BTreeMap<String, String>,
        /// Index in the file's rows of the batch's first row.
        offset: usize,
    },
    #[error("the server answered {status}: {body}")]
    Server { status: StatusCode, body: String },
    #[error("invalid slot id: {0}")]
    BadId(String),
    #[error("invalid URL {0:?}: it must start with http:// or https://")]
    BadUrl(String),
}

/// What `GET /api/offices` says, as far as the clerk needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct Office {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub services: Vec<OfficeService>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OfficeService {
    pub id: String,
}

/// A client for one server.
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

impl Client {
    /// # Errors
    /// When the URL is not http(s) or the HTTP client cannot be built.
    pub fn new(base: &str, key: Option<String>) -> Result<Self, ApiError> {
        let base = base.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ApiError::BadUrl(base));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_mins(2))
            .user_agent(concat!("terminagent-clerk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Unreachable {
                url: base.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self { http, base, key })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), ApiError> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .request(method, &url)
            .header("accept", "application/json");
        if path.starts_with("/admin/") {
            let Some(key) = &self.key else {
                return Err(ApiError::Unauthorized);
            };
            request = request.bearer_auth(key);
        }
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request.send().await.map_err(|e| ApiError::Unreachable {
            url: url.clone(),
            reason: error_chain(&e),
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| ApiError::Unreachable {
            url,
            reason: error_chain(&e),
        })?;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ApiError::Unauthorized);
        }
        Ok((status, json))
    }

    /// The offices and the services each offers (public, no key needed).
    ///
    /// # Errors
    /// When the server cannot be reached or answers something else.
    pub async fn offices(&self) -> Result<Vec<Office>, ApiError> {
        let (status, body) = self.call(Method::GET, "/api/offices", None).await?;
        if !status.is_success() {
            return Err(server(status, &body));
        }
        serde_json::from_value(body.clone()).map_err(|e| ApiError::Server {
            status,
            body: format!("unexpected office list ({e}): {body}"),
        })
    }

    /// `PUT /admin/slots` in batches of [`BATCH`]; the answers' counts added up and the rows the
    /// server reported as conflicts.
    ///
    /// # Errors
    /// The first failing batch's error; earlier batches are stored (a re-run is harmless: rows
    /// that are already there come back `unchanged`).
    pub async fn put_slots(&self, rows: &[Located]) -> Result<LoadSummary, ApiError> {
        let mut summary = LoadSummary::default();
        for (n, batch) in rows.chunks(BATCH).enumerate() {
            let body: Vec<&SlotRow> = batch.iter().map(|l| &l.row).collect();
            let body = serde_json::to_value(body).map_err(|e| ApiError::Refused(e.to_string()))?;
            let (status, answer) = self.call(Method::PUT, "/admin/slots", Some(&body)).await?;
            if status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST {
                let fields = answer
                    .get("fields")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                return Err(ApiError::Invalid {
                    message: message(&answer),
                    fields,
                    offset: n * BATCH,
                });
            }
            if !status.is_success() {
                return Err(server(status, &answer));
            }
            for (key, count) in [
                ("created", &mut summary.created),
                ("updated", &mut summary.updated),
                ("unchanged", &mut summary.unchanged),
                ("conflicts", &mut summary.conflicts),
            ] {
                *count += answer.get(key).and_then(Value::as_u64).unwrap_or(0);
            }
            if let Some(slots) = answer.get("slots").and_then(Value::as_array) {
                summary.conflict_ids.extend(
                    slots
                        .iter()
                        .filter(|s| s.get("result").and_then(Value::as_str) == Some("conflict"))
                        .filter_map(|s| s.get("id").and_then(Value::as_str).map(str::to_owned)),
                );
            }
        }
        Ok(summary)
    }

    /// `POST /admin/slots/{id}/release`: a booked slot was cancelled and is free again.
    ///
    /// # Errors
    /// Unknown slot, a slot that is not booked, or a transport problem.
    pub async fn release(&self, id: &str) -> Result<Value, ApiError> {
        let path = slot_path(id)? + "/release";
        let (status, body) = self.call(Method::POST, &path, None).await?;
        match status {
            s if s.is_success() => Ok(body),
            StatusCode::NOT_FOUND => Err(ApiError::NoSuchSlot(id.to_owned())),
            StatusCode::CONFLICT => Err(ApiError::Refused(format!(
                "slot {id:?} is {}, not booked: only a booked slot can be released",
                body.pointer("/slot/status")
                    .and_then(Value::as_str)
                    .unwrap_or("not booked")
            ))),
            _ => Err(server(status, &body)),
        }
    }

    /// `DELETE /admin/slots/{id}`: the office takes the slot back.
    ///
    /// # Errors
    /// Unknown slot, a booked slot (release it first), or a transport problem.
    pub async fn withdraw(&self, id: &str) -> Result<(), ApiError> {
        let path = slot_path(id)?;
        let (status, body) = self.call(Method::DELETE, &path, None).await?;
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(ApiError::NoSuchSlot(id.to_owned())),
            StatusCode::CONFLICT => Err(ApiError::Refused(format!(
                "slot {id:?} is booked: cancel the booking first (clerk slots release {id})"
            ))),
            _ => Err(server(status, &body)),
        }
    }

    /// `GET /admin/slots/{id}`.
    ///
    /// # Errors
    /// Unknown slot or a transport problem.
    pub async fn slot(&self, id: &str) -> Result<Value, ApiError> {
        let path = slot_path(id)?;
        let (status, body) = self.call(Method::GET, &path, None).await?;
        match status {
            s if s.is_success() => Ok(body),
            StatusCode::NOT_FOUND => Err(ApiError::NoSuchSlot(id.to_owned())),
            _ => Err(server(status, &body)),
        }
    }

    /// `POST /admin/lines/recount?after=…`: one page of lines recounted.
    ///
    /// # Errors
    /// A transport problem or an unexpected answer.
    pub async fn recount(&self, after: Option<&str>) -> Result<Value, ApiError> {
        let path = match after {
            Some(a) => format!("/admin/lines/recount?after={}", query_value(a)),
            None => "/admin/lines/recount".to_owned(),
        };
        let (status, body) = self.call(Method::POST, &path, None).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(server(status, &body))
        }
    }

    /// `GET /admin/stats`.
    ///
    /// # Errors
    /// A transport problem or an unexpected answer.
    pub async fn stats(&self) -> Result<Value, ApiError> {
        let (status, body) = self.call(Method::GET, "/admin/stats", None).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(server(status, &body))
        }
    }

    /// `GET /admin/allocations/verify`: the allocation record of the period (`from`, `to`:
    /// `YYYY-MM-DD`, `None` for the server's default) walked and replayed.
    ///
    /// # Errors
    /// A period the server refuses (its fields named), a transport problem or an unexpected
    /// answer.
    pub async fn verify_allocations(
        &self,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Value, ApiError> {
        let mut query = Vec::new();
        for (name, value) in [("from", from), ("to", to)] {
            if let Some(v) = value {
                // Dates only: anything else is refused here, before it reaches a URL.
                if !v.bytes().all(|b| b.is_ascii_digit() || b == b'-') || v.is_empty() {
                    return Err(ApiError::Refused(format!(
                        "--{name} must be a date YYYY-MM-DD, not {v:?}"
                    )));
                }
                query.push(format!("{name}={v}"));
            }
        }
        let path = if query.is_empty() {
            "/admin/allocations/verify".to_owned()
        } else {
            format!("/admin/allocations/verify?{}", query.join("&"))
        };
        let (status, body) = self.call(Method::GET, &path, None).await?;
        match status {
            s if s.is_success() => Ok(body),
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
                let fields = body
                    .get("fields")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default();
                Err(ApiError::Refused(format!("{} ({fields})", message(&body))))
            }
            _ => Err(server(status, &body)),
        }
    }
}

/// What loading a file did, added up over its batches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadSummary {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub conflicts: u64,
    /// Slots held by an open offer or booked through one: left alone, the offer decides.
    pub conflict_ids: Vec<String>,
}

/// A query parameter's value, percent-encoded (a line's key holds `#`).
fn query_value(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn slot_path(id: &str) -> Result<String, ApiError> {
    check_slot_id(id).map_err(ApiError::BadId)?;
    Ok(format!("/admin/slots/{id}"))
}

fn message(body: &Value) -> String {
    body.get("error")
        .and_then(Value::as_str)
        .map_or_else(|| body.to_string(), str::to_owned)
}

fn server(status: StatusCode, body: &Value) -> ApiError {
    ApiError::Server {
        status,
        body: message(body),
    }
}

/// The error and its causes in one line (reqwest's top-level message alone says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Checks every row's office and service against the server's office list, so that a file is
/// refused as a whole before the first batch is sent.
#[must_use]
pub fn check_catalog(rows: &[Located], offices: &[Office]) -> Vec<crate::file::RowError> {
    let mut errors = Vec::new();
    let known: BTreeSet<&str> = offices
        .iter()
        .flat_map(|o| o.services.iter().map(|s| s.id.as_str()))
        .collect();
    for l in rows {
        let office = offices.iter().find(|o| o.id == l.row.office);
        let mut err = |field: &str, message: String| {
            errors.push(crate::file::RowError {
                line: l.line,
                field: Some(field.to_owned()),
                message,
            });
        };
        match office {
            None => err(
                "office",
                format!(
                    "unknown office {:?} (known: {})",
                    l.row.office,
                    offices
                        .iter()
                        .map(|o| o.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Some(o) if !o.services.iter().any(|s| s.id == l.row.service) => {
                if known.contains(l.row.service.as_str()) {
                    err(
                        "service",
                        format!("{} does not offer {:?}", display_name(o), l.row.service),
                    );
                } else {
                    err(
                        "service",
                        format!(
                            "unknown service {:?} (known: {})",
                            l.row.service,
                            known.iter().copied().collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
            }
            Some(_) => {}
        }
    }
    errors
}

fn display_name(o: &Office) -> String {
    if o.name.is_empty() {
        o.id.clone()
    } else {
        format!("{} ({})", o.name, o.id)
    }
}

/// Turns the server's `[row].field` keys back into the file's lines.
#[must_use]
pub fn locate_server_errors(
    fields: &BTreeMap<String, String>,
    rows: &[Located],
    offset: usize,
) -> Vec<crate::file::RowError> {
    fields
        .iter()
        .map(|(key, message)| {
            let parsed = key.strip_prefix('[').and_then(|rest| {
                let (index, field) = rest.split_once("].")?;
                Some((index.parse::<usize>().ok()?, field))
            });
            match parsed.and_then(|(i, f)| rows.get(offset + i).map(|l| (l.line, f))) {
                Some((line, field)) => crate::file::RowError {
                    line,
                    field: Some(field.to_owned()),
                    message: message.clone(),
                },
                None => crate::file::RowError {
                    line: 0,
                    field: Some(key.clone()),
                    message: message.clone(),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{Format, parse};

    fn rows() -> Vec<Located> {
        parse(
            "id,office,service,start,minutes,status\n\
             a,bilk,passport,2026-12-02T08:30:00+01:00,15,free\n\
             b,kaiserswerth,passport,2026-12-02T08:30:00+01:00,15,free\n\
             c,mars,passport,2026-12-02T08:30:00+01:00,15,free\n\
             d,bilk,dog-licence,2026-12-02T08:30:00+01:00,15,free\n",
            Format::Csv,
        )
        .unwrap()
    }

    fn offices() -> Vec<Office> {
        serde_json::from_value(serde_json::json!([
            {"id": "bilk", "name": "Bürgerbüro Bilk", "services": [{"id": "passport"}, {"id": "id-card"}]},
            {"id": "kaiserswerth", "name": "Bürgerbüro Kaiserswerth", "services": [{"id": "id-card"}]}
        ]))
        .unwrap()
    }

    #[test]
    fn offices_and_services_are_checked_against_the_catalogue() {
        let e: Vec<String> = check_catalog(&rows(), &offices())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            e,
            vec![
                r#"line 3, service: Bürgerbüro Kaiserswerth (kaiserswerth) does not offer "passport""#,
                r#"line 4, office: unknown office "mars" (known: bilk, kaiserswerth)"#,
                r#"line 5, service: unknown service "dog-licence" (known: id-card, passport)"#,
            ]
        );
    }

    #[test]
    fn server_field_keys_map_back_to_file_lines() {
        let fields = BTreeMap::from([
            ("[1].office".to_owned(), "unknown office".to_owned()),
            ("[9].start".to_owned(), "bad".to_owned()),
            ("weird".to_owned(), "x".to_owned()),
        ]);
        let e: Vec<String> = locate_server_errors(&fields, &rows(), 1)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            e,
            vec![
                "line 4, office: unknown office",
                "[9].start: bad",
                "weird: x"
            ]
        );
    }

    #[test]
    fn only_http_urls_are_taken_and_ids_are_checked_before_use() {
        assert!(matches!(
            Client::new("ftp://x", None),
            Err(ApiError::BadUrl(_))
        ));
        assert!(Client::new("http://127.0.0.1:1/", None).is_ok());
        assert!(matches!(slot_path("a/b"), Err(ApiError::BadId(_))));
        assert_eq!(slot_path("a:b").unwrap(), "/admin/slots/a:b");
    }
}
