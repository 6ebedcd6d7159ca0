//! The whole system against real local emulators (DynamoDB Local, moto), through HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::missing_panics_doc
)]

mod helpers;
mod story;
