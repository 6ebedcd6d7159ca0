//! `cargo run --profile perf -p bench -- full` (about 6 minutes on two cores, plus the first build of
//! the functions) or `-- --quick` (under a minute). Start from a shell where `. .local/env.sh` was
//! sourced (the emulators' paths; `scripts/bootstrap.sh` installs them).
//!
//! Writes `target/bench/<mode>/results.json`, `report.md` and `performance.svg`; the full run
//! also updates the generated part of `docs/performance.md` and `docs/performance.svg`.

use anyhow::Context as _;
use bench::{Options, report};
use clap::Parser;
use local_runner::emulators::{Emulators, default_log_dir};

// Command-line switches are naturally independent bools.
#[allow(clippy::struct_excessive_bools)]
#[derive(Parser)]
#[command(
    about = "Terminagent's benchmark: cost per offer, release storms, submissions, functions"
)]
struct Cli {
    /// `full` (the sizes) or `quick` (a smoke run).
    #[arg(default_value = "full")]
    mode: String,
    /// Same as the mode `quick`.
    #[arg(long)]
    quick: bool,
    /// Measure the functions as they are built, without running `cargo lambda build`.
    #[arg(long)]
    skip_build: bool,
    /// Do not measure the functions at all.
    #[arg(long)]
    skip_functions: bool,
    /// Do not touch `docs/` (the full run updates it by default).
    #[arg(long)]
    no_docs: bool,
    /// Run only the release storm (implies `--skip-functions` and `--no-docs`).
    #[arg(long)]
    storm_only: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut options = if cli.quick || cli.mode == "quick" {
        Options::quick()
    } else if cli.mode == "full" {
        Options::full()
    } else {
        anyhow::bail!("unknown mode {:?}: use full or quick", cli.mode);
    };
    options.storm_only = cli.storm_only;
    if cli.skip_functions || cli.storm_only {
        options.functions = None;
    } else if let Some(f) = options.functions.as_mut() {
        f.build = !cli.skip_build;
    }
    let emulators = Emulators::start(&default_log_dir())
        .await
        .context("starting the emulators (source .local/env.sh first)")?;
    let results = Box::pin(bench::run(&options, &emulators)).await;
    emulators.stop().await;
    let results = results?;

    let root = bench::repo_root();
    let out = root.join("target/bench").join(&results.mode);
    std::fs::create_dir_all(&out)?;
    let block = report::markdown(&results);
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    std::fs::write(out.join("report.md"), &block)?;
    report::svg(&results, &out.join("performance.svg"))?;
    println!("{block}");
    if results.mode == "full" && !cli.no_docs && !cli.storm_only {
        let doc_path = root.join("docs/performance.md");
        let doc = std::fs::read_to_string(&doc_path).ok();
        std::fs::write(&doc_path, report::splice(doc.as_deref(), &block))?;
        report::svg(&results, &root.join("docs/performance.svg"))?;
        eprintln!("updated docs/performance.md and docs/performance.svg");
    }
    eprintln!("results in {}", out.display());
    Ok(())
}
