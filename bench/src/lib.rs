//! Terminagent's benchmark (`cargo run --profile perf -p bench -- full`, or `-- --quick`).
//!
//! Phases, each on its own tables in the same emulators (`DynamoDB` Local and moto, started as
//! the local runner starts them):
//! - [`submit`]: `POST /api/wishes` through the HTTP router against bare `PutItem`s, and the cost of
//!   every later step of a wish (confirm, offer, answer, rescan);
//! - [`depth`]: cost per offer at growing queue depths, beside the floor;
//! - [`storm`]: many slots freed at once through stream → slot-release → match-offers' FIFO queue
//!   → match-offers, and the invariants afterwards ([`invariants`]);
//! - [`functions`]: zip size, start → ready, first event and memory of each Lambda binary against a
//!   hello world.
//!
//! Requests and capacity units are counted by an SDK interceptor ([`counter`]).

pub mod counter;
pub mod depth;
pub mod functions;
pub mod invariants;
pub mod page;
pub mod report;
pub mod storm;
pub mod submit;
pub mod system;
pub mod util;
pub mod workload;

use anyhow::Result;
use local_runner::emulators::Emulators;
use std::path::PathBuf;
use std::time::Instant;

/// What to run, and how big.
pub struct Options {
    pub mode: &'static str,
    pub depth: depth::DepthOptions,
    pub storm: storm::StormOptions,
    pub submit: submit::SubmitOptions,
    /// `None`: do not measure the functions.
    pub functions: Option<functions::FunctionOptions>,
    /// Only the release storm (a quicker look at it alone).
    pub storm_only: bool,
}

impl Options {
    /// The sizes: 1 000 / 10 000 / 100 000 wishes, a storm of 1 000 slots over 10 000
    /// wishes, 2 000 submissions.
    #[must_use]
    pub fn full() -> Self {
        Self {
            mode: "full",
            depth: depth::DepthOptions {
                depths: vec![1_000, 10_000, 100_000],
                samples: 150,
                warmup: 20,
                seed: 42,
                page_place: 10_000,
                families: 20,
            },
            storm: storm::StormOptions {
                wishes: 10_000,
                slots: 1_000,
                concurrency: 5,
                seed: 43,
            },
            submit: submit::SubmitOptions {
                count: 2_000,
                concurrency: 4,
                lifecycle: 40,
                seed: 44,
            },
            functions: Some(functions::FunctionOptions {
                build: true,
                starts: 7,
                events: 20,
            }),
            storm_only: false,
        }
    }

    /// A smoke run of every phase but the function builds, in well under a minute.
    #[must_use]
    pub fn quick() -> Self {
        Self {
            mode: "quick",
            depth: depth::DepthOptions {
                depths: vec![100, 300, 1_000],
                samples: 8,
                warmup: 2,
                seed: 42,
                page_place: 10_000,
                families: 20,
            },
            storm: storm::StormOptions {
                wishes: 500,
                slots: 40,
                concurrency: 5,
                seed: 43,
            },
            submit: submit::SubmitOptions {
                count: 30,
                concurrency: 4,
                lifecycle: 4,
                seed: 44,
            },
            functions: None,
            storm_only: false,
        }
    }
}

/// The machine the numbers were measured on.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub mem_gib: f64,
    pub os: String,
    pub rustc: String,
    /// `/proc/loadavg` (1-minute) when the run started and ended: other work on the machine.
    pub load_start: f64,
    pub load_end: f64,
}

/// The 1-minute load average.
#[must_use]
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

impl Machine {
    #[must_use]
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown CPU".to_owned(), |(_, v)| v.trim().to_owned());
        let mem_kib: f64 = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let os = std::fs::read_to_string("/etc/os-release")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map_or_else(
                || std::env::consts::OS.to_owned(),
                |v| v.trim_matches('"').to_owned(),
            );
        let rustc = std::process::Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map_or_else(|| "rustc".to_owned(), |v| v.trim().to_owned());
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            mem_gib: mem_kib / 1024.0 / 1024.0,
            os,
            rustc,
            load_start: load_average(),
            load_end: 0.0,
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Results {
    pub mode: String,
    pub date: String,
    pub machine: Machine,
    pub total_secs: f64,
    pub submit: Option<submit::SubmitResult>,
    pub depth: Option<depth::DepthReport>,
    pub storm: Option<storm::StormResult>,
    pub functions: Option<functions::FunctionsReport>,
    pub functions_skipped: Option<String>,
}

/// The repository root (where `docs/`, `events/` and `target/` are).
#[must_use]
pub fn repo_root() -> PathBuf {
    local_runner::runner::repo_root()
}

/// Runs every phase against running emulators.
///
/// # Errors
/// When a phase fails.
pub async fn run(options: &Options, emulators: &Emulators) -> Result<Results> {
    let started = Instant::now();
    let mut results = Results {
        mode: options.mode.to_owned(),
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        machine: Machine::detect(),
        ..Results::default()
    };
    if !options.storm_only {
        eprintln!("== submissions");
        results.submit = Some(Box::pin(submit::run(emulators, &options.submit)).await?);
        eprintln!("== cost per offer against queue depth");
        // The depth phase and the storm each on emulators of their own: DynamoDB Local slows
        // down badly with the stream records its one database holds for other tables (a GetItem
        // took 70 ms after the submissions phase), and these phases write hundreds of thousands
        // of items.
        let own = Emulators::start(&local_runner::emulators::default_log_dir()).await?;
        results.depth = Some(Box::pin(depth::run(&own, &options.depth)).await?);
        drop(own);
    }
    eprintln!("== release storm");
    let own = Emulators::start(&local_runner::emulators::default_log_dir()).await?;
    let (storm, phase) = Box::pin(storm::run(&own, &options.storm)).await?;
    results.storm = Some(storm);
    drop(phase);
    drop(own);
    let mut build_secs = 0.0;
    match &options.functions {
        Some(f) => {
            eprintln!("== functions");
            let report = functions::run(emulators, &repo_root(), f).await?;
            build_secs = report.build_secs;
            results.functions = Some(report);
        }
        None => {
            results.functions_skipped =
                Some("the quick run does not build them; see the full run".into());
        }
    }
    results.total_secs = started.elapsed().as_secs_f64() - build_secs;
    results.machine.load_end = load_average();
    Ok(results)
}
