//! A local system per benchmark phase, whose handlers use clients that count their requests.

use crate::counter::Counter;
use anyhow::Result;
use local_runner::emulators::Emulators;
use local_runner::runner::LocalSystem;
use shared::{Clock, Deps};

pub const ADMIN_KEY: &str = "bench-admin-key-0123456789";
pub const BASE_URL: &str = "http://127.0.0.1:3000";

/// A system with its own tables, bus and queue (named `bench-<pid>-<phase>-…`), whose `deps`
/// talk through counted clients.
pub struct Phase {
    pub system: LocalSystem,
    pub counter: Counter,
    /// The uncounted `DynamoDB` client, for the benchmark's own set-up writes and checks.
    pub raw: aws_sdk_dynamodb::Client,
    /// The counted client the handlers use.
    pub counted: aws_sdk_dynamodb::Client,
}

impl Phase {
    /// # Errors
    /// When the infrastructure cannot be created in the emulators.
    pub async fn setup(emulators: &Emulators, phase: &str) -> Result<Self> {
        let prefix = format!("bench-{}-{phase}-", std::process::id());
        let mut system = LocalSystem::setup(emulators, &prefix, BASE_URL, ADMIN_KEY).await?;
        let counter = Counter::default();
        let sdk = emulators.sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .endpoint_url(emulators.dynamodb_endpoint())
                .interceptor(counter.interceptor(true))
                .build(),
        );
        let sesv2 = aws_sdk_sesv2::Client::from_conf(
            aws_sdk_sesv2::config::Builder::from(&sdk)
                .endpoint_url(emulators.moto_endpoint())
                .interceptor(counter.interceptor(false))
                .build(),
        );
        let eventbridge = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(&sdk)
                .endpoint_url(emulators.moto_endpoint())
                .interceptor(counter.interceptor(false))
                .build(),
        );
        system.deps = Deps::from_clients(
            system.deps.config.clone(),
            dynamodb.clone(),
            sesv2,
            eventbridge,
            Clock::default(),
        );
        // The catalogue was stored by `setup`; load it now so no phase counts that read.
        system
            .deps
            .catalog()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let raw = system.clients.dynamodb.clone();
        Ok(Self {
            system,
            counter,
            raw,
            counted: dynamodb,
        })
    }

    #[must_use]
    pub fn deps(&self) -> &Deps {
        &self.system.deps
    }

    #[must_use]
    pub fn wishes_table(&self) -> &str {
        &self.system.infra.wishes_table
    }

    #[must_use]
    pub fn slots_table(&self) -> &str {
        &self.system.infra.slots_table
    }
}
