//! The whole system against real local emulators (`DynamoDB` Local, moto), through HTTP.
// Tests read best as one story each; an unwrap is the assertion that the step worked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::missing_panics_doc,
    clippy::too_many_lines,
    clippy::similar_names,
    clippy::doc_markdown
)]

mod accessibility;
mod allocation;
mod api;
mod appointment;
mod challenge;
mod concurrency;
mod earlier;
mod events;
mod families;
mod faults;
mod feed;
mod gateway;
mod helpers;
mod hostile;
mod iam;
mod lifecycle;
mod limits;
mod model;
mod phone;
mod place;
mod quiet;
mod rescan;
mod sign_in;
mod staff;
mod statistics;
mod story;
mod stress;
mod wait;
