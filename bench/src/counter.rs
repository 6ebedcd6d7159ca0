//! Counts the real AWS SDK requests, per service and operation, with an SDK interceptor attached
//! to the clients the benchmark hands to `shared` — not an estimate.
//!
//! The store never asks `DynamoDB` for `ReturnConsumedCapacity`, so the interceptor adds
//! `"ReturnConsumedCapacity":"TOTAL"` to the JSON body of every data-plane request before it is
//! signed, and reads `ConsumedCapacity` from the answer (`DynamoDB` Local reports it too). The
//! store's code is unchanged: what it sends is what it would send in AWS, plus that one field.

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What one operation cost so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct OpStats {
    /// HTTP requests sent (each retry is one more).
    pub requests: u64,
    /// Answers with a status of 400 or more (failed conditions, cancelled transactions).
    pub errors: u64,
    /// Read capacity units consumed, as the service reported them.
    pub rcu: f64,
    /// Write capacity units consumed, as the service reported them.
    pub wcu: f64,
    /// Time from handing the request to the HTTP client until the answer was read.
    #[serde(serialize_with = "millis")]
    pub time: Duration,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// The counts of every operation, keyed `service:Operation` (e.g. `dynamodb:Query`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Snapshot {
    pub ops: BTreeMap<String, OpStats>,
}

impl Snapshot {
    /// What happened between `before` and `self`.
    #[must_use]
    pub fn since(&self, before: &Snapshot) -> Snapshot {
        let mut ops = BTreeMap::new();
        for (k, now) in &self.ops {
            let was = before.ops.get(k).copied().unwrap_or_default();
            let d = OpStats {
                requests: now.requests - was.requests,
                errors: now.errors - was.errors,
                rcu: now.rcu - was.rcu,
                wcu: now.wcu - was.wcu,
                time: now.time.saturating_sub(was.time),
            };
            if d.requests > 0 {
                ops.insert(k.clone(), d);
            }
        }
        Snapshot { ops }
    }

    fn of<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a OpStats> + 'a {
        self.ops
            .iter()
            .filter(move |(k, _)| service.is_empty() || k.split(':').next() == Some(service))
            .map(|(_, v)| v)
    }

    /// Requests to one service (`dynamodb`, `sesv2`, `eventbridge`), or to all with `""`.
    #[must_use]
    pub fn requests(&self, service: &str) -> u64 {
        self.of(service).map(|s| s.requests).sum()
    }

    #[must_use]
    pub fn rcu(&self) -> f64 {
        self.of("dynamodb").map(|s| s.rcu).sum()
    }

    #[must_use]
    pub fn wcu(&self) -> f64 {
        self.of("dynamodb").map(|s| s.wcu).sum()
    }

    /// Time spent waiting for one service's answers.
    #[must_use]
    pub fn time(&self, service: &str) -> Duration {
        self.of(service).map(|s| s.time).sum()
    }

    /// Adds another snapshot's counts to this one.
    pub fn add(&mut self, other: &Snapshot) {
        for (k, v) in &other.ops {
            let e = self.ops.entry(k.clone()).or_default();
            e.requests += v.requests;
            e.errors += v.errors;
            e.rcu += v.rcu;
            e.wcu += v.wcu;
            e.time += v.time;
        }
    }
}

#[derive(Debug, Default)]
struct State {
    snapshot: Snapshot,
    /// When an operation's last answer arrived (for "time to the last offer mail").
    last: HashMap<String, Instant>,
}

/// Shared by the interceptors of every client of one benchmark phase.
#[derive(Debug, Clone, Default)]
pub struct Counter {
    state: Arc<Mutex<State>>,
}

impl Counter {
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.lock().snapshot.clone()
    }

    /// When the last answer to `service:Operation` arrived.
    #[must_use]
    pub fn last(&self, op: &str) -> Option<Instant> {
        self.lock().last.get(op).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, op: String, status: u16, capacity: (f64, f64), time: Duration) {
        let mut state = self.lock();
        let e = state.snapshot.ops.entry(op.clone()).or_default();
        e.requests += 1;
        e.errors += u64::from(status >= 400);
        e.rcu += capacity.0;
        e.wcu += capacity.1;
        e.time += time;
        state.last.insert(op, Instant::now());
    }

    /// An interceptor for a client of `service`; with `capacity`, it asks `DynamoDB` for the
    /// consumed capacity of every data-plane request.
    #[must_use]
    pub fn interceptor(&self, capacity: bool) -> Counting {
        Counting {
            counter: self.clone(),
            capacity,
        }
    }
}

/// The interceptor itself; see the module docs.
#[derive(Debug)]
pub struct Counting {
    counter: Counter,
    capacity: bool,
}

#[derive(Debug, Clone)]
struct SentAt(Instant);

impl Storable for SentAt {
    type Storer = StoreReplace<Self>;
}

/// Operations that take `ReturnConsumedCapacity`, and whether they read or write.
fn capacity_kind(op: &str) -> Option<Kind> {
    match op {
        "GetItem" | "BatchGetItem" | "Query" | "Scan" | "TransactGetItems" => Some(Kind::Read),
        "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems" => {
            Some(Kind::Write)
        }
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

fn op_key(cfg: &ConfigBag) -> (String, String) {
    cfg.load::<Metadata>().map_or_else(
        || ("unknown".to_owned(), "unknown".to_owned()),
        |m| (m.service().to_ascii_lowercase(), m.name().to_owned()),
    )
}

/// `{"a":1}` → `{"ReturnConsumedCapacity":"TOTAL","a":1}`; `None` when the body is not a JSON
/// object or already asks.
fn with_capacity(body: &[u8]) -> Option<Vec<u8>> {
    const FIELD: &[u8] = br#""ReturnConsumedCapacity":"TOTAL""#;
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    if body[start] != b'{' || body.windows(24).any(|w| w == b"\"ReturnConsumedCapacity\"") {
        return None;
    }
    let rest = &body[start + 1..];
    let empty = rest.iter().all(|b| b.is_ascii_whitespace() || *b == b'}');
    let mut out = Vec::with_capacity(body.len() + FIELD.len() + 1);
    out.push(b'{');
    out.extend_from_slice(FIELD);
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    Some(out)
}

/// Sums `ConsumedCapacity` (an object, or a list of them for batches and transactions) into
/// (read, write) units. `TOTAL` gives `CapacityUnits`, and `ReadCapacityUnits` /
/// `WriteCapacityUnits` where the service splits them.
fn consumed(body: &[u8], kind: Kind) -> (f64, f64) {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (0.0, 0.0);
    };
    let entries: Vec<&serde_json::Value> = match json.get("ConsumedCapacity") {
        Some(serde_json::Value::Array(list)) => list.iter().collect(),
        Some(one @ serde_json::Value::Object(_)) => vec![one],
        _ => return (0.0, 0.0),
    };
    let num = |v: &serde_json::Value, k: &str| v.get(k).and_then(serde_json::Value::as_f64);
    let (mut r, mut w) = (0.0, 0.0);
    for e in entries {
        match (num(e, "ReadCapacityUnits"), num(e, "WriteCapacityUnits")) {
            (None, None) => {
                let units = num(e, "CapacityUnits").unwrap_or(0.0);
                match kind {
                    Kind::Read => r += units,
                    Kind::Write => w += units,
                }
            }
            (read, write) => {
                r += read.unwrap_or(0.0);
                w += write.unwrap_or(0.0);
            }
        }
    }
    (r, w)
}

impl Intercept for Counting {
    fn name(&self) -> &'static str {
        "bench-request-counter"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.capacity || capacity_kind(&op_key(cfg).1).is_none() {
            return Ok(());
        }
        let request = context.request_mut();
        let Some(body) = request.body().bytes().and_then(with_capacity) else {
            return Ok(());
        };
        request
            .headers_mut()
            .insert("content-length", body.len().to_string());
        *request.body_mut() = SdkBody::from(body);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(SentAt(Instant::now()));
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let time = cfg
            .load::<SentAt>()
            .map_or(Duration::ZERO, |s| s.0.elapsed());
        let (service, op) = op_key(cfg);
        let response = context.response();
        let capacity = match (capacity_kind(&op), response.body().bytes()) {
            (Some(kind), Some(body)) if self.capacity => consumed(body, kind),
            _ => (0.0, 0.0),
        };
        self.counter.record(
            format!("{service}:{op}"),
            response.status().as_u16(),
            capacity,
            time,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capacity_field_goes_first_into_any_json_object() {
        assert_eq!(
            with_capacity(br#"{"TableName":"t"}"#).unwrap(),
            br#"{"ReturnConsumedCapacity":"TOTAL","TableName":"t"}"#
        );
        assert_eq!(
            with_capacity(b"{}").unwrap(),
            br#"{"ReturnConsumedCapacity":"TOTAL"}"#
        );
        assert!(with_capacity(br#"{"ReturnConsumedCapacity":"NONE"}"#).is_none());
        assert!(with_capacity(b"").is_none());
    }

    #[test]
    fn consumed_capacity_is_summed_over_tables_and_split_by_kind() {
        let one = br#"{"ConsumedCapacity":{"TableName":"t","CapacityUnits":1.5}}"#;
        assert_eq!(consumed(one, Kind::Read), (1.5, 0.0));
        let list = br#"{"ConsumedCapacity":[{"CapacityUnits":2.0},{"CapacityUnits":4.0}]}"#;
        assert_eq!(consumed(list, Kind::Write), (0.0, 6.0));
        let split = br#"{"ConsumedCapacity":{"CapacityUnits":3,"ReadCapacityUnits":1,"WriteCapacityUnits":2}}"#;
        assert_eq!(consumed(split, Kind::Write), (1.0, 2.0));
        assert_eq!(consumed(b"{}", Kind::Read), (0.0, 0.0));
    }

    #[test]
    fn snapshots_subtract_to_what_happened_in_between() {
        let c = Counter::default();
        c.record(
            "dynamodb:Query".into(),
            200,
            (1.0, 0.0),
            Duration::from_millis(2),
        );
        let before = c.snapshot();
        c.record(
            "dynamodb:Query".into(),
            200,
            (0.5, 0.0),
            Duration::from_millis(3),
        );
        c.record(
            "sesv2:SendEmail".into(),
            200,
            (0.0, 0.0),
            Duration::from_millis(4),
        );
        let d = c.snapshot().since(&before);
        assert_eq!(d.requests(""), 2);
        assert_eq!(d.requests("dynamodb"), 1);
        assert!((d.rcu() - 0.5).abs() < 1e-9);
        assert_eq!(d.time("sesv2"), Duration::from_millis(4));
    }
}
