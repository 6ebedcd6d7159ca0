//! Terminagent: appointment wishes for citizen offices. The pure rules live in [`domain`]; the
//! adapters ([`store`], [`mailer`], [`events`]) talk to AWS; [`app`] holds the use cases that the
//! Lambda functions ([`http`], [`triggers`]) call.

pub mod app;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod mailer;
pub mod mails;
pub mod render;
pub mod store;
pub mod triggers;

pub use app::{Clock, Deps};
pub use config::Config;

/// The HTTPS client of every AWS SDK client: rustls with the *ring* crypto provider. The SDK's
/// default client (rustls with aws-lc) is switched off in the workspace manifest: aws-lc is a
/// large C library that made every function's zip over 3 MB (see `docs/performance.md`).
#[must_use]
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// A function's dependencies, as its environment describes them (`Config::from_env`, the SDK's
/// region and credentials, the real clock).
///
/// # Errors
/// When the environment is incomplete or invalid ([`config::ConfigError`]).
pub async fn deps_from_env() -> Result<Deps, config::ConfigError> {
    let config = Config::from_env()?;
    let sdk = aws_sdk_config().await;
    Ok(Deps::new(config, &sdk, Clock::default()))
}

/// The SDK configuration of a function: region and credentials from its environment, as
/// `aws_config::load_defaults` finds them, with [`https_client`].
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}
