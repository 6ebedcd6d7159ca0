//! The functions as Lambda runs them: the size of each `cargo lambda build --release` zip, the
//! time from process start until it asks for its first event, the first and later invocations, and
//! the memory high-water mark — each against a hello-world `lambda_http` binary built the same
//! way in the same run (`bench/hello-lambda`, its own tiny workspace so that it links nothing
//! else).
//!
//! The processes talk to [`RuntimeApi`], a minimal Lambda Runtime API on a loopback port:
//! `GET /2018-06-01/runtime/invocation/next` hands out queued events, `POST …/{id}/response` and
//! `…/{id}/error` collect the answers. Start → ready is measured from just before `spawn` to the
//! first `next` request, which is when Lambda considers the init phase done.

use crate::util::percentile;
use anyhow::{Context as _, Result, bail};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use local_runner::emulators::Emulators;
use std::path::{Path as FsPath, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex as AsyncMutex, mpsc};

/// The seven functions, as `infra/template.yaml` deploys them.
pub const FUNCTIONS: [&str; 7] = [
    "submit-wish",
    "respond-offer",
    "admin-api",
    "staff-console",
    "slot-release",
    "match-offers",
    "deliver-outbox",
];
pub const HELLO: &str = "hello-lambda";
const TARGET: &str = "x86_64-unknown-linux-gnu";

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FunctionResult {
    pub name: String,
    pub zip_bytes: u64,
    /// Median of the starts.
    pub ready_ms: f64,
    pub ready_all_ms: Vec<f64>,
    /// The first event after a start (connections and caches still cold).
    pub first_event_ms: f64,
    /// Median of the later events.
    pub warm_event_ms: f64,
    /// `VmHWM` after all events, in KiB.
    pub hwm_kib: u64,
    /// Answers that were errors (`…/error`), of all events.
    pub errors: usize,
    pub events: usize,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FunctionsReport {
    /// Seconds `cargo lambda build` took this run (near zero when nothing changed).
    pub build_secs: f64,
    pub compiler: String,
    pub functions: Vec<FunctionResult>,
    pub hello: FunctionResult,
}

pub struct FunctionOptions {
    pub build: bool,
    pub starts: usize,
    pub events: usize,
}

// ---- a minimal Lambda Runtime API ------------------------------------------------------------

#[derive(Debug)]
struct Answer {
    id: String,
    at: Instant,
    error: bool,
}

#[derive(Clone)]
struct ApiState {
    events: Arc<AsyncMutex<mpsc::UnboundedReceiver<(String, String)>>>,
    ready: Arc<Mutex<Option<Instant>>>,
    answers: mpsc::UnboundedSender<Answer>,
}

/// One Runtime API for one process at a time.
pub struct RuntimeApi {
    pub address: String,
    events: mpsc::UnboundedSender<(String, String)>,
    ready: Arc<Mutex<Option<Instant>>>,
    answers: mpsc::UnboundedReceiver<Answer>,
    server: tokio::task::JoinHandle<()>,
    next_id: u64,
}

async fn next(State(s): State<ApiState>) -> Response {
    {
        let mut ready = s.ready.lock().unwrap_or_else(PoisonError::into_inner);
        ready.get_or_insert_with(Instant::now);
    }
    let event = s.events.lock().await.recv().await;
    let Some((id, body)) = event else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    for (k, v) in [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:eu-central-1:000000000000:function:bench".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".to_owned(),
        ),
        ("content-type", "application/json".to_owned()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    }
    (headers, body).into_response()
}

fn answered(s: &ApiState, id: String, error: bool) -> StatusCode {
    let _ = s.answers.send(Answer {
        id,
        at: Instant::now(),
        error,
    });
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    /// # Errors
    /// When no loopback port can be bound.
    pub async fn start() -> Result<Self> {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (answers_tx, answers_rx) = mpsc::unbounded_channel();
        let ready = Arc::new(Mutex::new(None));
        let state = ApiState {
            events: Arc::new(AsyncMutex::new(events_rx)),
            ready: ready.clone(),
            answers: answers_tx,
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(
                    |State(s): State<ApiState>, Path(id): Path<String>| async move {
                        answered(&s, id, false)
                    },
                ),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(
                    |State(s): State<ApiState>, Path(id): Path<String>| async move {
                        answered(&s, id, true)
                    },
                ),
            )
            .route(
                "/2018-06-01/runtime/init/error",
                post(|State(s): State<ApiState>| async move { answered(&s, "init".into(), true) }),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            address,
            events: events_tx,
            ready,
            answers: answers_rx,
            server,
            next_id: 0,
        })
    }

    /// When the process first asked for an event, waiting up to `timeout`.
    ///
    /// # Errors
    /// When it does not ask in time or reports an init error.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Instant> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(t) = *self.ready.lock().unwrap_or_else(PoisonError::into_inner) {
                return Ok(t);
            }
            if let Ok(a) = self.answers.try_recv()
                && a.id == "init"
            {
                bail!("the function reported an init error");
            }
            if Instant::now() > until {
                bail!("the function did not ask for an event within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// Hands one event to the process and waits for its answer: (milliseconds, was an error).
    ///
    /// # Errors
    /// When no answer comes within 30 s.
    pub async fn invoke(&mut self, body: &str) -> Result<(f64, bool)> {
        self.next_id += 1;
        let id = format!("bench-{}", self.next_id);
        let sent = Instant::now();
        self.events.send((id.clone(), body.to_owned()))?;
        let answer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(a) = self.answers.recv().await {
                if a.id == id || a.id == "init" {
                    return Some(a);
                }
            }
            None
        })
        .await
        .context("no answer within 30 s")?
        .context("the runtime API stopped")?;
        Ok((
            answer.at.duration_since(sent).as_secs_f64() * 1000.0,
            answer.error,
        ))
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

// ---- building --------------------------------------------------------------------------------

fn cargo_lambda(root: &FsPath) -> std::process::Command {
    // `. .local/env.sh` puts cargo-lambda on PATH; fall back to the venv path itself.
    let local = root.join(".local/venv/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![local];
    paths.extend(std::env::split_paths(&path));
    let mut cmd = std::process::Command::new("cargo");
    cmd.arg("lambda")
        .current_dir(root)
        .env("PATH", std::env::join_paths(paths).unwrap_or(path));
    cmd
}

fn run_build(mut cmd: std::process::Command, what: &str) -> Result<()> {
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running cargo lambda build for {what}"))?;
    if !status.success() {
        bail!("cargo lambda build for {what} failed ({status})");
    }
    Ok(())
}

/// `cargo lambda build --release` for the host architecture, zipped.
///
/// # Errors
/// When a build fails.
pub fn build(root: &FsPath) -> Result<f64> {
    let started = Instant::now();
    let mut cmd = cargo_lambda(root);
    cmd.args(["build", "--release", "--x86-64", "--output-format", "zip"]);
    for f in FUNCTIONS {
        cmd.args(["-p", f]);
    }
    run_build(cmd, "the functions")?;
    let mut cmd = cargo_lambda(root);
    cmd.args(["build", "--release", "--x86-64", "--output-format", "zip"])
        .arg("--manifest-path")
        .arg(root.join("bench/hello-lambda/Cargo.toml"))
        // Not `--target-dir`: cargo-lambda 1.9 passes it on to `cargo metadata`, which refuses it.
        .env("CARGO_TARGET_DIR", root.join("target/hello-lambda"))
        .arg("--lambda-dir")
        .arg(root.join("target/lambda"));
    run_build(cmd, HELLO)?;
    Ok(started.elapsed().as_secs_f64())
}

fn binary(root: &FsPath, name: &str) -> PathBuf {
    if name == HELLO {
        root.join("target/hello-lambda")
            .join(TARGET)
            .join("release")
            .join(name)
    } else {
        root.join("target").join(TARGET).join("release").join(name)
    }
}

fn zip(root: &FsPath, name: &str) -> PathBuf {
    root.join("target/lambda").join(name).join("bootstrap.zip")
}

/// Whether every zip and binary exists (to measure without building).
#[must_use]
pub fn built(root: &FsPath) -> bool {
    FUNCTIONS
        .iter()
        .chain(std::iter::once(&HELLO))
        .all(|f| zip(root, f).exists() && binary(root, f).exists())
}

// ---- measuring -------------------------------------------------------------------------------

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The events each function gets, from `events/` (and one submission).
fn events_for(root: &FsPath, name: &str) -> Result<Vec<String>> {
    let read = |f: &str| {
        std::fs::read_to_string(root.join("events").join(f))
            .with_context(|| format!("reading events/{f}"))
    };
    Ok(match name {
        "submit-wish" => {
            let page = read("submit-wish-offices.json")?;
            let mut post: serde_json::Value = serde_json::from_str(&page)?;
            post["routeKey"] = "POST /api/wishes".into();
            post["rawPath"] = "/api/wishes".into();
            post["rawQueryString"] = "".into();
            post["requestContext"]["http"]["method"] = "POST".into();
            post["requestContext"]["http"]["path"] = "/api/wishes".into();
            post["headers"]["content-type"] = "application/json".into();
            post["body"] = serde_json::json!({"email": "bench-fn@example.de", "service": "id-card",
                "offices": ["bilk"], "windows": {"mon": [8]}})
            .to_string()
            .into();
            post["isBase64Encoded"] = false.into();
            vec![page, post.to_string()]
        }
        "respond-offer" => vec![read("respond-offer-page.json")?],
        "admin-api" => vec![read("admin-stats-iam.json")?],
        "slot-release" => vec![read("slots-stream.json")?],
        "match-offers" => vec![read("match-queue.json")?, read("rescan-scheduled.json")?],
        "staff-console" => vec![read("staff-sign-in-page.json")?],
        "deliver-outbox" => vec![read("outbox-stream.json")?],
        _ => vec![read("submit-wish-offices.json")?],
    })
}

/// Starts the binary `starts` times (start → ready each), and in the last start hands it
/// `events` events.
async fn measure(
    root: &FsPath,
    name: &str,
    env: &[(String, String)],
    options: &FunctionOptions,
) -> Result<FunctionResult> {
    let path = binary(root, name);
    let events = events_for(root, name)?;
    let mut result = FunctionResult {
        name: name.to_owned(),
        zip_bytes: std::fs::metadata(zip(root, name))
            .with_context(|| format!("{}", zip(root, name).display()))?
            .len(),
        ..FunctionResult::default()
    };
    let log_dir = root.join("target/bench/logs");
    std::fs::create_dir_all(&log_dir)?;
    let mut warm = Vec::new();
    for start in 0..options.starts.max(1) {
        let mut api = RuntimeApi::start().await?;
        let log = std::fs::File::create(log_dir.join(format!("{name}.log")))?;
        let mut cmd = tokio::process::Command::new(&path);
        cmd.env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let spawned = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", path.display()))?;
        let ready = api.wait_ready(Duration::from_secs(20)).await;
        let ready = match ready {
            Ok(t) => t,
            Err(e) => {
                let _ = child.kill().await;
                return Err(e.context(format!("{name}: see target/bench/logs/{name}.log")));
            }
        };
        result
            .ready_all_ms
            .push(ready.duration_since(spawned).as_secs_f64() * 1000.0);
        if start + 1 == options.starts.max(1) {
            for i in 0..options.events.max(1) {
                let (ms, error) = api.invoke(&events[i % events.len()]).await?;
                result.events += 1;
                result.errors += usize::from(error);
                if i == 0 {
                    result.first_event_ms = ms;
                } else {
                    warm.push(ms);
                }
            }
            result.hwm_kib = child.id().map_or(0, vm_hwm_kib);
        }
        let _ = child.kill().await;
    }
    result.ready_ms = percentile(&result.ready_all_ms, 50.0);
    result.warm_event_ms = if warm.is_empty() {
        result.first_event_ms
    } else {
        percentile(&warm, 50.0)
    };
    Ok(result)
}

/// Builds (unless told not to) and measures every function and the hello world.
///
/// # Errors
/// When a build or a start fails.
pub async fn run(
    emulators: &Emulators,
    root: &FsPath,
    options: &FunctionOptions,
) -> Result<FunctionsReport> {
    let build_secs = if options.build {
        let root = root.to_owned();
        tokio::task::spawn_blocking(move || build(&root)).await??
    } else {
        0.0
    };
    if !built(root) {
        bail!("the functions are not built: run without --skip-build");
    }
    // The functions' tables, bus and queue, so their first events do real work.
    let system = local_runner::runner::LocalSystem::setup(
        emulators,
        &format!("bench-{}-fn-", std::process::id()),
        crate::system::BASE_URL,
        crate::system::ADMIN_KEY,
    )
    .await?;
    let mut env = emulators.endpoint_env();
    env.extend(
        [
            ("WISHES_TABLE", system.infra.wishes_table.as_str()),
            ("SLOTS_TABLE", system.infra.slots_table.as_str()),
            ("EVENT_BUS_NAME", system.infra.event_bus.as_str()),
            ("MATCH_QUEUE_URL", system.infra.match_queue_url.as_str()),
            ("MAIL_FROM", system.infra.mail_from.as_str()),
            ("PUBLIC_BASE_URL", crate::system::BASE_URL),
            ("ADMIN_AUTH", "iam"),
            ("STAFF_USER_POOL_ID", system.staff.pool_id.as_str()),
            ("STAFF_CLIENT_ID", system.staff.client_id.as_str()),
            ("STAFF_JWKS_URL", system.staff.jwks_url.as_str()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let mut functions = Vec::new();
    let progress = crate::util::bar(FUNCTIONS.len() as u64 + 1, "functions");
    let hello = measure(root, HELLO, &env, options).await?;
    progress.inc(1);
    for f in FUNCTIONS {
        functions.push(measure(root, f, &env, options).await?);
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(FunctionsReport {
        build_secs,
        compiler: "cargo lambda build --release --x86-64 --output-format zip".into(),
        functions,
        hello,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pretend function: asks for events, answers `{"fail":true}` with an error.
    async fn pretend_function(base: String) {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        loop {
            let Ok(r) = client.get(format!("{base}/invocation/next")).send().await else {
                return;
            };
            let id = r
                .headers()
                .get("lambda-runtime-aws-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            assert!(r.headers().contains_key("lambda-runtime-deadline-ms"));
            let body = r.text().await.unwrap_or_default();
            let kind = if body.contains("fail") {
                "error"
            } else {
                "response"
            };
            let _ = client
                .post(format!("{base}/invocation/{id}/{kind}"))
                .body("{}")
                .send()
                .await;
        }
    }

    #[tokio::test]
    async fn the_runtime_api_hands_out_events_and_collects_answers_like_lambda() {
        let mut api = RuntimeApi::start().await.unwrap();
        let base = format!("http://{}/2018-06-01/runtime", api.address);
        let function = tokio::spawn(pretend_function(base));
        api.wait_ready(Duration::from_secs(5)).await.unwrap();
        let (ms, error) = api.invoke(r#"{"n":1}"#).await.unwrap();
        assert!(!error);
        assert!(ms >= 0.0);
        let (_, error) = api.invoke(r#"{"fail":true}"#).await.unwrap();
        assert!(error);
        function.abort();
    }

    #[test]
    fn vm_hwm_is_read_from_proc() {
        assert!(vm_hwm_kib(std::process::id()) > 0);
    }
}
