//! One local system: infrastructure, the functions' handlers and the drivers (the `/_dev` routes
//! are in [`crate::dev`]).

use crate::devmail::{DevMail, sent_mails};
use crate::emulators::{Clients, Emulators, REGION, default_log_dir, sdk_config_as};
use crate::gateway::{ApiTable, ApiValues, Gateway, IamCallers, IamRoutes};
use crate::iam::{IamProxy, requests::Layout, roles::Names};
use crate::infra::{Infra, StaffPool, create_infra, create_staff_pool};
use crate::pollers::{EventQueuePoller, MatchQueuePoller, StreamPoller};
use anyhow::{Context, Result};
use axum::Router;
use shared::{Clock, Config, Deps};
use std::sync::Arc;
use tokio::sync::Mutex;

/// The account id the local API's ARNs name.
pub const LOCAL_ACCOUNT: &str = "000000000000";
/// The id the local HTTP API stands in for `${HttpApi}`.
pub const LOCAL_API_ID: &str = "localapi";
/// The access key of the booking system's IAM user in IAM mode.
pub const LOCAL_IAM_ACCESS_KEY: &str = "AKIALOCALBOOKING0001";

/// The repository root (where `infra/`, `data/` and `.local/` live).
#[must_use]
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(
            || std::path::PathBuf::from("."),
            std::path::Path::to_path_buf,
        )
}

/// A running local system (without the HTTP listener).
#[derive(Clone)]
pub struct LocalSystem {
    pub deps: Deps,
    pub infra: Infra,
    pub clients: Clients,
    pub moto_url: String,
    /// The moto that serves SES (the sent mails).
    pub mail_url: String,
    pub dynamodb_url: String,
    pub admin_key: String,
    /// The staff user pool in moto, with its users and their passwords.
    pub staff: StaffPool,
    /// The clock the console checks its sessions' expiry at (real time; tests move it).
    pub staff_clock: Clock,
    staff_settings: shared::identity::PoolSettings,
    /// The template's HTTP API: routes, integrations, invoke permissions.
    pub api: ApiTable,
    /// The callers IAM-authorised routes accept when the admin API runs with `ADMIN_AUTH=iam`
    /// (one: the booking system, [`LOCAL_IAM_ACCESS_KEY`] with [`LocalSystem::iam_secret`],
    /// holding the template's `AdminApiInvokePolicy`).
    pub iam_callers: Arc<IamCallers>,
    /// The secret of [`LOCAL_IAM_ACCESS_KEY`] (fresh at every start).
    pub iam_secret: String,
    /// The proxy every function's clients go through: their role policies enforced.
    pub iam: IamProxy,
    /// Each function's clients (by code folder), signing as that function, through [`Self::iam`].
    functions: Arc<std::collections::BTreeMap<String, Clients>>,
    /// Held through a whole [`LocalSystem::settle`]: a second settle at the same time would see
    /// nothing left to pump while the first is still delivering what it took, and return early.
    settling: Arc<Mutex<()>>,
    stream: Arc<Mutex<StreamPoller>>,
    outbox: Arc<Mutex<StreamPoller>>,
    queue: Arc<EventQueuePoller>,
    match_queue: Arc<MatchQueuePoller>,
    http: reqwest::Client,
}

impl LocalSystem {
    /// Creates the infrastructure under `prefix`, builds the handlers' dependencies and loads the
    /// offices from `data/catalog.json`.
    pub async fn setup(
        emulators: &Emulators,
        prefix: &str,
        base_url: &str,
        admin_key: &str,
    ) -> Result<Self> {
        let template = repo_root().join("infra/template.yaml");
        Self::setup_from(emulators, &template, prefix, base_url, admin_key).await
    }

    /// As [`LocalSystem::setup`], from another template (a test's changed copy): its tables,
    /// routes, permissions and roles.
    pub async fn setup_from(
        emulators: &Emulators,
        template: &std::path::Path,
        prefix: &str,
        base_url: &str,
        admin_key: &str,
    ) -> Result<Self> {
        let sdk = emulators.sdk_config().await;
        let clients = emulators.clients(&sdk);
        let mail_from = "terminagent@buergerservice.example.org";
        let infra = create_infra(&clients, template, prefix, mail_from).await?;
        let config = Config::from_lookup(|k| match k {
            "WISHES_TABLE" => Some(infra.wishes_table.clone()),
            "SLOTS_TABLE" => Some(infra.slots_table.clone()),
            "EVENT_BUS_NAME" => Some(infra.event_bus.clone()),
            "MAIL_FROM" => Some(mail_from.to_owned()),
            "PUBLIC_BASE_URL" => Some(base_url.to_owned()),
            // With ADMIN_AUTH=iam the admin routes take SigV4 signatures, as in AWS, and no key.
            "ADMIN_KEY" => {
                (std::env::var("ADMIN_AUTH").as_deref() != Ok("iam")).then(|| admin_key.to_owned())
            }
            // The key of the limits' hashes: the environment's, else a fresh one per start
            // (the emulated tables live in memory, so no hash outlives it).
            "LIMITS_KEY" => std::env::var(k).ok().or_else(|| {
                Some(format!(
                    "local-{}",
                    shared::domain::Token::generate().expose()
                ))
            }),
            other => std::env::var(other).ok(),
        })?;
        let deps = Deps::from_clients(
            config,
            clients.dynamodb.clone(),
            clients.sesv2.clone(),
            clients.eventbridge.clone(),
            Clock::default(),
        );
        let (iam, functions) = start_iam(emulators, template, &infra, prefix, &deps.config).await?;
        let staff = create_staff_pool(
            &clients.cognito,
            template,
            prefix,
            emulators.moto_endpoint(),
            "buergerservice.example.org",
        )
        .await?;
        let staff_settings = shared::identity::PoolSettings::from_lookup(|k| match k {
            "STAFF_USER_POOL_ID" => Some(staff.pool_id.clone()),
            "STAFF_CLIENT_ID" => Some(staff.client_id.clone()),
            "STAFF_JWKS_URL" => Some(staff.jwks_url.clone()),
            _ => None,
        })?;
        let (api, iam_callers, iam_secret) = local_api(template)?;
        let catalog = std::fs::read_to_string(repo_root().join("data/catalog.json"))
            .context("reading data/catalog.json")?;
        deps.replace_catalog(shared::domain::Catalog::from_json(&catalog)?)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Self {
            // Lambda reads a function's event source with the function's role.
            stream: Arc::new(Mutex::new(StreamPoller::new(
                functions["slot-release"].streams.clone(),
                infra.slots_stream_arn.clone(),
            ))),
            outbox: Arc::new(Mutex::new(StreamPoller::new(
                functions["deliver-outbox"].streams.clone(),
                infra.wishes_stream_arn.clone(),
            ))),
            queue: Arc::new(EventQueuePoller::new(
                clients.sqs.clone(),
                infra.events_queue_url.clone(),
            )),
            match_queue: Arc::new(MatchQueuePoller::new(
                functions["match-offers"].sqs.clone(),
                infra.match_queue_url.clone(),
            )),
            deps,
            infra,
            clients,
            moto_url: emulators.moto_endpoint().to_owned(),
            mail_url: emulators.mail_endpoint().to_owned(),
            dynamodb_url: emulators.dynamodb_endpoint().to_owned(),
            admin_key: admin_key.to_owned(),
            staff,
            staff_clock: Clock::default(),
            staff_settings,
            api,
            iam_callers: Arc::new(iam_callers),
            iam_secret,
            iam,
            functions: Arc::new(functions),
            settling: Arc::new(Mutex::new(())),
            http: reqwest::Client::builder().no_proxy().build()?,
        })
    }

    /// The `/_dev` routes, and every other request through [`Gateway`]: along the template's
    /// routes and invoke permissions to each function's router as its `main.rs` serves it.
    /// IAM-authorised routes need a signature (see [`LocalSystem::iam_secret`]) when the admin
    /// API runs with `ADMIN_AUTH=iam`, and are left to its bearer key otherwise.
    ///
    /// # Panics
    /// Never: every function the template routes to has its router here (a test proves it).
    pub fn router(&self) -> Router {
        self.try_router(&self.api)
            .unwrap_or_else(|e| unreachable!("the runner serves every routed function: {e:#}"))
    }

    /// As [`LocalSystem::router`], with the gateway built from `api` (a test's changed template).
    ///
    /// # Errors
    /// When a function `api` routes to has no router here.
    pub fn try_router(&self, api: &ApiTable) -> Result<Router> {
        let staff = self.staff_deps();
        let handler = |code: &str| {
            use shared::http::{admin_router, citizen_router, edge, offer_router, staff_router};
            Some(match code {
                "submit-wish" => edge(citizen_router(self.deps_for(code))),
                "respond-offer" => edge(offer_router(self.deps_for(code))),
                "admin-api" => edge(admin_router(self.deps_for(code))),
                "staff-console" => edge(staff_router(staff.clone())),
                _ => return None,
            })
        };
        let iam = match self.deps.config.admin {
            shared::config::AdminAuth::Iam => IamRoutes::Signed(self.iam_callers.clone()),
            shared::config::AdminAuth::Bearer(_) => IamRoutes::Open,
        };
        let gateway = Gateway::new(api.clone(), handler, iam)?;
        // The dev routes get the functions' edge layers (security headers, body limit); every
        // other request goes to the gateway.
        Ok(shared::http::edge(crate::dev::routes(self)).fallback_service(gateway.router()))
    }

    /// The staff console's dependencies: its own clients (its role) and the pool in moto.
    #[must_use]
    pub fn staff_deps(&self) -> shared::http::StaffDeps {
        let cognito = self
            .functions
            .get("staff-console")
            .map_or_else(|| self.clients.cognito.clone(), |c| c.cognito.clone());
        let mut staff = shared::http::StaffDeps::new(
            self.deps_for("staff-console"),
            cognito,
            self.staff_settings.clone(),
        );
        staff.token_clock = self.staff_clock.clone();
        staff
    }

    /// From now on every function runs with [`Self::deps`] as they are — its clients, outside
    /// the IAM proxy. The benchmark counts the requests of clients of its own, and measures
    /// without the proxy's hop (in AWS, IAM is evaluated on the service's side).
    pub fn without_roles(&mut self) {
        self.functions = Arc::new(std::collections::BTreeMap::new());
    }

    /// The dependencies function `code` (`submit-wish`, …) runs with: [`Self::deps`]' config,
    /// clock and caches, its own clients — so every request it sends is checked against its
    /// role — and SES and the bus only for the functions that send (as in AWS).
    #[must_use]
    pub fn deps_for(&self, code: &str) -> Deps {
        let mut deps = self.deps.clone();
        if let Some(clients) = self.functions.get(code) {
            deps.store = deps.store.with_client(clients.dynamodb.clone());
            deps.senders =
                matches!(code, "deliver-outbox" | "match-offers" | "slot-release").then(|| {
                    shared::app::Senders::new(
                        &deps.config,
                        clients.sesv2.clone(),
                        clients.eventbridge.clone(),
                    )
                });
        }
        deps
    }

    /// One round of what AWS does in the background: slot stream records go to slot-release
    /// (as a Lambda `DynamoDbEvent` batch), new outbox items on the wishes stream to
    /// deliver-outbox (filtered as the template's event source filters them), routed bus events
    /// to match-offers. Returns how many records and events were handled.
    pub async fn pump(&self, wait_secs: i32) -> Result<usize> {
        let functions = Functions {
            deliver: self.deps_for("deliver-outbox"),
            release: self.deps_for("slot-release"),
            matching: self.deps_for("match-offers"),
        };
        self.pump_as(&functions, wait_secs).await
    }

    /// As [`LocalSystem::pump`], with the handlers given `deps` (tests: a failing mailer, a bus
    /// that is down).
    pub async fn pump_with(&self, deps: &Deps, wait_secs: i32) -> Result<usize> {
        let functions = Functions {
            deliver: deps.clone(),
            release: deps.clone(),
            matching: deps.clone(),
        };
        self.pump_as(&functions, wait_secs).await
    }

    async fn pump_as(&self, functions: &Functions, wait_secs: i32) -> Result<usize> {
        let Functions {
            deliver,
            release,
            matching,
        } = functions;
        let records = self.outbox.lock().await.poll().await?;
        let delivered = deliver_outbox(deliver, &self.infra.outbox_filters, records).await;
        let records = self.stream.lock().await.poll().await?;
        let n = records.len();
        if !records.is_empty() {
            let mut event = aws_lambda_events::event::dynamodb::Event::default();
            event.records = records;
            let response = shared::triggers::handle_slot_stream_counting(
                &self.outlets(release)?,
                &release.store,
                release.clock.now(),
                event,
            )
            .await;
            if !response.batch_item_failures.is_empty() {
                tracing::warn!(
                    failures = response.batch_item_failures.len(),
                    "slot-release reported failures"
                );
            }
        }
        // match-offers' queue: batch after batch until nothing is visible (a reported message is
        // visible again at once and retried here until the redrive takes it).
        let mut matched = 0;
        loop {
            let batch = self.match_queue.receive(0).await?;
            if batch.records.is_empty() {
                break;
            }
            matched += batch.records.len();
            let done = shared::triggers::handle_match_queue(matching, &batch).await;
            self.match_queue.finish(&batch, &done.response).await?;
        }
        let events = self.queue.poll(wait_secs).await?;
        let m = events.len() + matched;
        for event in events {
            let event = serde_json::to_value(event)?;
            if let Err(e) = shared::triggers::handle_match_event(matching, &event).await {
                tracing::warn!(error = %e, "match-offers failed");
            }
        }
        Ok(delivered + n + m)
    }

    /// Where slot-release hands released slots on: `deps`' bus and this system's match queue.
    ///
    /// # Errors
    /// When `deps` were built without senders ([`Deps::new`]).
    pub fn outlets(&self, deps: &Deps) -> Result<shared::triggers::Outlets> {
        let senders = deps
            .senders
            .as_ref()
            .context("slot-release needs the bus: deps built without senders")?;
        Ok(shared::triggers::Outlets {
            events: senders.events.clone(),
            queue: shared::matchqueue::MatchQueue::new(
                self.functions
                    .get("slot-release")
                    .map_or_else(|| self.clients.sqs.clone(), |c| c.sqs.clone()),
                self.infra.match_queue_url.clone(),
            ),
        })
    }

    /// Pumps until nothing moved for two rounds in a row (tests use this to wait for the
    /// asynchronous path to finish), each function with its own clients and role.
    pub async fn settle(&self) -> Result<()> {
        self.settle_as(None).await
    }

    /// As [`LocalSystem::settle`], with the handlers given `deps`.
    pub async fn settle_with(&self, deps: &Deps) -> Result<()> {
        self.settle_as(Some(deps)).await
    }

    async fn settle_as(&self, deps: Option<&Deps>) -> Result<()> {
        let _settling = self.settling.lock().await;
        let mut quiet = 0;
        for _ in 0..200 {
            let moved = match deps {
                Some(deps) => self.pump_with(deps, 0).await?,
                None => self.pump(0).await?,
            };
            if moved == 0 {
                quiet += 1;
                if quiet >= 2 {
                    return Ok(());
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            } else {
                quiet = 0;
            }
        }
        anyhow::bail!("the system did not settle")
    }

    pub async fn mails(&self) -> Result<Vec<DevMail>> {
        sent_mails(&self.http, &self.mail_url).await
    }

    /// The scheduled rescan, as the `EventBridge` schedule would trigger it (match-offers, with
    /// its own clients and role).
    pub async fn rescan(&self) -> Result<serde_json::Value> {
        self.rescan_with(&self.deps_for("match-offers")).await
    }

    /// As [`LocalSystem::rescan`], with the handler given `deps` (tests: a mailer whose sender
    /// SES does not know yet).
    pub async fn rescan_with(&self, deps: &Deps) -> Result<serde_json::Value> {
        let event = serde_json::json!({"version": "0", "id": "local", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "000000000000", "time": shared::domain::time::rfc3339(deps.clock.now()), "region": REGION,
            "resources": [], "detail": {}});
        shared::triggers::handle_match_event(deps, &event)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// The deps each background function runs with in one pump round.
struct Functions {
    deliver: Deps,
    release: Deps,
    matching: Deps,
}

/// The IAM proxy with every function's role from `template`, and each function's clients
/// through it, signing with the function's own key.
async fn start_iam(
    emulators: &Emulators,
    template: &std::path::Path,
    infra: &Infra,
    prefix: &str,
    config: &Config,
) -> Result<(IamProxy, std::collections::BTreeMap<String, Clients>)> {
    let arn =
        |service: &str, rest: &str| format!("arn:aws:{service}:{REGION}:{LOCAL_ACCOUNT}:{rest}");
    let queue_name = infra
        .match_queue_url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut names = Names {
        partition: "aws".into(),
        region: REGION.into(),
        account: LOCAL_ACCOUNT.into(),
        stack: prefix.trim_end_matches('-').to_owned(),
        ..Names::default()
    };
    for (id, name, stream) in [
        ("WishesTable", &infra.wishes_table, &infra.wishes_stream_arn),
        ("SlotsTable", &infra.slots_table, &infra.slots_stream_arn),
    ] {
        names.refs.insert(id.into(), name.clone());
        names.attributes.insert(
            format!("{id}.Arn"),
            arn("dynamodb", &format!("table/{name}")),
        );
        names
            .attributes
            .insert(format!("{id}.StreamArn"), stream.clone());
    }
    names
        .refs
        .insert("EventBus".into(), infra.event_bus.clone());
    names
        .attributes
        .insert("EventBus.Name".into(), infra.event_bus.clone());
    names.attributes.insert(
        "EventBus.Arn".into(),
        arn("events", &format!("event-bus/{}", infra.event_bus)),
    );
    names
        .refs
        .insert("MatchQueue".into(), infra.match_queue_url.clone());
    names
        .attributes
        .insert("MatchQueue.QueueName".into(), queue_name.clone());
    names
        .attributes
        .insert("MatchQueue.Arn".into(), arn("sqs", &queue_name));
    names
        .refs
        .insert("SesIdentity".into(), infra.mail_from.clone());
    names.refs.insert(
        "MailConfigurationSet".into(),
        config
            .ses_configuration_set
            .clone()
            .unwrap_or_else(|| format!("{prefix}unused-configuration-set")),
    );
    let roles = crate::iam::roles::function_roles(template, &names)?;
    let mut layout = Layout {
        partition: "aws".into(),
        region: REGION.into(),
        account: LOCAL_ACCOUNT.into(),
        ..Layout::default()
    };
    for table in crate::infra::template_tables(template)? {
        let name = format!("{prefix}{}", table.logical_id);
        if let Some(key) = table.key_schema.iter().find(|k| k.key_type == "HASH") {
            layout
                .partition_keys
                .insert((name.clone(), String::new()), key.attribute_name.clone());
        }
        for index in &table.global_secondary_indexes {
            if let Some(key) = index.key_schema.iter().find(|k| k.key_type == "HASH") {
                layout.partition_keys.insert(
                    (name.clone(), index.index_name.clone()),
                    key.attribute_name.clone(),
                );
            }
        }
    }
    let codes: Vec<String> = roles.iter().map(|r| r.code.clone()).collect();
    let proxy = IamProxy::start(
        roles,
        layout,
        emulators.dynamodb_endpoint(),
        emulators.moto_endpoint(),
        emulators.mail_endpoint(),
        Some(default_log_dir().join("iam-used.log")),
    )
    .await?;
    let mut functions = std::collections::BTreeMap::new();
    for code in codes {
        let sdk = sdk_config_as(&crate::iam::access_key(&code)).await;
        let at = proxy.endpoint();
        functions.insert(code, Clients::at(&sdk, at, at, at));
    }
    Ok((proxy, functions))
}

/// The template's HTTP API for this local stand-in, and its IAM callers: the booking system
/// with a fresh secret and the template's `AdminApiInvokePolicy`.
fn local_api(template: &std::path::Path) -> Result<(ApiTable, IamCallers, String)> {
    let values = ApiValues {
        partition: "aws".into(),
        region: REGION.into(),
        account: LOCAL_ACCOUNT.into(),
        api_id: LOCAL_API_ID.into(),
    };
    let api = ApiTable::from_template(template, values.clone())?;
    let iam_secret = shared::domain::Token::generate().expose().to_owned();
    let mut iam_callers = IamCallers::new(REGION);
    iam_callers.add(
        template,
        &values,
        "AdminApiInvokePolicy",
        "booking-system",
        LOCAL_IAM_ACCESS_KEY,
        &iam_secret,
    )?;
    Ok((api, iam_callers, iam_secret))
}

/// Hands the wishes stream's records to deliver-outbox as Lambda would: only those its event
/// source's `filters` pass, in batches of 25. Returns how many it handed on.
pub async fn deliver_outbox(
    deps: &Deps,
    filters: &[serde_json::Value],
    records: Vec<aws_lambda_events::event::dynamodb::EventRecord>,
) -> usize {
    let records: Vec<_> = records
        .into_iter()
        .filter(|r| crate::infra::passes(filters, r))
        .collect();
    for batch in records.chunks(25) {
        let mut event = aws_lambda_events::event::dynamodb::Event::default();
        event.records = batch.to_vec();
        let response = shared::triggers::handle_outbox_stream(deps, event).await;
        if !response.batch_item_failures.is_empty() {
            tracing::warn!(
                failures = response.batch_item_failures.len(),
                "deliver-outbox reported failures"
            );
        }
    }
    records.len()
}
