//! `clerk`: the command line for Terminagent's admin API, for a citizen office's clerk or the
//! booking system's export job.
//!
//! - `clerk slots load FILE` — slots from a CSV (`id,office,service,start,minutes,status`) or JSON
//!   file; the whole file is checked first (syntax, then offices and services against
//!   `GET /api/offices`), and any bad row stops it with every problem named by line and field:
//!   nothing is half-loaded.
//! - `clerk slots release|withdraw|show ID`, `clerk stats`.
//! - `clerk audit verify [--from DAY] [--to DAY]` — the allocation record of the period walked
//!   and replayed by the server; every edited, missing or out-of-order record and every
//!   allocation the matching rule would not have made, by chain and position; exit code 1 then.
//!
//! Talks to `--url` / `TERMINAGENT_URL` with `Authorization: Bearer` `--key` /
//! `TERMINAGENT_ADMIN_KEY` (the server's `ADMIN_KEY`; deployments with `ADMIN_AUTH=iam` need a
//! SigV4-signing client instead).

pub mod api;
/// The slot file's reading and checks, shared with the staff console's upload.
pub use domain::slot_file as file;
pub mod table;
