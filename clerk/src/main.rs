//! `clerk` — see the crate docs (`src/lib.rs`) and `clerk --help`.

use clap::{Parser, Subcommand, ValueEnum};
use clerk::api::{self, ApiError, Client};
use clerk::file::{self, Format, RowError};
use clerk::table;
use std::path::PathBuf;
use std::process::ExitCode;

/// Most problems listed for one file; the rest are counted.
const MAX_SHOWN: usize = 50;

#[derive(Parser)]
#[command(
    name = "clerk",
    version,
    about = "Feed Terminagent's appointment slots from a booking system and look at the queue",
    after_help = "Examples:\n  clerk slots load export.csv\n  clerk slots release bilk-2026-12-02-0830\n  clerk stats\n  clerk audit verify --from 2026-12-01 --to 2026-12-06\n\nThe key is best passed as TERMINAGENT_ADMIN_KEY (a --key shows in the process list)."
)]
struct Cli {
    /// Base URL of the Terminagent server.
    #[arg(
        long,
        env = "TERMINAGENT_URL",
        default_value = "http://127.0.0.1:3000",
        global = true
    )]
    url: String,
    /// Admin key of the server.
    #[arg(
        long,
        env = "TERMINAGENT_ADMIN_KEY",
        hide_env_values = true,
        global = true
    )]
    key: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Appointment slots.
    #[command(subcommand)]
    Slots(SlotsCommand),
    /// The queue's lines.
    #[command(subcommand)]
    Lines(LinesCommand),
    /// The allocation record: every offer's hash-chained record of whom the line passed over.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Wishes waiting per office and service, offers and acceptance rate.
    Stats {
        /// Print the server's JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum LinesCommand {
    /// Recount every line's counts (the wish page's places) from its entries: once after an
    /// upgrade that brings the counts, or to repair them. Safe while the system runs.
    Recount,
}

#[derive(Subcommand)]
enum SlotsCommand {
    /// Add or update slots from a CSV or JSON file (all or nothing).
    Load {
        /// The file; CSV header: id,office,service,start,minutes,status[,persons] (`,` or `;`;
        /// `persons`, how many people a slot serves, may be left out: one).
        file: PathBuf,
        /// The file's format; by default from its extension, else its content.
        #[arg(long, value_enum)]
        format: Option<FileFormat>,
        /// Check the file (and its offices and services against the server) without storing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A booked slot was cancelled: it becomes free and goes to the queue first.
    Release { id: String },
    /// The office takes a slot back (a free or offered one; release a booked one first).
    Withdraw { id: String },
    /// Show one slot.
    Show {
        id: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the allocation record of a period and replay every record against the matching
    /// rule; exits with 1 when anything is edited, missing, out of order or not the rule's.
    Verify {
        /// First day (UTC), YYYY-MM-DD; default: six days before --to.
        #[arg(long)]
        from: Option<String>,
        /// Last day (UTC), YYYY-MM-DD; default: today.
        #[arg(long)]
        to: Option<String>,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum FileFormat {
    Csv,
    Json,
}

/// What went wrong, for the exit code and the message.
enum Failure {
    /// The file has problems: each is printed, nothing was stored.
    File(Vec<RowError>),
    /// The verification found problems (already printed).
    Findings,
    Api(ApiError),
    Other(String),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::File(errors)) => {
            eprintln!(
                "clerk: the file has {} problem{}; nothing was stored:",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            for e in errors.iter().take(MAX_SHOWN) {
                eprintln!("  {e}");
            }
            if errors.len() > MAX_SHOWN {
                eprintln!("  … and {} more", errors.len() - MAX_SHOWN);
            }
            ExitCode::FAILURE
        }
        Err(Failure::Api(e)) => {
            eprintln!("clerk: {e}");
            ExitCode::FAILURE
        }
        Err(Failure::Findings) => ExitCode::FAILURE,
        Err(Failure::Other(e)) => {
            eprintln!("clerk: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let client = Client::new(&cli.url, cli.key.filter(|k| !k.trim().is_empty()))?;
    match cli.command {
        Command::Lines(LinesCommand::Recount) => {
            let (mut lines, mut entries, mut corrected) = (0, 0, 0);
            let mut after: Option<String> = None;
            loop {
                let page = client.recount(after.as_deref()).await?;
                let count = |k: &str| page[k].as_u64().unwrap_or(0);
                lines += count("lines");
                entries += count("entries");
                corrected += count("corrected");
                after = page["next"].as_str().map(str::to_owned);
                match &after {
                    Some(next) => eprintln!("… {lines} lines so far (next: {next})"),
                    None => break,
                }
            }
            println!("{lines} lines recounted ({entries} entries); {corrected} counts set right.");
        }
        Command::Stats { json } => {
            let stats = client.stats().await?;
            if json {
                println!("{}", pretty(&stats));
            } else {
                print!("{}", table::stats(&stats));
            }
        }
        Command::Audit(AuditCommand::Verify { from, to, json }) => {
            let report = client
                .verify_allocations(from.as_deref(), to.as_deref())
                .await?;
            if json {
                println!("{}", pretty(&report));
            } else {
                print!("{}", table::allocation_report(&report));
            }
            if report.get("ok").and_then(serde_json::Value::as_bool) != Some(true) {
                return Err(Failure::Findings);
            }
        }
        Command::Slots(SlotsCommand::Show { id, json }) => {
            let slot = client.slot(&id).await?;
            if json {
                println!("{}", pretty(&slot));
            } else {
                print!("{}", table::slot(&slot));
            }
        }
        Command::Slots(SlotsCommand::Release { id }) => {
            let slot = client.release(&id).await?;
            println!("Released {id}: it is free and goes to the wishes in line first.");
            print!("{}", table::slot(&slot));
        }
        Command::Slots(SlotsCommand::Withdraw { id }) => {
            client.withdraw(&id).await?;
            println!(
                "Withdrew {id}. If it was offered, the offer is withdrawn and the wish keeps its place in line."
            );
        }
        Command::Slots(SlotsCommand::Load {
            file,
            format,
            dry_run,
        }) => load(&client, &file, format, dry_run).await?,
    }
    Ok(())
}

async fn load(
    client: &Client,
    path: &std::path::Path,
    format: Option<FileFormat>,
    dry_run: bool,
) -> Result<(), Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::Other(format!("cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Failure::Other(format!(
            "{} is not UTF-8 text (byte {}); export it as UTF-8",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    let format = match format {
        Some(FileFormat::Csv) => Format::Csv,
        Some(FileFormat::Json) => Format::Json,
        None => Format::guess(&path.to_string_lossy(), &text),
    };
    let rows = file::parse(&text, format).map_err(Failure::File)?;
    let offices = client.offices().await?;
    let problems = api::check_catalog(&rows, &offices);
    if !problems.is_empty() {
        return Err(Failure::File(problems));
    }
    if dry_run {
        println!(
            "{}: {} slots, all fine (dry run: nothing was sent).",
            path.display(),
            rows.len()
        );
        return Ok(());
    }
    match client.put_slots(&rows).await {
        Ok(s) => {
            println!(
                "{}: {} slots loaded — {} new, {} updated, {} unchanged, {} held by an offer.",
                path.display(),
                rows.len(),
                s.created,
                s.updated,
                s.unchanged,
                s.conflicts
            );
            if !s.conflict_ids.is_empty() {
                println!(
                    "Left alone (an open offer or a booking through one decides): {}",
                    s.conflict_ids.join(", ")
                );
            }
            Ok(())
        }
        // The server checks each batch as a whole too; the catalogue check above makes this
        // rare (the catalogue changed in between).
        Err(ApiError::Invalid { fields, offset, .. }) if !fields.is_empty() && offset == 0 => Err(
            Failure::File(api::locate_server_errors(&fields, &rows, offset)),
        ),
        Err(ApiError::Invalid { fields, offset, .. }) if !fields.is_empty() => {
            let problems = api::locate_server_errors(&fields, &rows, offset)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            Err(Failure::Other(format!(
                "the server refused a batch: {problems}. The {offset} rows before it were stored; \
                 after fixing the file, loading it again is safe (stored rows come back unchanged)."
            )))
        }
        Err(e) => Err(e.into()),
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}
