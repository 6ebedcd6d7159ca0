//! A local system per benchmark phase, whose handlers use clients that count their requests.

use crate::counter::Counter;
use anyhow::{Context as _, Result};
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
                .endpoint_url(emulators.mail_endpoint())
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
        system.without_roles();
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

    /// Turns the wishes table's stream off or (back) on, and answers the new stream's ARN when
    /// on. `DynamoDB` Local's writes slow down with every stream record it keeps (in AWS a stream
    /// costs a write nothing), so a phase fills its queue without the stream and turns it on
    /// for what it measures; the new stream starts after the fill.
    ///
    /// # Errors
    /// When the emulator refuses the change.
    pub async fn wishes_stream(&mut self, on: bool) -> Result<Option<String>> {
        let spec = aws_sdk_dynamodb::types::StreamSpecification::builder().stream_enabled(on);
        let spec = if on {
            spec.stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewImage)
        } else {
            spec
        };
        let out = self
            .raw
            .update_table()
            .table_name(self.wishes_table())
            .stream_specification(spec.build()?)
            .send()
            .await
            .context("changing the wishes table's stream")?;
        let arn = out
            .table_description()
            .and_then(|t| t.latest_stream_arn())
            .filter(|_| on)
            .map(str::to_owned);
        if let Some(arn) = &arn {
            self.system.infra.wishes_stream_arn.clone_from(arn);
        }
        Ok(arn)
    }

    #[must_use]
    pub fn slots_table(&self) -> &str {
        &self.system.infra.slots_table
    }
}
