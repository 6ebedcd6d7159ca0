//! The use cases: what happens when a citizen, a clerk, the stream or the schedule acts.
//! HTTP and event handlers are thin wrappers around these functions.

use crate::config::Config;
use crate::domain::matching::pick;
use crate::domain::wish::{NewWishView, queue_lines, windows_map};
use crate::domain::{
    AgeStep, Catalog, ExpectedWait, FieldErrors, Language, Offer, OfferId, OfferStatus, OfficeId,
    Slot, SlotId, SlotStatus, Token, Wish, WishId, WishRequest, WishStatus, age_step,
    expected_wait, local_window, offer_deadline,
};
use crate::events::Events;
use crate::mailer::Mailer;
use crate::render::{self, Attachment, MailContent, texts};
use crate::store::{LinkToken, OutgoingMail, Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::RwLock;

/// The time every rule is evaluated at. In Lambda it is the system clock; the local runner can
/// move it forward to try deadlines.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_minutes: Arc<AtomicI64>,
}

impl Clock {
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::minutes(self.offset_minutes.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every handler sharing it) forward.
    pub fn advance(&self, minutes: i64) {
        self.offset_minutes.fetch_add(minutes, Ordering::Relaxed);
    }
}

/// How long a loaded catalogue is used before it is read again.
const CATALOG_TTL: std::time::Duration = std::time::Duration::from_mins(1);

/// Everything a handler needs, built once per process.
#[derive(Clone)]
pub struct Deps {
    pub store: Store,
    pub mailer: Mailer,
    pub events: Events,
    pub config: Config,
    pub clock: Clock,
    catalog: Arc<RwLock<Option<CachedCatalog>>>,
}

type CachedCatalog = (std::time::Instant, Arc<Catalog>);

/// Why a use case did not do what was asked, in terms the edges map to statuses.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Unknown or expired link (404).
    #[error("not found")]
    NotFound,
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// Too many requests from one client or for one address (429).
    #[error("rate limited")]
    RateLimited,
    /// The catalogue has not been loaded yet (503).
    #[error("service not configured: {0}")]
    NotConfigured(String),
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Unavailable(e.to_string())
    }
}

impl From<render::RenderError> for AppError {
    fn from(e: render::RenderError) -> Self {
        AppError::Unavailable(e.to_string())
    }
}

impl Deps {
    #[must_use]
    pub fn new(config: Config, sdk: &aws_config::SdkConfig, clock: Clock) -> Self {
        let store = Store::new(
            aws_sdk_dynamodb::Client::new(sdk),
            &config.wishes_table,
            &config.slots_table,
        );
        let mailer = Mailer::new(
            aws_sdk_sesv2::Client::new(sdk),
            config.ses_configuration_set.clone(),
        );
        let events = Events::new(aws_sdk_eventbridge::Client::new(sdk), &config.event_bus);
        Self {
            store,
            mailer,
            events,
            config,
            clock,
            catalog: Arc::default(),
        }
    }

    /// Builds from explicit clients (tests point each at its emulator).
    #[must_use]
    pub fn from_clients(
        config: Config,
        dynamodb: aws_sdk_dynamodb::Client,
        sesv2: aws_sdk_sesv2::Client,
        eventbridge: aws_sdk_eventbridge::Client,
        clock: Clock,
    ) -> Self {
        let store = Store::new(dynamodb, &config.wishes_table, &config.slots_table);
        let mailer = Mailer::new(sesv2, config.ses_configuration_set.clone());
        let events = Events::new(eventbridge, &config.event_bus);
        Self {
            store,
            mailer,
            events,
            config,
            clock,
            catalog: Arc::default(),
        }
    }

    /// The offices and services, cached for a minute.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, AppError> {
        if let Some((at, c)) = self.catalog.read().await.as_ref()
            && at.elapsed() < CATALOG_TTL
        {
            return Ok(c.clone());
        }
        let loaded = self.store.load_catalog().await?.ok_or_else(|| {
            AppError::NotConfigured("no offices loaded: PUT /admin/catalog".into())
        })?;
        let loaded = Arc::new(loaded);
        *self.catalog.write().await = Some((std::time::Instant::now(), loaded.clone()));
        Ok(loaded)
    }

    /// Stores a new catalogue and uses it at once.
    pub async fn replace_catalog(&self, catalog: Catalog) -> Result<(), AppError> {
        self.store.put_catalog(&catalog).await?;
        *self.catalog.write().await = Some((std::time::Instant::now(), Arc::new(catalog)));
        Ok(())
    }

    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.public_base_url)
    }

    fn mail(
        &self,
        key: String,
        to: &str,
        lang: Language,
        content: &MailContent,
    ) -> Result<OutgoingMail, AppError> {
        let raw = render::build_mail(&self.config.mail_from, to, lang, content)?;
        Ok(OutgoingMail {
            key,
            to: to.to_owned(),
            raw,
            tokens: Vec::new(),
        })
    }

    /// A mail about a wish, in its language. Every such mail carries a link to see or delete the
    /// wish (and, while the wish is active, a one-click unsubscribe that cancels it): when the
    /// caller has no link at hand, a fresh wish token is minted and stored with the mail.
    fn wish_mail<'a>(
        &self,
        key: String,
        wish: impl Into<Recipient<'a>>,
        mut content: MailContent,
    ) -> Result<OutgoingMail, AppError> {
        let wish: Recipient<'a> = wish.into();
        let mut tokens = Vec::new();
        if content.manage_url.is_none() {
            let token = Token::generate();
            tokens.push(LinkToken {
                hash: token.hash(),
                kind: "wish",
                target: wish.id.to_string(),
                expires_at: self.clock.now() + self.store.retention.token,
            });
            content.manage_url = Some(self.url(&format!("/w/{}", token.expose())));
        }
        if wish.active && content.unsubscribe_url.is_none() {
            content.unsubscribe_url = content.manage_url.as_ref().map(|u| format!("{u}/cancel"));
        }
        let mut mail = self.mail(key, wish.email.as_ref(), wish.language, &content)?;
        mail.tokens = tokens;
        Ok(mail)
    }
}

/// Whom a mail about a wish goes to: enough to write it, whether from the wish itself or from
/// its place in line.
#[derive(Clone, Copy)]
pub struct Recipient<'a> {
    pub id: &'a WishId,
    pub email: &'a crate::domain::Email,
    pub language: Language,
    /// Active wishes get a one-click unsubscribe (cancel) header.
    pub active: bool,
}

impl<'a> From<&'a Wish> for Recipient<'a> {
    fn from(w: &'a Wish) -> Self {
        Self {
            id: &w.id,
            email: &w.email,
            language: w.language,
            active: w.status.is_active(),
        }
    }
}

impl Deps {
    /// Sends a mail and publishes the event that goes with it, both at once (neither waits for
    /// the other: the event does not depend on the mail being accepted by SES).
    pub async fn deliver_and_notify(
        &self,
        mail: &OutgoingMail,
        detail_type: &str,
        detail: serde_json::Value,
    ) {
        // Boxed: the two futures side by side would otherwise bloat every caller's future.
        tokio::join!(
            Box::pin(self.deliver(mail)),
            Box::pin(self.events.notify(detail_type, detail))
        );
    }

    /// Sends a mail that is already safe in the outbox. A failure is only logged: the rescan
    /// sends it once the lease has run out, so it is delayed, never lost.
    #[tracing::instrument(skip_all, fields(mail = %mail.key))]
    pub async fn deliver(&self, mail: &OutgoingMail) {
        match self.mailer.send_raw(&mail.to, &mail.raw).await {
            Ok(()) => {
                if let Err(e) = self.store.mark_mail_sent(&mail.key, self.clock.now()).await {
                    // Sent but not recorded: the rescan would send it again after the lease.
                    tracing::error!(error = %e, "mail sent but not marked");
                }
            }
            Err(e) => tracing::warn!(error = %e, "mail not sent, the rescan retries"),
        }
    }
}

fn service_name(
    catalog: &Catalog,
    wish_service: &crate::domain::ServiceId,
    lang: Language,
) -> String {
    catalog
        .service(wish_service)
        .map_or_else(|| wish_service.to_string(), |s| s.name.get(lang).to_owned())
}

fn office_names(catalog: &Catalog, offices: &[OfficeId]) -> String {
    offices
        .iter()
        .map(|o| {
            catalog
                .office(o)
                .map_or_else(|| o.to_string(), |o| o.name.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn lines_of(wish: &Wish, catalog: &Catalog) -> Vec<(OfficeId, crate::domain::Window)> {
    queue_lines(
        &NewWishView {
            offices: &wish.offices,
            windows: &wish.windows,
        },
        catalog,
    )
}

// ---- wishes ----------------------------------------------------------------------------------

/// Stores a new wish unless its address is over the limits (active wishes, submissions per
/// hour); the address's book is updated in the same transaction, so concurrent submissions
/// cannot both slip through.
async fn store_within_limits(
    deps: &Deps,
    wish: &Wish,
    token: &Token,
    mail: &OutgoingMail,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let limits = deps.config.limits;
    for _attempt in 0..4 {
        let book = deps.store.address_book(&wish.email).await?;
        let mut active: Vec<WishId> = deps
            .store
            .get_wishes(&book.wishes, now)
            .await?
            .into_iter()
            .filter(|w| w.status.is_active())
            .map(|w| w.id)
            .collect();
        if active.len() >= limits.active_per_address {
            let mut errors = FieldErrors::default();
            errors.add(
                "email",
                "too_many_active",
                format!(
                    "this address already has {} active wishes; cancel one first",
                    active.len()
                ),
            );
            return Err(AppError::Invalid(errors));
        }
        let mut recent: Vec<DateTime<Utc>> = book
            .submissions
            .iter()
            .copied()
            .filter(|t| *t > now - Duration::hours(1))
            .collect();
        if recent.len() >= limits.submissions_per_address_hour {
            return Err(AppError::RateLimited);
        }
        active.push(wish.id.clone());
        recent.push(now);
        let book = crate::store::AddressBook {
            wishes: active,
            submissions: recent,
            version: book.version,
        };
        match deps
            .store
            .create_wish(wish, &token.hash(), mail, &book, now)
            .await
        {
            Ok(()) => return Ok(()),
            // Another submission for this address came first: count again.
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Unavailable("address book kept changing".into()))
}

/// `POST /api/wishes`: checks, stores the wish as pending and sends the opt-in mail.
///
/// Abuse limits: per client (the caller's network address, when known) and per email address
/// (active wishes, submissions per hour).
pub async fn submit_wish(
    deps: &Deps,
    request: &WishRequest,
    client: Option<&str>,
) -> Result<Wish, AppError> {
    let catalog = deps.catalog().await?;
    let new = request.validate(&catalog).map_err(AppError::Invalid)?;
    let now = deps.clock.now();
    let limits = deps.config.limits;
    if let Some(client) = client
        && !deps
            .store
            .count_client_request(client, limits.requests_per_client_hour, now)
            .await?
    {
        return Err(AppError::RateLimited);
    }
    let wish = Wish {
        id: WishId::generate(),
        email: new.email,
        service: new.service,
        offices: new.offices,
        windows: new.windows,
        language: new.language,
        status: WishStatus::Pending,
        created_at: now,
        confirmed_at: None,
        open_offer: None,
        declined: std::collections::BTreeSet::new(),
        kept_at: None,
        reminded_at: None,
        unanswered: 0,
    };
    let token = Token::generate();
    let lang = wish.language;
    let t = texts(lang);
    let service = service_name(&catalog, &wish.service, lang);
    let link = deps.url(&format!("/w/{}", token.expose()));
    let content = MailContent {
        subject: t.fill("confirm_subject", &[("service", &service)]),
        paragraphs: vec![t.fill("confirm_intro", &[("service", &service)])],
        details: wish_details(&wish, &catalog),
        action: Some((
            t.get("confirm_action").to_owned(),
            format!("{link}/confirm"),
        )),
        links: vec![],
        after: vec![t.get("confirm_ignore").to_owned()],
        manage_url: Some(link.clone()),
        unsubscribe_url: Some(format!("{link}/cancel")),
        attachment: None,
    };
    let mail = deps.wish_mail(format!("wish-{}-optin", wish.id), &wish, content)?;
    store_within_limits(deps, &wish, &token, &mail, now).await?;
    deps.deliver(&mail).await;
    tracing::info!(wish_id = %wish.id, "wish submitted");
    Ok(wish)
}

/// Most lines the wish page lists a place for; a wish may stand in many.
const PLACES_SHOWN: usize = 12;

/// One line a wish stands in, as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub office: OfficeId,
    pub window: crate::domain::Window,
    /// Wishes ahead of this one in the line.
    pub ahead: usize,
    /// A rough wait from the slots that entered this line lately; `None` when too few did.
    pub wait: Option<ExpectedWait>,
}

/// For each line the wish stands in (office × window, at most [`PLACES_SHOWN`]): how many wishes
/// are ahead of it and, where recent releases allow, a rough expected wait. Empty for wishes not
/// in line. One count query per line and one batch read of the lines' release counters; nothing
/// on the offer path.
pub async fn places_in_line(deps: &Deps, wish: &Wish) -> Result<Vec<Place>, AppError> {
    let Some(confirmed_at) = wish.confirmed_at else {
        return Ok(Vec::new());
    };
    if !matches!(
        wish.status,
        WishStatus::Waiting | WishStatus::Offered | WishStatus::Paused
    ) {
        return Ok(Vec::new());
    }
    let catalog = deps.catalog().await?;
    let key = crate::store::queue_key_of(confirmed_at, &wish.id);
    let lines: Vec<_> = lines_of(wish, &catalog)
        .into_iter()
        .take(PLACES_SHOWN)
        .collect();
    let releases = deps
        .store
        .releases_in_lines(&wish.service, &lines, deps.clock.now())
        .await?;
    let mut places = Vec::new();
    for ((office, window), released) in lines.into_iter().zip(releases) {
        let ahead = deps
            .store
            .ahead_in_line(&office, &wish.service, window, &key)
            .await?;
        places.push(Place {
            office,
            window,
            ahead,
            wait: expected_wait(ahead, released),
        });
    }
    Ok(places)
}

/// Label/value rows describing a wish.
#[must_use]
pub fn wish_details(wish: &Wish, catalog: &Catalog) -> Vec<(String, String)> {
    let lang = wish.language;
    render::rows(
        &[
            ("label_service", service_name(catalog, &wish.service, lang)),
            ("label_offices", office_names(catalog, &wish.offices)),
            (
                "label_windows",
                render::windows_text(&windows_map(&wish.windows), lang),
            ),
        ],
        lang,
    )
}

/// The wish behind a link, or `NotFound` for anything else (malformed, unknown, expired).
pub async fn wish_by_token(deps: &Deps, token: &str) -> Result<(Wish, Token), AppError> {
    let token = Token::parse(token).ok_or(AppError::NotFound)?;
    let now = deps.clock.now();
    let id = deps
        .store
        .resolve_token(&token.hash(), "wish", now)
        .await?
        .ok_or(AppError::NotFound)?;
    let id = WishId::parse(&id).map_err(|_| AppError::NotFound)?;
    let wish = deps
        .store
        .get_wish(&id, now)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((wish, token))
}

/// `POST /w/{token}/confirm`: pending → waiting, in line from now. Repeats answer the same.
pub async fn confirm_wish(deps: &Deps, token: &str) -> Result<Wish, AppError> {
    let (wish, token) = wish_by_token(deps, token).await?;
    if wish.status == WishStatus::Paused {
        return resume_wish(deps, wish).await;
    }
    if wish.status != WishStatus::Pending {
        return Ok(wish);
    }
    let catalog = deps.catalog().await?;
    let lang = wish.language;
    let t = texts(lang);
    let service = service_name(&catalog, &wish.service, lang);
    let manage = deps.url(&format!("/w/{}", token.expose()));
    let content = MailContent {
        subject: t.fill("confirmed_subject", &[("service", &service)]),
        paragraphs: vec![t.get("confirmed_intro").to_owned()],
        details: wish_details(&wish, &catalog),
        action: None,
        links: vec![],
        after: vec![t.get("confirmed_how").to_owned()],
        manage_url: Some(manage.clone()),
        unsubscribe_url: Some(format!("{manage}/cancel")),
        attachment: None,
    };
    let mail = deps.wish_mail(format!("wish-{}-confirmed", wish.id), &wish, content)?;
    let now = deps.clock.now();
    match deps.store.confirm_wish(&wish, now, &mail).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            // A second click won the race, or the wish expired meanwhile: show what is.
            return deps
                .store
                .get_wish(&wish.id, now)
                .await?
                .ok_or(AppError::NotFound);
        }
        Err(e) => return Err(e.into()),
    }
    let confirmed = deps
        .store
        .get_wish(&wish.id, now)
        .await?
        .ok_or(AppError::NotFound)?;
    deps.store
        .enqueue(
            &confirmed,
            &lines_of(&confirmed, &catalog),
            next_age_check(deps, &confirmed, now),
        )
        .await?;
    deps.deliver_and_notify(
        &mail,
        "WishConfirmed",
        json!({"wish": confirmed.id, "service": confirmed.service, "offices": confirmed.offices}),
    )
    .await;
    tracing::info!(wish_id = %confirmed.id, "wish confirmed");
    Ok(confirmed)
}

/// A paused wish confirmed again: it waits on with its old place.
async fn resume_wish(deps: &Deps, wish: Wish) -> Result<Wish, AppError> {
    let catalog = deps.catalog().await?;
    let now = deps.clock.now();
    let lang = wish.language;
    let t = texts(lang);
    let service = service_name(&catalog, &wish.service, lang);
    let content = MailContent {
        subject: t.fill("confirmed_subject", &[("service", &service)]),
        paragraphs: vec![t.get("confirmed_intro").to_owned()],
        details: wish_details(&wish, &catalog),
        action: None,
        links: vec![],
        after: vec![t.get("confirmed_how").to_owned()],
        manage_url: None,
        unsubscribe_url: None,
        attachment: None,
    };
    // One mail per pause: the key names the count of offers that went unanswered before it.
    let key = format!("wish-{}-resumed-{}", wish.id, wish.declined.len());
    let mut resumed = wish.clone();
    resumed.status = WishStatus::Waiting;
    let mail = deps.wish_mail(key, &resumed, content)?;
    match deps.store.resume_wish(&wish, now, &mail).await {
        Ok(()) => {
            deps.deliver_and_notify(&mail, "WishResumed", json!({"wish": wish.id}))
                .await;
        }
        Err(StoreError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    deps.store
        .get_wish(&wish.id, now)
        .await?
        .ok_or(AppError::NotFound)
}

/// Cancels a wish (from its page or an offer page); an open offer is withdrawn and its slot goes
/// on to the next wish. Repeats answer the same and send nothing.
pub async fn cancel_wish(deps: &Deps, wish: Wish) -> Result<Wish, AppError> {
    let catalog = deps.catalog().await?;
    let mut wish = wish;
    for _ in 0..5 {
        if !wish.status.is_active() {
            return Ok(wish);
        }
        let now = deps.clock.now();
        let offer = match &wish.open_offer {
            Some(id) => deps
                .store
                .get_offer(id)
                .await?
                .filter(|o| o.status == OfferStatus::Open),
            None => None,
        };
        let lang = wish.language;
        let t = texts(lang);
        let service = service_name(&catalog, &wish.service, lang);
        let content = MailContent {
            subject: t.fill("cancelled_subject", &[("service", &service)]),
            paragraphs: vec![t.fill("cancelled_intro", &[("service", &service)])],
            details: wish_details(&wish, &catalog),
            action: None,
            links: vec![],
            after: vec![],
            manage_url: None,
            unsubscribe_url: None,
            attachment: None,
        };
        let mail = deps.wish_mail(format!("wish-{}-cancelled", wish.id), &wish, content)?;
        match deps
            .store
            .cancel_wish(&wish, offer.as_ref(), now, &mail)
            .await
        {
            Ok(()) => {
                deps.store
                    .dequeue(&wish, &lines_of(&wish, &catalog))
                    .await?;
                deps.deliver_and_notify(&mail, "WishCancelled", json!({"wish": wish.id}))
                    .await;
                if let Some(o) = offer {
                    deps.events
                        .notify("OfferWithdrawn", json!({"offer": o.id, "slot": o.slot}))
                        .await;
                }
                tracing::info!(wish_id = %wish.id, "wish cancelled");
                return deps
                    .store
                    .get_wish(&wish.id, now)
                    .await?
                    .ok_or(AppError::NotFound);
            }
            Err(StoreError::Conflict) => {
                // The wish moved on (an offer arrived or was answered): look again and retry.
                wish = deps
                    .store
                    .get_wish(&wish.id, now)
                    .await?
                    .ok_or(AppError::NotFound)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Unavailable(
        "wish kept changing while cancelling".into(),
    ))
}

// ---- offers ----------------------------------------------------------------------------------

/// The offer behind a link, with its wish.
pub async fn offer_by_token(
    deps: &Deps,
    token: &str,
) -> Result<(Offer, Option<Wish>, Token), AppError> {
    let token = Token::parse(token).ok_or(AppError::NotFound)?;
    let now = deps.clock.now();
    let id = deps
        .store
        .resolve_token(&token.hash(), "offer", now)
        .await?
        .ok_or(AppError::NotFound)?;
    let id = OfferId::parse(&id).map_err(|_| AppError::NotFound)?;
    let offer = deps.store.get_offer(&id).await?.ok_or(AppError::NotFound)?;
    let wish = deps.store.get_wish(&offer.wish, now).await?;
    Ok((offer, wish, token))
}

fn offer_details(offer: &Offer, catalog: &Catalog, lang: Language) -> Vec<(String, String)> {
    let t = texts(lang);
    let office = catalog.office(&offer.office);
    render::rows(
        &[
            ("label_service", service_name(catalog, &offer.service, lang)),
            (
                "label_office",
                office.map_or_else(|| offer.office.to_string(), |o| o.name.clone()),
            ),
            (
                "label_address",
                office.map(|o| o.address.clone()).unwrap_or_default(),
            ),
            ("label_when", t.when_long(offer.start)),
            (
                "label_duration",
                t.fill("minutes", &[("n", &offer.minutes.to_string())]),
            ),
        ],
        lang,
    )
}

/// An iCalendar event for an accepted appointment (times in UTC, so every calendar shows the
/// right local time).
fn ics(offer: &Offer, catalog: &Catalog, lang: Language, base_url: &str, page: &str) -> String {
    let office = catalog.office(&offer.office);
    let fmt = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let escape = |s: &str| {
        s.replace('\\', "\\\\")
            .replace(';', "\\;")
            .replace(',', "\\,")
            .replace('\n', "\\n")
    };
    let office_name = office.map_or_else(|| offer.office.to_string(), |o| o.name.clone());
    let summary = format!(
        "{} – {office_name}",
        service_name(catalog, &offer.service, lang)
    );
    let location = office.map_or_else(
        || office_name.clone(),
        |o| format!("{}, {}", o.name, o.address),
    );
    let description = texts(lang).fill(
        "ics_description",
        &[("office", &office_name), ("url", page)],
    );
    let host = base_url
        .split("://")
        .nth(1)
        .unwrap_or("terminagent")
        .trim_end_matches('/');
    let lines = [
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".into(),
        "PRODID:-//Terminagent//DE".into(),
        "METHOD:PUBLISH".into(),
        "BEGIN:VEVENT".into(),
        format!("UID:{}@{host}", offer.id),
        format!("DTSTAMP:{}", fmt(offer.created_at)),
        format!("DTSTART:{}", fmt(offer.start)),
        format!(
            "DTEND:{}",
            fmt(offer.start + Duration::minutes(i64::from(offer.minutes)))
        ),
        "STATUS:CONFIRMED".into(),
        format!("SUMMARY:{}", escape(&summary)),
        format!("LOCATION:{}", escape(&location)),
        format!("DESCRIPTION:{}", escape(&description)),
        "END:VEVENT".into(),
        "END:VCALENDAR".into(),
    ];
    let mut out = String::new();
    for line in lines {
        out.push_str(&fold_ics_line(&line));
        out.push_str("\r\n");
    }
    out
}

/// Folds a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 character.
fn fold_ics_line(line: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out
}

#[cfg(test)]
mod ics_tests {
    use super::fold_ics_line;

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let line = format!("DESCRIPTION:{}", "ä".repeat(60));
        let folded = fold_ics_line(&line);
        for part in folded.split("\r\n") {
            assert!(part.len() <= 75, "{} octets", part.len());
        }
        assert_eq!(folded.replace("\r\n ", ""), line);
    }
}

/// `POST /o/{token}/accept`.
pub async fn accept_offer(deps: &Deps, token: &str) -> Result<Offer, AppError> {
    let (offer, wish, token) = offer_by_token(deps, token).await?;
    let now = deps.clock.now();
    let Some(wish) = wish else { return Ok(offer) };
    if offer.effective_status(now) != OfferStatus::Open {
        return Ok(offer);
    }
    let catalog = deps.catalog().await?;
    let lang = wish.language;
    let t = texts(lang);
    let office = catalog
        .office(&offer.office)
        .map_or_else(|| offer.office.to_string(), |o| o.name.clone());
    let content = MailContent {
        subject: t.fill(
            "accepted_subject",
            &[("office", &office), ("short", &t.when_short(offer.start))],
        ),
        paragraphs: vec![t.get("accepted_intro").to_owned()],
        details: offer_details(&offer, &catalog, lang),
        action: None,
        links: vec![],
        after: vec![],
        manage_url: None,
        unsubscribe_url: None,
        attachment: Some(Attachment {
            content_type: "text/calendar; charset=utf-8; method=PUBLISH".into(),
            file_name: "termin.ics".into(),
            body: ics(
                &offer,
                &catalog,
                lang,
                &deps.config.public_base_url,
                &deps.url(&format!("/o/{}", token.expose())),
            ),
        }),
    };
    let mail = deps.wish_mail(format!("offer-{}-accepted", offer.id), &wish, content)?;
    match deps.store.accept_offer(&offer, &wish, now, &mail).await {
        Ok(()) => {
            deps.store
                .dequeue(&wish, &lines_of(&wish, &catalog))
                .await?;
            deps.deliver_and_notify(
                &mail,
                "OfferAccepted",
                json!({"offer": offer.id, "slot": offer.slot, "wish": wish.id}),
            )
            .await;
            tracing::info!(offer_id = %offer.id, "offer accepted");
        }
        Err(StoreError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    deps.store
        .get_offer(&offer.id)
        .await?
        .ok_or(AppError::NotFound)
}

/// `POST /o/{token}/decline`: the wish waits on with its place; the slot goes to the next wish.
pub async fn decline_offer(deps: &Deps, token: &str) -> Result<Offer, AppError> {
    let (offer, wish, _) = offer_by_token(deps, token).await?;
    let Some(wish) = wish else { return Ok(offer) };
    release_offer(deps, offer, &wish, OfferStatus::Declined).await
}

async fn release_offer(
    deps: &Deps,
    offer: Offer,
    wish: &Wish,
    to: OfferStatus,
) -> Result<Offer, AppError> {
    let now = deps.clock.now();
    // A late decline is still a decline; only expiry requires the deadline to have passed.
    if offer.status != OfferStatus::Open || (to == OfferStatus::Expired && now < offer.deadline) {
        return Ok(offer);
    }
    let catalog = deps.catalog().await?;
    let lang = wish.language;
    let t = texts(lang);
    let service = service_name(&catalog, &wish.service, lang);
    let wish_after = if to == OfferStatus::Expired {
        let (count, status) = crate::domain::wish::after_unanswered(wish.unanswered);
        (status, count)
    } else {
        (WishStatus::Waiting, 0)
    };
    let (subject, intro, event) = match (to, wish_after.1) {
        (OfferStatus::Expired, _) if wish_after.0 == WishStatus::Paused => {
            ("paused_subject", "paused_intro", "OfferExpired")
        }
        (OfferStatus::Expired, _) => ("expired_subject", "expired_intro", "OfferExpired"),
        _ => ("declined_subject", "declined_intro", "OfferDeclined"),
    };
    let content = MailContent {
        subject: t.fill(subject, &[("service", &service)]),
        paragraphs: vec![t.fill(
            intro,
            &[
                ("when", &t.when_long(offer.start)),
                ("n", &wish_after.1.to_string()),
            ],
        )],
        details: wish_details(wish, &catalog),
        action: None,
        links: vec![],
        after: vec![],
        manage_url: None,
        unsubscribe_url: None,
        attachment: None,
    };
    let mail = deps.wish_mail(format!("offer-{}-{}", offer.id, to.as_str()), wish, content)?;
    match deps
        .store
        .release_offer(&offer, to, wish_after, now, &mail)
        .await
    {
        Ok(()) => {
            deps.deliver_and_notify(
                &mail,
                event,
                json!({"offer": offer.id, "slot": offer.slot, "wish": wish.id}),
            )
            .await;
            if wish_after.0 == WishStatus::Paused {
                deps.events
                    .notify("WishPaused", json!({"wish": wish.id}))
                    .await;
            }
            tracing::info!(offer_id = %offer.id, status = to.as_str(), "offer released");
        }
        Err(StoreError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    deps.store
        .get_offer(&offer.id)
        .await?
        .ok_or(AppError::NotFound)
}

/// `POST /o/{token}/cancel`: cancels the whole wish.
pub async fn cancel_from_offer(deps: &Deps, token: &str) -> Result<Offer, AppError> {
    let (offer, wish, _) = offer_by_token(deps, token).await?;
    if let Some(wish) = wish {
        cancel_wish(deps, wish).await?;
    }
    deps.store
        .get_offer(&offer.id)
        .await?
        .ok_or(AppError::NotFound)
}

// ---- matching --------------------------------------------------------------------------------

/// How many queue entries one read takes from the head of a line.
const PAGE: i32 = 25;

/// Offers a free slot to the first wish in line.
///
/// The usual offer costs one query (the head of the line; its entries say whom to write to) and
/// one transaction whose conditions check that the slot is still free and the wish still waiting
/// and has not declined this slot — independent of the length of the line. Only when that
/// first try conflicts (the head holds another offer, declined this slot, or someone else took
/// the slot) is the slot read again and the line read page by page with the wishes' states.
#[tracing::instrument(skip_all, fields(slot_id = %slot.id))]
pub async fn match_slot(deps: &Deps, slot: &Slot) -> Result<Option<Offer>, AppError> {
    let catalog = deps.catalog().await?;
    let mut slot = slot.clone();
    for attempt in 0..8 {
        let now = deps.clock.now();
        if slot.status != SlotStatus::Free {
            return Ok(None);
        }
        let Some(deadline) = offer_deadline(now, slot.start, deps.config.timing) else {
            return Ok(None);
        };
        let window = local_window(slot.start);
        let chosen: Option<Wish> = if attempt == 0 {
            let (head, _) = deps
                .store
                .head_of_line(&slot.office, &slot.service, window, None, 1)
                .await?;
            match head.into_iter().next() {
                None => return Ok(None),
                Some(entry) => match entry.email {
                    Some(email) => {
                        let to = Recipient {
                            id: &entry.wish,
                            email: &email,
                            language: entry.language,
                            active: true,
                        };
                        match offer_to(deps, &catalog, &slot, to, deadline, now).await {
                            Ok(offer) => return Ok(Some(offer)),
                            Err(AppError::Unavailable(e)) if e == CONFLICT => {
                                slot = match deps.store.get_slot(&slot.id).await? {
                                    Some(s) => s,
                                    None => return Ok(None),
                                };
                                continue;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    None => first_fitting(deps, &slot, window, now).await?,
                },
            }
        } else {
            first_fitting(deps, &slot, window, now).await?
        };
        let Some(wish) = chosen else { return Ok(None) };
        match offer_to(deps, &catalog, &slot, (&wish).into(), deadline, now).await {
            Ok(offer) => return Ok(Some(offer)),
            // Someone else changed the slot or the wish: read again.
            Err(AppError::Unavailable(e)) if e == CONFLICT => {
                slot = match deps.store.get_slot(&slot.id).await? {
                    Some(s) => s,
                    None => return Ok(None),
                };
            }
            Err(e) => return Err(e),
        }
    }
    Err(AppError::Unavailable(
        "slot kept changing while matching".into(),
    ))
}

/// The first wish in line that may take the slot, reading the line a page at a time with the
/// wishes' current states.
async fn first_fitting(
    deps: &Deps,
    slot: &Slot,
    window: crate::domain::Window,
    now: DateTime<Utc>,
) -> Result<Option<Wish>, AppError> {
    let mut after: Option<String> = None;
    loop {
        let (entries, next) = deps
            .store
            .head_of_line(&slot.office, &slot.service, window, after.as_deref(), PAGE)
            .await?;
        let ids: Vec<WishId> = entries.into_iter().map(|e| e.wish).collect();
        let wishes = deps.store.get_wishes(&ids, now).await?;
        // Back into queue order: the batch read returns items in any order.
        let ordered: Vec<&Wish> = ids
            .iter()
            .filter_map(|id| wishes.iter().find(|w| &w.id == id))
            .collect();
        if let Some(w) = pick(slot, ordered) {
            return Ok(Some(w.clone()));
        }
        match next {
            Some(n) => after = Some(n),
            None => return Ok(None),
        }
    }
}

const CONFLICT: &str = "conflict";

async fn offer_to(
    deps: &Deps,
    catalog: &Catalog,
    slot: &Slot,
    wish: Recipient<'_>,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Offer, AppError> {
    let offer = Offer {
        id: OfferId::generate(),
        wish: wish.id.clone(),
        slot: slot.id.clone(),
        office: slot.office.clone(),
        service: slot.service.clone(),
        start: slot.start,
        minutes: slot.minutes,
        status: OfferStatus::Open,
        deadline,
        created_at: now,
    };
    let token = Token::generate();
    let lang = wish.language;
    let t = texts(lang);
    let office = catalog
        .office(&slot.office)
        .map_or_else(|| slot.office.to_string(), |o| o.name.clone());
    let service = service_name(catalog, &slot.service, lang);
    let page = deps.url(&format!("/o/{}", token.expose()));
    let mut details = offer_details(&offer, catalog, lang);
    details.extend(render::rows(
        &[("label_deadline", t.when_long(deadline))],
        lang,
    ));
    let content = MailContent {
        subject: t.fill(
            "offer_subject",
            &[("office", &office), ("short", &t.when_short(slot.start))],
        ),
        paragraphs: vec![t.fill("offer_intro", &[("service", &service)])],
        details,
        action: Some((t.get("offer_action").to_owned(), page.clone())),
        links: ["accept", "decline", "cancel"]
            .iter()
            .map(|a| {
                (
                    t.get(&format!("offer_{a}")).to_owned(),
                    format!("{page}/{a}"),
                )
            })
            .collect(),
        after: vec![t.fill("offer_deadline", &[("deadline", &t.when_long(deadline))])],
        manage_url: None,
        unsubscribe_url: None,
        attachment: None,
    };
    let mail = deps.wish_mail(format!("offer-{}-sent", offer.id), wish, content)?;
    match deps
        .store
        .create_offer(&offer, &token.hash(), &mail, now)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Err(AppError::Unavailable(CONFLICT.into())),
        Err(e) => return Err(e.into()),
    }
    let deadline = crate::store::format_time(deadline);
    deps.deliver_and_notify(
        &mail,
        "OfferSent",
        json!({"offer": offer.id, "slot": offer.slot, "wish": offer.wish, "deadline": deadline}),
    )
    .await;
    tracing::info!(offer_id = %offer.id, wish_id = %wish.id, "offer sent");
    Ok(offer)
}

/// What one rescan did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RescanReport {
    pub offers_expired: usize,
    pub mails_retried: usize,
    pub wishes_enqueued: usize,
    pub slots_checked: usize,
    pub offers_made: usize,
    pub wishes_reminded: usize,
    pub wishes_expired: usize,
}

/// When the rescan must next look at a wish's age.
fn next_age_check(deps: &Deps, wish: &Wish, now: DateTime<Utc>) -> DateTime<Utc> {
    match age_step(wish, now, deps.config.wish_age) {
        AgeStep::WaitUntil(at) => at,
        AgeStep::Remind { .. } | AgeStep::Expire => now,
    }
}

/// Applies the age rule to one wish: remind, expire, or look again later. Returns what was done.
async fn age_wish(
    deps: &Deps,
    catalog: &Catalog,
    wish: Wish,
    now: DateTime<Utc>,
) -> Result<Option<AgeStep>, AppError> {
    if !matches!(
        wish.status,
        WishStatus::Waiting | WishStatus::Offered | WishStatus::Paused
    ) {
        return Ok(None);
    }
    let lang = wish.language;
    let t = texts(lang);
    let service = service_name(catalog, &wish.service, lang);
    match age_step(&wish, now, deps.config.wish_age) {
        AgeStep::WaitUntil(at) => {
            deps.store.schedule_age_check(&wish, at).await?;
            Ok(None)
        }
        AgeStep::Remind { ends_at } => {
            let content = MailContent {
                subject: t.fill("reminder_subject", &[("service", &service)]),
                paragraphs: vec![t.fill(
                    "reminder_intro",
                    &[("service", &service), ("date", &t.when_long(ends_at))],
                )],
                details: wish_details(&wish, catalog),
                action: None,
                links: vec![],
                after: vec![t.get("reminder_how").to_owned()],
                manage_url: None,
                unsubscribe_url: None,
                attachment: None,
            };
            let mut mail = deps.wish_mail(
                format!(
                    "wish-{}-reminder-{}",
                    wish.id,
                    crate::store::format_time(wish.age_base().unwrap_or(now))
                ),
                &wish,
                content,
            )?;
            // The action is the wish page itself, where the "keep" button is.
            mail.key = mail.key.replace([':', '.'], "-");
            match deps.store.remind_wish(&wish, now, ends_at, &mail).await {
                Ok(()) => {
                    deps.deliver(&mail).await;
                    Ok(Some(AgeStep::Remind { ends_at }))
                }
                Err(StoreError::Conflict) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        AgeStep::Expire if wish.status == WishStatus::Offered => {
            // An offer is out: let the citizen answer it first, look again tomorrow.
            deps.store
                .schedule_age_check(&wish, now + Duration::days(1))
                .await?;
            Ok(None)
        }
        AgeStep::Expire => {
            let content = MailContent {
                subject: t.fill("wish_expired_subject", &[("service", &service)]),
                paragraphs: vec![t.fill("wish_expired_intro", &[("service", &service)])],
                details: wish_details(&wish, catalog),
                action: None,
                links: vec![],
                after: vec![],
                manage_url: None,
                unsubscribe_url: None,
                attachment: None,
            };
            let mut ended = wish.clone();
            ended.status = WishStatus::Expired;
            let mail = deps.wish_mail(format!("wish-{}-expired", wish.id), &ended, content)?;
            match deps.store.expire_wish(&wish, now, &mail).await {
                Ok(()) => {
                    deps.store.dequeue(&wish, &lines_of(&wish, catalog)).await?;
                    deps.deliver_and_notify(&mail, "WishExpired", json!({"wish": wish.id}))
                        .await;
                    Ok(Some(AgeStep::Expire))
                }
                Err(StoreError::Conflict) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// `POST /w/{token}/keep`: after the reminder, the citizen keeps the wish; its age starts again
/// and its place in line stays. Without a pending reminder it changes nothing.
pub async fn keep_wish(deps: &Deps, token: &str) -> Result<Wish, AppError> {
    let (wish, token) = wish_by_token(deps, token).await?;
    if wish.reminded_at.is_none()
        || !matches!(wish.status, WishStatus::Waiting | WishStatus::Offered)
    {
        return Ok(wish);
    }
    let catalog = deps.catalog().await?;
    let now = deps.clock.now();
    let lang = wish.language;
    let t = texts(lang);
    let service = service_name(&catalog, &wish.service, lang);
    let mut kept = wish.clone();
    kept.kept_at = Some(now);
    kept.reminded_at = None;
    let next = next_age_check(deps, &kept, now);
    let content = MailContent {
        subject: t.fill("kept_subject", &[("service", &service)]),
        paragraphs: vec![t.get("kept_intro").to_owned()],
        details: wish_details(&wish, &catalog),
        action: None,
        links: vec![],
        after: vec![],
        manage_url: Some(deps.url(&format!("/w/{}", token.expose()))),
        unsubscribe_url: None,
        attachment: None,
    };
    let key = format!("wish-{}-kept-{}", wish.id, now.timestamp());
    let mail = deps.wish_mail(key, &wish, content)?;
    match deps.store.keep_wish(&wish, now, next, &mail).await {
        Ok(()) => deps.deliver(&mail).await,
        Err(StoreError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    deps.store
        .get_wish(&wish.id, now)
        .await?
        .ok_or(AppError::NotFound)
}

/// What became of a slot the office withdrew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withdrawal {
    Removed,
    /// Booked slots are cancelled in the booking system first (then released or withdrawn).
    Booked(Slot),
    NotFound,
}

/// `DELETE /admin/slots/{id}`: the office takes a slot back. An open offer for it is withdrawn;
/// the wish goes back in line with its place and is told by mail.
pub async fn withdraw_slot(deps: &Deps, id: &SlotId) -> Result<Withdrawal, AppError> {
    let catalog = deps.catalog().await?;
    for _ in 0..5 {
        let now = deps.clock.now();
        let Some(slot) = deps.store.get_slot(id).await? else {
            return Ok(Withdrawal::NotFound);
        };
        let result = match (slot.status, &slot.offer) {
            (SlotStatus::Booked, _) => return Ok(Withdrawal::Booked(slot)),
            (SlotStatus::Offered, Some(offer_id)) => {
                let Some(offer) = deps.store.get_offer(offer_id).await? else {
                    continue;
                };
                let Some(wish) = deps.store.get_wish(&offer.wish, now).await? else {
                    continue;
                };
                let lang = wish.language;
                let t = texts(lang);
                let service = service_name(&catalog, &wish.service, lang);
                let content = MailContent {
                    subject: t.fill("withdrawn_subject", &[("service", &service)]),
                    paragraphs: vec![
                        t.fill("withdrawn_intro", &[("when", &t.when_long(offer.start))]),
                    ],
                    details: wish_details(&wish, &catalog),
                    action: None,
                    links: vec![],
                    after: vec![],
                    manage_url: None,
                    unsubscribe_url: None,
                    attachment: None,
                };
                let mail =
                    deps.wish_mail(format!("offer-{}-withdrawn", offer.id), &wish, content)?;
                let r = deps
                    .store
                    .withdraw_slot(&slot, Some((&offer, &mail)), now)
                    .await;
                if r.is_ok() {
                    deps.deliver_and_notify(
                        &mail,
                        "OfferWithdrawn",
                        json!({"offer": offer.id, "slot": slot.id}),
                    )
                    .await;
                }
                r
            }
            _ => deps.store.withdraw_slot(&slot, None, now).await,
        };
        match result {
            Ok(()) => {
                deps.events
                    .notify("SlotWithdrawn", json!({"slot": slot.id}))
                    .await;
                return Ok(Withdrawal::Removed);
            }
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Unavailable(
        "slot kept changing while withdrawing".into(),
    ))
}

/// The scheduled rescan: expires overdue offers, retries owed mails, finishes interrupted
/// enqueueing, and offers free slots nobody wanted yet. Its cost grows with open offers, owed
/// mails and free slots — never with the number of waiting wishes.
pub async fn rescan(deps: &Deps) -> Result<RescanReport, AppError> {
    let mut report = RescanReport::default();
    let catalog = deps.catalog().await?;
    let now = deps.clock.now();

    for offer in deps.store.overdue_offers(now, 100).await? {
        let Some(wish) = deps.store.get_wish(&offer.wish, now).await? else {
            continue;
        };
        let after = release_offer(deps, offer, &wish, OfferStatus::Expired).await?;
        if after.status == OfferStatus::Expired {
            report.offers_expired += 1;
        }
    }

    for mail in deps.store.due_mails(now, 100).await? {
        if deps.store.claim_mail(&mail, now).await? {
            deps.deliver(&OutgoingMail {
                tokens: Vec::new(),
                key: mail.key,
                to: mail.to,
                raw: mail.raw,
            })
            .await;
            report.mails_retried += 1;
        }
    }

    for wish in deps
        .store
        .wishes_to_enqueue(now - Duration::minutes(1), now)
        .await?
    {
        deps.store
            .enqueue(
                &wish,
                &lines_of(&wish, &catalog),
                next_age_check(deps, &wish, now),
            )
            .await?;
        report.wishes_enqueued += 1;
    }

    for wish in deps.store.wishes_by_age(now, 100).await? {
        match age_wish(deps, &catalog, wish, now).await? {
            Some(AgeStep::Remind { .. }) => report.wishes_reminded += 1,
            Some(AgeStep::Expire) => report.wishes_expired += 1,
            _ => {}
        }
    }

    let earliest = now + deps.config.timing.before_start + deps.config.timing.min_response;
    for office in &catalog.offices {
        for slot in deps.store.free_slots(&office.id, earliest, 200).await? {
            report.slots_checked += 1;
            if match_slot(deps, &slot).await?.is_some() {
                report.offers_made += 1;
            }
        }
    }
    Ok(report)
}

/// `POST /admin/slots/{id}/release`.
pub async fn release_slot(deps: &Deps, id: &SlotId) -> Result<Option<Slot>, AppError> {
    Ok(deps
        .store
        .release_slot(id, deps.clock.now())
        .await?
        .map(|(s, _)| s))
}
