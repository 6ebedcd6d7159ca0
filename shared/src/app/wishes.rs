//! A citizen's wish: submit, confirm (or resume), keep, cancel, and where it stands in line.

use super::{AppError, Deps};
use crate::domain::lifecycle::submitted;
use crate::domain::wait::Place;
use crate::domain::wish::{LimitExceeded, admit_submission};
use crate::domain::{
    AgeStep, Effects, FieldErrors, LinkKind, Token, Wish, WishDraft, WishId, WishStatus, age_step,
    expected_wait,
};
use crate::store::{AddressBook, AgeMark, StoreError};
use chrono::{DateTime, Utc};

/// Puts a confirmed wish into its lines and onto the rescan's age list.
pub(super) async fn enqueue(
    deps: &Deps,
    wish: &Wish,
    catalog: &crate::domain::Catalog,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let lines = wish.lines(catalog);
    let next = next_age_check(deps, wish, now);
    let base = wish.kept_at.or(wish.confirmed_at).unwrap_or(now);
    let until = keep_until(deps, base);
    Ok(deps.store.enqueue(wish, &lines, next, until).await?)
}

/// [`enqueue`] right after a change that put the wish on the rescan's enqueue list (a
/// confirmation, a search for an earlier appointment): the change is committed and its mail
/// owed, so a failure here (a burst of enqueues into one line outlasting the retries, the
/// database unavailable) does not fail the request — the rescan enqueues the wish from that list
/// within minutes ([`crate::store::Store::wishes_to_enqueue`]).
pub(super) async fn enqueue_committed(
    deps: &Deps,
    wish: &Wish,
    catalog: &crate::domain::Catalog,
    now: DateTime<Utc>,
) {
    if let Err(e) = enqueue(deps, wish, catalog, now).await {
        tracing::warn!(wish_id = %wish.id, error = %e, "enqueue left to the rescan");
    }
}

/// How long a wish whose age counts from `base` (its confirmation, or the last "keep") and its
/// queue entries are kept: to the end of its age and the retention time after it. The rescan
/// ends it at its age; the time to live is the backstop should it not.
pub(super) fn keep_until(deps: &Deps, base: DateTime<Utc>) -> DateTime<Utc> {
    base + deps.config.wish_age.max_age + deps.store.retention.ended
}

/// When the rescan must next look at a wish's age.
pub(super) fn next_age_check(deps: &Deps, wish: &Wish, now: DateTime<Utc>) -> DateTime<Utc> {
    match age_step(wish, now, deps.config.wish_age) {
        AgeStep::WaitUntil(at) => at,
        AgeStep::Remind { .. } | AgeStep::Expire => now,
    }
}

/// What a submission became: the pending wish, and whether its confirmation mail goes out.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub wish: Wish,
    /// `false` when the day's confirmation mails for this address and service are used up and
    /// the submission is the very wish a pending one already is: the links of those mails
    /// confirm it (unchanged; only an identical submission ever gets no mail of its own).
    pub mailed: bool,
}

/// Why a submission's address takes no wish for now: the `email` field's refusal, with the time
/// that tells its owner how to go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRefusal {
    /// SES reported this very address (a permanent bounce, or a mail marked as spam): no new
    /// wish for it before `until` (422).
    Suppressed { until: DateTime<Utc> },
    /// The day's confirmation mails for this address and service went out already, and this
    /// submission differs from every pending wish they confirm: it would have no link of its
    /// own, and no existing link may confirm it instead. Another mail can go out from `from`
    /// (429).
    MailsUsedUp { from: DateTime<Utc> },
}

impl AddressRefusal {
    /// The stable code of the `email` field's error.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Suppressed { .. } => "suppressed",
            Self::MailsUsedUp { .. } => "opt_in_mails_used_up",
        }
    }

    /// The `email` field's message, in English (the pages say it in their language).
    #[must_use]
    pub fn message(self) -> String {
        match self {
            Self::Suppressed { until } => format!(
                "mail to this address could not be delivered (it bounced, or a mail was reported \
                 as spam), so it takes no new wish before {}; to go on, use another address, or \
                 leave your wish by phone or at the counter of a citizen office",
                until.format("%Y-%m-%d")
            ),
            Self::MailsUsedUp { from } => format!(
                "this address got today's confirmation mails for this service already; to go \
                 on, confirm the wish in one of them if it is the one you want (cancel the \
                 others there), or send this one again after {} UTC",
                from.format("%Y-%m-%d %H:%M")
            ),
        }
    }

    /// The refusal as the form's field errors.
    #[must_use]
    pub fn field_errors(self) -> FieldErrors {
        let mut errors = FieldErrors::default();
        errors.add("email", self.code(), self.message());
        errors
    }
}

/// `POST /api/wishes`: checks, and stores the wish as pending with its opt-in mail.
///
/// Bots: `proof`, the solution of a proof-of-work challenge, as the configured mode asks
/// ([`super::challenge::spend_proof`]), checked after the wish is valid, so a form sent back
/// for a typo does not use up its solution.
///
/// Abuse limits: per client (the caller's network address, when known), and per address as the
/// limits count it ([`crate::domain::Email::limit_key`]): confirmed wishes in line, and the day's
/// confirmation mails per service ([`admit_submission`]). The address's book is written in the
/// wish's transaction under a version check, so concurrent submissions cannot both slip through.
///
/// A submission never changes what an existing link confirms: it is a new wish with its own id
/// and its own confirmation mail, and a pending wish stays as it was sent. Only a submission
/// that is that very wish again (same address as given, service, offices, windows, language and
/// persons) keeps the pending wish's id (a new mail with a new link, if the day allows one). Once
/// the day's mails for the address and service are used up, any other submission is refused
/// ([`AddressRefusal::MailsUsedUp`]): it would have no link to confirm it by.
///
/// SES's reports count for the very address they name ([`AddressRefusal::Suppressed`]), not for
/// its `+tag` variants, which share only the limits.
pub async fn submit_wish(
    deps: &Deps,
    request: &WishDraft,
    proof: Option<&str>,
    client: Option<&str>,
) -> Result<Submitted, AppError> {
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
    super::challenge::spend_proof(deps, proof).await?;
    for _attempt in 0..4 {
        let book = deps.store.address_book(&new.email).await?;
        if let Some(until) = deps.store.suppressed_until(&book, &new.email, now)? {
            return Err(AppError::Address(AddressRefusal::Suppressed { until }));
        }
        let known = deps.store.get_wishes(&book.wishes, now).await?;
        let service = new.service.to_string();
        // Only the very same wish keeps a pending one's id: its links then confirm what they
        // were sent for, whichever of the two submissions the citizen meant.
        let candidate = submitted(WishId::generate(), new.clone(), now);
        let pending = known
            .iter()
            .find(|w| w.status == WishStatus::Pending && same_wish(w, &candidate))
            .map(|w| w.id.clone());
        let confirmed = known.iter().filter(|w| w.in_line()).count();
        let opt_ins = book.opt_ins.get(&service).cloned().unwrap_or_default();
        let limit = (
            limits.active_per_address,
            limits.opt_in_mails_per_address_service_day,
        );
        let admission = match admit_submission(confirmed, pending, &opt_ins, limit, now) {
            Ok(a) => a,
            Err(LimitExceeded::ActiveWishes(n)) => return Err(too_many_active(n)),
        };
        if !admission.mail && admission.replaces.is_none() {
            let first = admission.opt_ins.iter().min().copied().unwrap_or(now);
            return Err(AppError::Address(AddressRefusal::MailsUsedUp {
                from: first + chrono::Duration::hours(24),
            }));
        }
        let replaces = admission.replaces.is_some();
        let wish = match admission.replaces {
            Some(id) => submitted(id, new.clone(), now),
            None => candidate,
        };
        let token = Token::generate();
        let out = if admission.mail {
            Effects::mail(deps.mails(&catalog, now).opt_in(&wish, &token)?, Vec::new())
        } else {
            Effects::events(format!("wish-{}-submitted", wish.id), Vec::new())
        };
        let book = book_after(&book, &known, &wish, admission.opt_ins, now);
        let token_hash = token.hash();
        let token = admission.mail.then_some(&token_hash);
        match deps
            .store
            .create_wish(&wish, replaces, token, &out, &book, now)
            .await
        {
            Ok(()) => {
                tracing::info!(wish_id = %wish.id, replaces, mailed = admission.mail, "wish submitted");
                return Ok(Submitted {
                    wish,
                    mailed: admission.mail,
                });
            }
            // Another submission for this address came first (or the pending wish it repeats
            // was confirmed meanwhile): count again.
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Conflict("address book"))
}

/// Whether `a` and `b` ask for the same, from the same address as given: a repeated submission of
/// a pending wish (a second click, a reload) is that wish again, anything else is a wish of its
/// own.
fn same_wish(a: &Wish, b: &Wish) -> bool {
    a.contact == b.contact
        && a.service == b.service
        && a.offices == b.offices
        && a.windows == b.windows
        && a.language == b.language
        && a.persons == b.persons
}

/// The address's book after admitting `wish`: the wishes that may still be active and this one,
/// the newest pending wish per service (this one for its service), the day's confirmation mails,
/// the suppressions still running.
fn book_after(
    book: &AddressBook,
    known: &[Wish],
    wish: &Wish,
    opt_ins: Vec<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> AddressBook {
    let mut wishes: Vec<WishId> = known
        .iter()
        .filter(|w| w.status.is_active() && w.id != wish.id)
        .map(|w| w.id.clone())
        .collect();
    wishes.push(wish.id.clone());
    let mut pending = book.pending.clone();
    pending.retain(|_, id| wishes.contains(id));
    pending.insert(wish.service.to_string(), wish.id.clone());
    let mut mails = book.opt_ins.clone();
    mails.retain(|_, times| times.iter().any(|t| *t > now - chrono::Duration::hours(24)));
    mails.insert(wish.service.to_string(), opt_ins);
    let mut suppressed = book.suppressed.clone();
    suppressed.retain(|_, until| *until > now);
    AddressBook {
        wishes,
        pending,
        opt_ins: mails,
        suppressed,
        version: book.version,
    }
}

/// A refusal on the `email` field.
fn email_refused(code: &'static str, message: String) -> AppError {
    let mut errors = FieldErrors::default();
    errors.add("email", code, message);
    AppError::Invalid(errors)
}

fn too_many_active(n: usize) -> AppError {
    email_refused(
        "too_many_active",
        format!("this address already has {n} active wishes; cancel one first"),
    )
}

/// Most lines the wish page lists a place for; a wish may stand in many.
const PLACES_SHOWN: usize = 12;

/// For each line the wish stands in (office × window, at most [`PLACES_SHOWN`]): how many wishes
/// are ahead of it and, where recent releases allow, a rough expected wait. Empty for wishes not
/// in line. Two batch reads (the lines' entry counts, their release counters) and one query per
/// line that reads only the entries of the wish's own hour of confirmation, whatever its place
/// ([`crate::store::Store::places_ahead`]); nothing on the offer path.
pub async fn places_in_line(deps: &Deps, wish: &Wish) -> Result<Vec<Place>, AppError> {
    if wish.confirmed_at.is_none() || !wish.in_line() {
        return Ok(Vec::new());
    }
    let catalog = deps.catalog().await?;
    let lines: Vec<_> = wish
        .lines(&catalog)
        .into_iter()
        .take(PLACES_SHOWN)
        .collect();
    let releases = deps
        .store
        .releases_in_lines(&wish.service, &lines, deps.clock.now())
        .await?;
    let ahead = deps.store.places_ahead(wish, &lines).await?;
    Ok(lines
        .into_iter()
        .zip(releases)
        .zip(ahead)
        .map(|(((office, window), released), ahead)| Place {
            office,
            window,
            ahead,
            wait: expected_wait(ahead, released),
        })
        .collect())
}

/// The wish behind a link, or `NotFound` for anything else (malformed, unknown, expired).
pub async fn wish_by_token(deps: &Deps, token: &str) -> Result<(Wish, Token), AppError> {
    let (id, token) = deps.resolve_link(token, LinkKind::Wish).await?;
    let id = WishId::parse(&id).map_err(|_| AppError::NotFound)?;
    Ok((reread(deps, &id).await?, token))
}

/// The wish as it is now (after a change, or after losing a race to one).
async fn reread(deps: &Deps, id: &WishId) -> Result<Wish, AppError> {
    deps.store
        .get_wish(id, deps.clock.now())
        .await?
        .ok_or(AppError::NotFound)
}

/// `POST /w/{token}/confirm`: pending → waiting, in line from now; a paused wish waits again
/// with its old place. Repeats answer the same and send nothing.
pub async fn confirm_wish(deps: &Deps, token: &str) -> Result<Wish, AppError> {
    let (wish, token) = wish_by_token(deps, token).await?;
    if wish.status == WishStatus::Paused {
        return resume_wish(deps, wish).await;
    }
    let now = deps.clock.now();
    let Ok(change) = wish.confirm(now) else {
        return Ok(wish);
    };
    // Pending wishes do not count against the limit, so it is checked again here. (Only a
    // citizen's own wish is ever pending: one taken by phone is confirmed when it is entered.)
    if let Some(email) = wish.contact.email() {
        let book = deps.store.address_book(email).await?;
        let confirmed = deps
            .store
            .get_wishes(&book.wishes, now)
            .await?
            .iter()
            .filter(|w| w.id != wish.id && w.in_line())
            .count();
        if confirmed >= deps.config.limits.active_per_address {
            return Err(too_many_active(confirmed));
        }
    }
    let catalog = deps.catalog().await?;
    let mail = deps.mails(&catalog, now).confirmed(&wish, &token)?;
    let out = Effects::mail(mail, change.events);
    match deps
        .store
        .confirm_wish(&wish, now, keep_until(deps, now), &out)
        .await
    {
        Ok(()) => {}
        // A second click won the race, or the wish expired meanwhile: show what is.
        Err(StoreError::Conflict) => return reread(deps, &wish.id).await,
        Err(e) => return Err(e.into()),
    }
    let confirmed = change.state;
    enqueue_committed(deps, &confirmed, &catalog, now).await;
    tracing::info!(wish_id = %confirmed.id, "wish confirmed");
    Ok(confirmed)
}

/// A paused wish confirmed again: it waits on with its old place.
async fn resume_wish(deps: &Deps, wish: Wish) -> Result<Wish, AppError> {
    let Ok(change) = wish.resume() else {
        return Ok(wish);
    };
    let catalog = deps.catalog().await?;
    let now = deps.clock.now();
    let mail = deps.mails(&catalog, now).resumed(&change.state)?;
    let out = Effects::mail(mail, change.events);
    match deps.store.resume_wish(&wish, now, &out).await {
        // A conflict: someone else changed it first; the reread shows what is.
        Ok(()) | Err(StoreError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    reread(deps, &wish.id).await
}

/// Cancels a wish (from its page or an offer page); an open offer is withdrawn and its slot goes
/// on to the next wish. Repeats answer the same and send nothing.
pub async fn cancel_wish(deps: &Deps, wish: Wish) -> Result<Wish, AppError> {
    cancel_wish_audited(deps, wish, None).await
}

/// [`cancel_wish`], by a member of staff on the person's request: `actor` names them in the
/// audit entry the cancel's transaction writes (none when the wish had ended already).
pub async fn cancel_wish_audited(
    deps: &Deps,
    wish: Wish,
    actor: Option<&str>,
) -> Result<Wish, AppError> {
    let catalog = deps.catalog().await?;
    let mut wish = wish;
    for _ in 0..5 {
        let now = deps.clock.now();
        // A wish that holds an appointment and looks for an earlier one only stops looking:
        // cancelling the search never cancels the appointment.
        if wish.earlier.is_some() {
            if super::appointments::stop_looking(deps, &catalog, (&wish, actor), now).await? {
                return reread(deps, &wish.id).await;
            }
            wish = reread(deps, &wish.id).await?;
            continue;
        }
        let audit = |at| {
            actor.map(|name| crate::domain::staff::AuditEntry {
                at,
                actor: name.to_owned(),
                action: crate::domain::staff::AuditAction::Cancelled,
                wish: Some(wish.id.clone()),
            })
        };
        let offer = deps.open_offer(&wish).await?;
        let Ok(change) = wish.cancel(offer.as_ref()) else {
            return Ok(wish);
        };
        let out = Effects::mail(deps.mails(&catalog, now).cancelled(&wish)?, change.events);
        match deps
            .store
            .cancel_wish(&wish, offer.as_ref(), now, &out, audit(now).as_ref())
            .await
        {
            Ok(()) => {
                deps.store.dequeue(&wish, &wish.lines(&catalog)).await?;
                tracing::info!(wish_id = %wish.id, "wish cancelled");
                return reread(deps, &wish.id).await;
            }
            // The wish moved on (an offer arrived or was answered): look again and retry.
            Err(StoreError::Conflict) => wish = reread(deps, &wish.id).await?,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Conflict("wish while cancelling"))
}

/// `POST /w/{token}/cancel`: [`cancel_wish`] for the wish behind the link.
pub async fn cancel_by_link(deps: &Deps, token: &str) -> Result<Wish, AppError> {
    let (wish, _) = wish_by_token(deps, token).await?;
    cancel_wish(deps, wish).await
}

/// `POST /w/{token}/keep`: after the reminder, the citizen keeps the wish; its age starts again
/// and its place in line stays. Without a pending reminder it changes nothing.
pub async fn keep_wish(deps: &Deps, token: &str) -> Result<Wish, AppError> {
    let (wish, token) = wish_by_token(deps, token).await?;
    let now = deps.clock.now();
    let Ok(change) = wish.keep(now) else {
        return Ok(wish);
    };
    let catalog = deps.catalog().await?;
    let next = next_age_check(deps, &change.state, now);
    let out = Effects::mail(
        deps.mails(&catalog, now).kept(&wish, &token)?,
        change.events,
    );
    let kept = AgeMark::Kept(keep_until(deps, now));
    match deps.store.mark_age(&wish, kept, next, now, &out).await {
        // Its entries live on as long as it does now.
        Ok(()) => enqueue(deps, &change.state, &catalog, now).await?,
        // A conflict: someone else changed it first; the reread shows what is.
        Err(StoreError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    reread(deps, &wish.id).await
}
