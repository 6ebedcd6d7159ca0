//! Terminagent: appointment wishes for citizen offices. The pure rules live in [`domain`]; the
//! adapters ([`store`], [`mailer`], [`events`]) talk to AWS; [`app`] holds the use cases that the
//! Lambda functions ([`http`], [`triggers`]) call.

pub mod app;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod mailer;
pub mod render;
pub mod store;
pub mod triggers;

pub use app::{Clock, Deps};
pub use config::Config;
