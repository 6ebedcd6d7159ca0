//! `DynamoDB` Local and moto as child processes on free loopback ports, and SDK clients for them.
//!
//! Paths come from `TERMINAGENT_DDB_JAR`, `TERMINAGENT_DDB_LIB` and `TERMINAGENT_MOTO_SERVER`,
//! which `scripts/bootstrap.sh` writes into `.local/env.sh`.
//!
//! # Cleanup
//! Each emulator runs under a tiny `sh` wrapper that starts a background watchdog and then
//! `exec`s the emulator, so the child we hold *is* the emulator (killing it needs no signal
//! forwarding). The watchdog polls, once a second, whether the process that started the
//! emulator is still alive; when it is gone it sends the emulator `TERM`, then `KILL`. That
//! covers what `Drop` cannot: a `static` shared instance (statics are never dropped), a test
//! binary that exits or panics with `panic=abort`, a runner killed by a signal. `Drop` and
//! [`Emulators::stop`] kill the emulators at once. `prctl(PR_SET_PDEATHSIG)` would need
//! `unsafe` (forbidden here), and nothing in std notices a parent's death, hence the watchdog:
//! a sleeping `sh` and one `sleep` a second per emulator.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use tokio::sync::OnceCell;

/// The region every local client and child process uses.
pub const REGION: &str = "eu-central-1";

/// Static credentials for the emulators. Both accept any key, but moto keys its state by
/// account, and every key that is not 12 digits maps to its default account: in-process
/// clients and child processes must use the same pair to see the same moto state.
const ACCESS_KEY_ID: &str = "test";
const SECRET_ACCESS_KEY: &str = "test";

const START_TIMEOUT: Duration = Duration::from_mins(1);
const LOG_TAIL_LINES: usize = 25;

/// `sh -c WATCHDOG sh <parent pid> <program> <args>…`: a background subshell watches the parent
/// (`$$` inside it is the wrapper's pid, which `exec` hands to the emulator) and ends the
/// emulator once the parent is gone; the wrapper then becomes the emulator.
const WATCHDOG: &str = r#"parent=$1; shift
(
  while kill -0 "$parent" 2>/dev/null && kill -0 $$ 2>/dev/null; do sleep 1; done
  kill -TERM $$ 2>/dev/null
  for _ in 1 2 3 4 5; do kill -0 $$ 2>/dev/null || exit 0; sleep 1; done
  kill -KILL $$ 2>/dev/null
) </dev/null >/dev/null 2>&1 &
exec "$@"
"#;

/// Region [`REGION`] and credentials with `access_key` (any key but a 12-digit one maps to
/// moto's default account, so every key sees the same moto state), without endpoints.
pub async fn sdk_config_as(access_key: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(shared::https_client())
        .region(Region::from_static(REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            access_key,
            SECRET_ACCESS_KEY,
            None,
            None,
            "terminagent-local",
        ))
        .load()
        .await
}

impl Clients {
    /// One client per service: `DynamoDB` and its streams at `ddb`, SES at `mail`, the others
    /// at `moto`.
    #[must_use]
    pub fn at(sdk: &SdkConfig, ddb: &str, moto: &str, mail: &str) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(sdk)
                    .endpoint_url(ddb)
                    .build(),
            ),
            streams: aws_sdk_dynamodbstreams::Client::from_conf(
                aws_sdk_dynamodbstreams::config::Builder::from(sdk)
                    .endpoint_url(ddb)
                    .build(),
            ),
            cognito: aws_sdk_cognitoidentityprovider::Client::from_conf(
                aws_sdk_cognitoidentityprovider::config::Builder::from(sdk)
                    .endpoint_url(moto)
                    .build(),
            ),
            sesv2: aws_sdk_sesv2::Client::from_conf(
                aws_sdk_sesv2::config::Builder::from(sdk)
                    .endpoint_url(mail)
                    .build(),
            ),
            eventbridge: aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(sdk)
                    .endpoint_url(moto)
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(sdk)
                    .endpoint_url(moto)
                    .build(),
            ),
        }
    }
}

/// `DynamoDB` Local (`-inMemory -sharedDb`) and two moto servers, running and answering: one
/// for SES alone (the sent mails are read from its state dump, `/moto-api/data.json`, whose
/// cost grows with everything a moto holds — every queue message, user pool and event rule of
/// every test), one for the other services.
///
/// All are killed when this value is dropped or [`stop`](Self::stop)ped, and, through a
/// watchdog, when the process that started them exits (see the module docs).
#[derive(Debug)]
pub struct Emulators {
    dynamodb: Emulator,
    moto: Emulator,
    mail: Emulator,
}

/// The real SDK clients, each pointed at its emulator.
#[derive(Clone, Debug)]
pub struct Clients {
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sesv2: aws_sdk_sesv2::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
}

static SHARED: OnceCell<Emulators> = OnceCell::const_new();

/// Where emulator logs go by default: `<repo root>/.local/logs`.
#[must_use]
pub fn default_log_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(".local")
        .join("logs")
}

/// One instance for the whole process (a test binary), started on first use with logs in
/// [`default_log_dir`].
///
/// Only the child processes are shared. Each `#[tokio::test]` runs in its own runtime, and SDK
/// clients (their connection pools) are bound to the runtime that created them, so every test
/// calls [`Emulators::sdk_config`] and [`Emulators::clients`] itself. The instance lives in a
/// `static`, which is never dropped: the watchdog ends the emulators when the process exits.
/// Tests share the emulators' state, so each uses its own table prefix and recipients.
///
/// # Errors
/// When the emulators are not installed or do not come up; a later call tries again.
pub async fn shared() -> Result<&'static Emulators> {
    SHARED
        .get_or_try_init(|| async { Emulators::start(&default_log_dir()).await })
        .await
}

impl Emulators {
    /// Starts both emulators on free loopback ports and waits (up to 60 s) until both answer.
    /// Their stdout and stderr go to `<log_dir>/dynamodb-local-<port>.log` and
    /// `<log_dir>/moto-<port>.log`.
    ///
    /// # Errors
    /// When an env var from `scripts/bootstrap.sh` is missing, a process cannot be spawned, or an
    /// emulator exits or stays silent (the error carries the end of its log).
    pub async fn start(log_dir: &Path) -> Result<Self> {
        let jar = installed_path("TERMINAGENT_DDB_JAR")?;
        let lib = installed_path("TERMINAGENT_DDB_LIB")?;
        let moto_server = installed_path("TERMINAGENT_MOTO_SERVER")?;
        std::fs::create_dir_all(log_dir)
            .with_context(|| format!("creating log directory {}", log_dir.display()))?;
        // Absolute, so that error messages name the file and the emulators' cwd is valid.
        let log_dir = &std::fs::canonicalize(log_dir)?;

        let port = free_port()?;
        let dynamodb = Emulator::spawn(
            "DynamoDB Local",
            port,
            &log_dir.join(format!("dynamodb-local-{port}.log")),
            "java",
            &[
                format!("-Djava.library.path={}", lib.display()).as_str(),
                "-jar",
                &jar.to_string_lossy(),
                "-inMemory",
                "-sharedDb",
                // It would otherwise phone home, and write an installation id into its cwd.
                "-disableTelemetry",
                "-port",
                &port.to_string(),
            ],
        )?;
        let port = free_port()?;
        let moto = Emulator::spawn(
            "moto",
            port,
            &log_dir.join(format!("moto-{port}.log")),
            &moto_server.to_string_lossy(),
            &["-H", "127.0.0.1", "-p", &port.to_string()],
        )?;
        let port = free_port()?;
        let mail = Emulator::spawn(
            "moto (SES)",
            port,
            &log_dir.join(format!("moto-mail-{port}.log")),
            &moto_server.to_string_lossy(),
            &["-H", "127.0.0.1", "-p", &port.to_string()],
        )?;
        // Owned from here on, so an early return below kills them all.
        let mut emulators = Self {
            dynamodb,
            moto,
            mail,
        };

        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        // Any HTTP answer means the server is listening: DynamoDB Local answers `GET /` with 400.
        let deadline = Instant::now() + START_TIMEOUT;
        emulators
            .moto
            .wait_until_answering(&http, "/moto-api/", deadline)
            .await?;
        emulators
            .mail
            .wait_until_answering(&http, "/moto-api/", deadline)
            .await?;
        emulators
            .dynamodb
            .wait_until_answering(&http, "/", deadline)
            .await?;
        Ok(emulators)
    }

    /// `http://127.0.0.1:<port>` of `DynamoDB` Local (also its `DynamoDB` Streams endpoint).
    #[must_use]
    pub fn dynamodb_endpoint(&self) -> &str {
        &self.dynamodb.endpoint
    }

    /// `http://127.0.0.1:<port>` of moto (`EventBridge`, SQS, Cognito and `/moto-api/`).
    #[must_use]
    pub fn moto_endpoint(&self) -> &str {
        &self.moto.endpoint
    }

    /// `http://127.0.0.1:<port>` of the moto that serves SES (`SESv2`; the sent mails in its
    /// `/moto-api/data.json`).
    #[must_use]
    pub fn mail_endpoint(&self) -> &str {
        &self.mail.endpoint
    }

    /// Region [`REGION`] and static test credentials, without endpoints: [`Self::clients`] sets
    /// one per client. Load it in the runtime that will use the clients.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_as(ACCESS_KEY_ID).await
    }

    /// One client per service, each with its emulator's endpoint.
    #[must_use]
    pub fn clients(&self, sdk: &SdkConfig) -> Clients {
        Clients::at(
            sdk,
            self.dynamodb_endpoint(),
            self.moto_endpoint(),
            self.mail_endpoint(),
        )
    }

    /// Environment for a child process whose `aws_config::load_defaults` should reach these
    /// emulators: the per-service `AWS_ENDPOINT_URL_*` (never the global `AWS_ENDPOINT_URL`),
    /// `AWS_REGION`, the test credentials, and no EC2 metadata lookups. Remove
    /// `AWS_SESSION_TOKEN` and `AWS_PROFILE` from the child's env if the parent may have them.
    #[must_use]
    pub fn endpoint_env(&self) -> Vec<(String, String)> {
        let ddb = self.dynamodb_endpoint();
        let moto = self.moto_endpoint();
        [
            ("AWS_ENDPOINT_URL_DYNAMODB", ddb),
            ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", ddb),
            ("AWS_ENDPOINT_URL_SESV2", self.mail_endpoint()),
            ("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", moto),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", moto),
            ("AWS_ENDPOINT_URL_SQS", moto),
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Kills both emulators and waits until they are gone.
    pub async fn stop(mut self) {
        self.dynamodb.kill();
        self.moto.kill();
        self.mail.kill();
        for emulator in [&mut self.dynamodb, &mut self.moto, &mut self.mail] {
            // try_wait, not wait: a blocking wait would stall the runtime's worker.
            while matches!(emulator.child.try_wait(), Ok(None)) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// One running emulator process (the wrapper `exec`s into it, so `child` is the emulator).
#[derive(Debug)]
struct Emulator {
    name: &'static str,
    endpoint: String,
    log: PathBuf,
    child: Child,
}

impl Emulator {
    fn spawn(
        name: &'static str,
        port: u16,
        log: &Path,
        program: &str,
        args: &[&str],
    ) -> Result<Self> {
        let child = spawn_watched(std::process::id(), program, args, log)
            .with_context(|| format!("starting {name} ({program})"))?;
        Ok(Self {
            name,
            endpoint: format!("http://127.0.0.1:{port}"),
            log: log.to_owned(),
            child,
        })
    }

    async fn wait_until_answering(
        &mut self,
        http: &reqwest::Client,
        path: &str,
        deadline: Instant,
    ) -> Result<()> {
        let url = format!("{}{path}", self.endpoint);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before answering on {}; end of {}:\n{}",
                    self.name,
                    self.endpoint,
                    self.log.display(),
                    log_tail(&self.log)
                );
            }
            if http.get(&url).send().await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not answer on {} within {} s; end of {}:\n{}",
                    self.name,
                    self.endpoint,
                    START_TIMEOUT.as_secs(),
                    self.log.display(),
                    log_tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn kill(&mut self) {
        // Err only when it has exited already, which is what we want.
        let _ = self.child.kill();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.kill();
        // Reaps it (no zombie); returns at once after SIGKILL.
        let _ = self.child.wait();
    }
}

/// Spawns `program` under the [`WATCHDOG`] wrapper, ending it once `parent` is gone; stdout and
/// stderr both go to `log` (truncated first). It runs in `log`'s directory: `DynamoDB` Local
/// drops a `dynamodb-local-metadata.json` into its working directory, which belongs there
/// rather than in the repository.
fn spawn_watched(parent: u32, program: &str, args: &[&str], log: &Path) -> Result<Child> {
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    let child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("sh")
        .arg(parent.to_string())
        .arg(program)
        .args(args)
        .current_dir(log.parent().unwrap_or_else(|| Path::new(".")))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()?;
    Ok(child)
}

fn installed_path(var: &str) -> Result<PathBuf> {
    let value = std::env::var_os(var).ok_or_else(|| {
        anyhow!(
            "{var} is not set: run `scripts/bootstrap.sh` once, then `. .local/env.sh` in this shell"
        )
    })?;
    let path = PathBuf::from(value);
    if !path.exists() {
        bail!(
            "{var} points to {}, which does not exist: run `scripts/bootstrap.sh` again",
            path.display()
        );
    }
    Ok(path)
}

/// A port that was free a moment ago. Another process could take it before the emulator binds
/// it; the emulator then exits and `start` reports it with the log.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn log_tail(log: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(log) {
        // The last 16 KiB hold far more than the lines we show.
        let len = file.metadata().map_or(0, |m| m.len());
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    #[test]
    fn a_watched_process_ends_soon_after_its_parent_is_gone() {
        let dir = std::env::temp_dir();
        let mut parent = Command::new("sleep").arg("1").spawn().unwrap();
        let log = dir.join(format!("watchdog-test-{}.log", std::process::id()));
        let mut watched = spawn_watched(parent.id(), "sleep", &["600"], &log).unwrap();

        std::thread::sleep(Duration::from_millis(300));
        assert!(
            watched.try_wait().unwrap().is_none(),
            "runs while its parent lives"
        );

        parent.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while watched.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "still running 5 s after its parent ended"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::remove_file(log);
    }

    #[test]
    fn the_watched_child_is_the_program_itself_so_killing_it_leaves_nothing_behind() {
        let log = std::env::temp_dir().join(format!("watchdog-exec-{}.log", std::process::id()));
        let mut watched = spawn_watched(std::process::id(), "sleep", &["600"], &log).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", watched.id())).unwrap();
        assert_eq!(comm.trim(), "sleep");

        watched.kill().unwrap();
        watched.wait().unwrap();
        assert!(!alive(watched.id()));
        let _ = std::fs::remove_file(log);
    }

    #[test]
    fn a_missing_install_says_to_run_bootstrap() {
        let err = installed_path("TERMINAGENT_SURELY_NOT_SET").unwrap_err();
        assert!(err.to_string().contains("scripts/bootstrap.sh"), "{err}");
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let log = std::env::temp_dir().join(format!("tail-test-{}.log", std::process::id()));
        let text: String = (0..100).fold(String::new(), |text, i| text + &format!("line {i}\n"));
        std::fs::write(&log, text).unwrap();
        let tail = log_tail(&log);
        assert!(tail.starts_with("line 75\n"), "{tail}");
        assert!(tail.ends_with("line 99"), "{tail}");
        let _ = std::fs::remove_file(log);
    }
}
