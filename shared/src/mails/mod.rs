//! Every mail a citizen gets, one constructor per kind. A constructor takes the domain values of
//! a decided change and returns the rendered message with its idempotency key and the fresh link
//! tokens it carries; the use case commits it with the change. Texts live in `texts/*.json`,
//! layout in `templates/mail.*`.

pub mod ics;

use crate::config::Config;
use crate::domain::{
    Catalog, Email, Language, LinkKind, LinkToken, Notice, Offer, OutgoingMail, QuietHours,
    Released, Token, Wish, WishId, WishStatus,
};
use crate::render::views::{offer_rows, office_name, service_name, wish_rows};
use crate::render::{self, Attachment, MailContent, RenderError, Texts, texts};
use chrono::{DateTime, Duration, Utc};

/// Whom a mail about a wish goes to: enough to write it, whether from the wish itself or from
/// its place in line.
#[derive(Clone, Copy)]
pub struct Recipient<'a> {
    pub id: &'a WishId,
    /// The address; `None` for a wish taken by phone or at the counter, which is never mailed
    /// (see [`Mails::build`]).
    pub email: Option<&'a Email>,
    pub language: Language,
    /// Active wishes get a one-click unsubscribe (cancel) header.
    pub active: bool,
}

impl<'a> From<&'a Wish> for Recipient<'a> {
    fn from(w: &'a Wish) -> Self {
        Self {
            id: &w.id,
            email: w.contact.email(),
            language: w.language,
            active: w.status.is_active(),
        }
    }
}

/// The mail writer of one use case: sender, links, catalogue and the time of the change.
pub struct Mails<'a> {
    from: &'a str,
    base_url: &'a str,
    catalog: &'a Catalog,
    token_ttl: Duration,
    now: DateTime<Utc>,
    quiet: Option<QuietHours>,
}

impl MailContent {
    /// A mail with a subject, one paragraph and the detail rows; the rest added by the caller.
    fn new(subject: String, paragraph: String, details: Vec<(String, String)>) -> Self {
        Self {
            subject,
            paragraphs: vec![paragraph],
            details,
            action: None,
            links: vec![],
            after: vec![],
            manage_url: None,
            unsubscribe_url: None,
            attachments: vec![],
        }
    }
}

impl<'a> Mails<'a> {
    #[must_use]
    pub fn new(
        config: &'a Config,
        catalog: &'a Catalog,
        token_ttl: Duration,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            from: &config.mail_from,
            base_url: &config.public_base_url,
            catalog,
            token_ttl,
            now,
            quiet: config.timing.quiet,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    fn wish_page(&self, token: &Token) -> String {
        self.url(&format!("/w/{}", token.expose()))
    }

    /// A mail about a wish in its language: the subject `subject_key` naming the wish's
    /// service, the first paragraph from `intro` (given the texts and the service's name), and
    /// the wish's details.
    fn about_wish(
        &self,
        wish: &Wish,
        subject_key: &str,
        intro: impl FnOnce(&Texts, &str) -> String,
    ) -> MailContent {
        let t = texts(wish.language);
        let service = service_name(self.catalog, &wish.service, wish.language);
        MailContent::new(
            t.fill(subject_key, &[("service", &service)]),
            intro(t, &service),
            wish_rows(wish, self.catalog, wish.language),
        )
    }

    /// Renders a mail about a wish, in its language. Every such mail carries a link to see or
    /// delete the wish (and, while the wish is active, a one-click unsubscribe that cancels it):
    /// when the content has no link yet, a fresh wish token is minted and goes with the mail.
    ///
    /// A wish taken by phone or at the counter has no address: its notice carries no mail (and
    /// mints no link). Its person hears of an offer from a clerk (the console's call list) and
    /// of everything else at the counter or on the phone; the change's events go out as for any
    /// wish, under the same key.
    fn build(
        &self,
        key: String,
        to: Recipient<'_>,
        mut content: MailContent,
    ) -> Result<Notice, RenderError> {
        let Some(email) = to.email else {
            return Ok(Notice { key, mail: None });
        };
        let mut tokens = Vec::new();
        if content.manage_url.is_none() {
            let token = Token::generate();
            tokens.push(LinkToken {
                hash: token.hash(),
                kind: LinkKind::Wish,
                target: to.id.to_string(),
                expires_at: self.now + self.token_ttl,
            });
            content.manage_url = Some(self.wish_page(&token));
        }
        if to.active && content.unsubscribe_url.is_none() {
            content.unsubscribe_url = content.manage_url.as_ref().map(|u| format!("{u}/cancel"));
        }
        let raw = render::build_mail(self.from, email.as_ref(), to.language, &content)?;
        Ok(OutgoingMail {
            key,
            wish: to.id.clone(),
            to: email.as_ref().to_owned(),
            raw,
            tokens,
        }
        .into())
    }

    /// The double opt-in: "confirm your wish" with the wish's own link.
    pub fn opt_in(&self, wish: &Wish, token: &Token) -> Result<Notice, RenderError> {
        let t = texts(wish.language);
        let link = self.wish_page(token);
        let mut content = self.about_wish(wish, "confirm_subject", |t, service| {
            t.fill("confirm_intro", &[("service", service)])
        });
        content.action = Some((
            t.get("confirm_action").to_owned(),
            format!("{link}/confirm"),
        ));
        content.after = vec![t.get("confirm_ignore").to_owned()];
        content.unsubscribe_url = Some(format!("{link}/cancel"));
        content.manage_url = Some(link);
        // The same wish submitted again keeps the pending wish's id: each submission's mail is
        // its own, keyed by when it was made.
        let key = format!(
            "wish-{}-optin-{}",
            wish.id,
            wish.created_at.timestamp_millis()
        );
        self.build(key, wish.into(), content)
    }

    fn confirmed_content(&self, wish: &Wish) -> MailContent {
        let mut content = self.about_wish(wish, "confirmed_subject", |t, _| {
            t.get("confirmed_intro").to_owned()
        });
        content.after = vec![texts(wish.language).get("confirmed_how").to_owned()];
        content
    }

    /// "Your wish is active": after the double opt-in.
    pub fn confirmed(&self, wish: &Wish, token: &Token) -> Result<Notice, RenderError> {
        let mut content = self.confirmed_content(wish);
        let manage = self.wish_page(token);
        content.unsubscribe_url = Some(format!("{manage}/cancel"));
        content.manage_url = Some(manage);
        self.build(format!("wish-{}-confirmed", wish.id), wish.into(), content)
    }

    /// A paused wish waits again (one mail per pause: the key counts the slots it passed on).
    pub fn resumed(&self, resumed: &Wish) -> Result<Notice, RenderError> {
        let key = format!("wish-{}-resumed-{}", resumed.id, resumed.declined.len());
        self.build(key, resumed.into(), self.confirmed_content(resumed))
    }

    /// "Your wish was deleted".
    pub fn cancelled(&self, wish: &Wish) -> Result<Notice, RenderError> {
        let content = self.about_wish(wish, "cancelled_subject", |t, service| {
            t.fill("cancelled_intro", &[("service", service)])
        });
        self.build(format!("wish-{}-cancelled", wish.id), wish.into(), content)
    }

    /// The offer: the slot, the deadline, and links to its page and its three answers.
    pub fn offer(
        &self,
        offer: &Offer,
        to: Recipient<'_>,
        token: &Token,
    ) -> Result<Notice, RenderError> {
        let lang = to.language;
        let t = texts(lang);
        let page = self.url(&format!("/o/{}", token.expose()));
        let mut details = offer_rows(offer, self.catalog, lang);
        details.extend(render::rows(
            &[("label_deadline", t.when_long(offer.deadline))],
            lang,
        ));
        let service = service_name(self.catalog, &offer.service, lang);
        let office = office_name(self.catalog, &offer.office);
        let mut content = MailContent::new(
            t.fill(
                "offer_subject",
                &[("office", &office), ("short", &t.when_short(offer.start))],
            ),
            t.fill("offer_intro", &[("service", &service)]),
            details,
        );
        content.links = ["accept", "decline", "cancel"]
            .iter()
            .map(|a| {
                (
                    t.get(&format!("offer_{a}")).to_owned(),
                    format!("{page}/{a}"),
                )
            })
            .collect();
        let deadline = t.when_long(offer.deadline);
        content.after = vec![match self.quiet.filter(|q| q.contains(self.now)) {
            // Sent at night: the clock has not started yet, and the mail says until when.
            Some(quiet) => t.fill(
                "offer_deadline_night",
                &[
                    ("deadline", &deadline),
                    ("begin", &quiet.begin().format("%H:%M").to_string()),
                    ("end", &quiet.end().format("%H:%M").to_string()),
                ],
            ),
            None => t.fill("offer_deadline", &[("deadline", &deadline)]),
        }];
        content.action = Some((t.get("offer_action").to_owned(), page));
        self.build(format!("offer-{}-sent", offer.id), to, content)
    }

    /// The booking confirmation with the calendar file and the link to the appointment's page
    /// (`/a/{token}`: the details, the calendar file again, and giving it back), a fresh token
    /// kept until the retention time after the appointment.
    pub fn accepted(&self, offer: &Offer, wish: &Wish) -> Result<Notice, RenderError> {
        self.with_appointment_page(offer, wish, "accepted")
    }

    /// The reminder before the appointment: its details, its page and the calendar file again.
    pub fn appointment_reminder(&self, offer: &Offer, wish: &Wish) -> Result<Notice, RenderError> {
        self.with_appointment_page(offer, wish, "appointment_reminder")
    }

    /// A mail about a booked appointment (`kind`: its texts and key) with a fresh link to the
    /// appointment's page, kept until the retention time after the appointment, and the
    /// calendar file.
    fn with_appointment_page(
        &self,
        offer: &Offer,
        wish: &Wish,
        kind: &str,
    ) -> Result<Notice, RenderError> {
        let (content, token) = self.appointment_page_content(offer, wish.language, kind);
        self.build_with_appointment_page(offer, wish, kind, content, &token)
    }

    /// A mail about the booked `offer` (`kind`: its texts) with a fresh link to its page and
    /// its calendar file; the token the link carries.
    fn appointment_page_content(
        &self,
        offer: &Offer,
        lang: Language,
        kind: &str,
    ) -> (MailContent, Token) {
        let token = Token::generate();
        let page = self.url(&format!("/a/{}", token.expose()));
        let mut content = self.about_appointment(offer, lang, kind, &page, ics::Method::Publish);
        content.action = Some((texts(lang).get("accepted_action").to_owned(), page));
        (content, token)
    }

    /// The mail of [`Mails::appointment_page_content`], its page's token kept until the
    /// retention time after the appointment.
    fn build_with_appointment_page(
        &self,
        offer: &Offer,
        wish: &Wish,
        kind: &str,
        content: MailContent,
        token: &Token,
    ) -> Result<Notice, RenderError> {
        let key = format!("offer-{}-{}", offer.id, kind.replace('_', "-"));
        let notice = self.build(key, wish.into(), content)?;
        Ok(notice.with_token(LinkToken {
            hash: token.hash(),
            kind: LinkKind::Appointment,
            target: offer.id.to_string(),
            expires_at: offer.start.max(self.now) + self.token_ttl,
        }))
    }

    /// The appointment given back: the calendar file that takes it out of the calendar, and
    /// the link to its page (`token`, the one the citizen used).
    pub fn returned(
        &self,
        offer: &Offer,
        wish: &Wish,
        token: &Token,
    ) -> Result<Notice, RenderError> {
        let page = self.url(&format!("/a/{}", token.expose()));
        let content =
            self.about_appointment(offer, wish.language, "returned", &page, ics::Method::Cancel);
        self.build(format!("offer-{}-returned", offer.id), wish.into(), content)
    }

    /// A mail about an appointment: subject and first paragraph from `{kind}_subject` and
    /// `{kind}_intro`, the appointment's details, and its calendar file for `method`.
    fn about_appointment(
        &self,
        offer: &Offer,
        lang: Language,
        kind: &str,
        page: &str,
        method: ics::Method,
    ) -> MailContent {
        let t = texts(lang);
        let office = office_name(self.catalog, &offer.office);
        let mut content = MailContent::new(
            t.fill(
                &format!("{kind}_subject"),
                &[("office", &office), ("short", &t.when_short(offer.start))],
            ),
            t.get(&format!("{kind}_intro")).to_owned(),
            offer_rows(offer, self.catalog, lang),
        );
        content.attachments = vec![self.calendar_file(offer, lang, page, method)];
        content
    }

    /// The calendar file of an appointment (`page`, its page's URL).
    fn calendar_file(
        &self,
        offer: &Offer,
        lang: Language,
        page: &str,
        method: ics::Method,
    ) -> Attachment {
        let file_name = match method {
            ics::Method::Publish => "termin.ics",
            ics::Method::Cancel => "termin-abgesagt.ics",
        };
        Attachment {
            content_type: method.content_type().into(),
            file_name: file_name.into(),
            body: ics::appointment(offer, self.catalog, lang, (self.base_url, page), method),
        }
    }

    /// The earlier appointment booked instead of `replaced`: the booking confirmation of the
    /// new one (its page, its calendar file) and the calendar file that takes the old one out
    /// of the calendar (same `UID`, `METHOD:CANCEL`).
    pub fn swapped(
        &self,
        offer: &Offer,
        replaced: &Offer,
        wish: &Wish,
    ) -> Result<Notice, RenderError> {
        let lang = wish.language;
        let t = texts(lang);
        let (mut content, token) = self.appointment_page_content(offer, lang, "swapped");
        content
            .paragraphs
            .push(t.fill("swapped_old", &[("when", &t.when_long(replaced.start))]));
        // The old appointment's calendar file names its own page, which shows it replaced.
        let old_token = Token::generate();
        let old_page = self.url(&format!("/a/{}", old_token.expose()));
        content.attachments.push(self.calendar_file(
            replaced,
            lang,
            &old_page,
            ics::Method::Cancel,
        ));
        let notice = self.build_with_appointment_page(offer, wish, "swapped", content, &token)?;
        Ok(notice.with_token(LinkToken {
            hash: old_token.hash(),
            kind: LinkKind::Appointment,
            target: replaced.id.to_string(),
            expires_at: replaced.start.max(self.now) + self.token_ttl,
        }))
    }

    /// The wish looks for an appointment earlier than `held` (which stays booked); the link to
    /// the wish's page, where the search can be stopped.
    pub fn earlier(&self, looking: &Wish, held: &Offer) -> Result<Notice, RenderError> {
        let when = texts(looking.language).when_long(held.start);
        let content = self.about_wish(looking, "earlier_subject", |t, service| {
            t.fill("earlier_intro", &[("service", service), ("when", &when)])
        });
        let key = format!("offer-{}-earlier-{}", held.id, self.now.timestamp_millis());
        self.build(key, looking.into(), content)
    }

    /// The search for an earlier appointment ended (cancelled, or none can come any more); the
    /// appointment held stays booked.
    pub fn stopped_looking(&self, wish: &Wish, held: &Offer) -> Result<Notice, RenderError> {
        let when = texts(wish.language).when_long(held.start);
        let content = self.about_wish(wish, "stopped_subject", |t, _| {
            t.fill("stopped_intro", &[("when", &when)])
        });
        let key = format!("offer-{}-stopped-{}", held.id, self.now.timestamp_millis());
        let mut to: Recipient<'_> = wish.into();
        to.active = false;
        self.build(key, to, content)
    }

    /// After a decline or an expiry: the wish waits on (or is paused) with its place.
    pub fn released(
        &self,
        offer: &Offer,
        wish: &Wish,
        released: &Released,
    ) -> Result<Notice, RenderError> {
        let to = released.offer.status;
        let (subject, intro) = match (to, released.wish_status) {
            (crate::domain::OfferStatus::Expired, WishStatus::Paused) => {
                ("paused_subject", "paused_intro")
            }
            (crate::domain::OfferStatus::Expired, _) => ("expired_subject", "expired_intro"),
            _ => ("declined_subject", "declined_intro"),
        };
        let content = self.about_wish(wish, subject, |t, _| {
            t.fill(
                intro,
                &[
                    ("when", &t.when_long(offer.start)),
                    ("n", &released.unanswered.to_string()),
                ],
            )
        });
        self.build(
            format!("offer-{}-{}", offer.id, to.as_str()),
            wish.into(),
            content,
        )
    }

    /// "Still interested?" before the wish's maximum age; the wish page has the "keep" button.
    pub fn reminder(&self, wish: &Wish, ends_at: DateTime<Utc>) -> Result<Notice, RenderError> {
        let mut content = self.about_wish(wish, "reminder_subject", |t, service| {
            t.fill(
                "reminder_intro",
                &[("service", service), ("date", &t.when_long(ends_at))],
            )
        });
        content.after = vec![texts(wish.language).get("reminder_how").to_owned()];
        // One per age period: the key names the time the period counts from.
        let base = crate::domain::time::rfc3339(wish.age_base().unwrap_or(self.now));
        let key = format!("wish-{}-reminder-{base}", wish.id).replace([':', '.'], "-");
        self.build(key, wish.into(), content)
    }

    /// "Your wish stays active".
    pub fn kept(&self, wish: &Wish, token: &Token) -> Result<Notice, RenderError> {
        let mut content =
            self.about_wish(wish, "kept_subject", |t, _| t.get("kept_intro").to_owned());
        content.manage_url = Some(self.wish_page(token));
        let key = format!("wish-{}-kept-{}", wish.id, self.now.timestamp());
        self.build(key, wish.into(), content)
    }

    /// The wish reached its maximum age.
    pub fn wish_expired(&self, ended: &Wish) -> Result<Notice, RenderError> {
        let content = self.about_wish(ended, "wish_expired_subject", |t, service| {
            t.fill("wish_expired_intro", &[("service", service)])
        });
        self.build(format!("wish-{}-expired", ended.id), ended.into(), content)
    }

    /// The office took the offered slot back; the wish waits on.
    pub fn withdrawn(&self, offer: &Offer, wish: &Wish) -> Result<Notice, RenderError> {
        let content = self.about_wish(wish, "withdrawn_subject", |t, _| {
            t.fill("withdrawn_intro", &[("when", &t.when_long(offer.start))])
        });
        self.build(
            format!("offer-{}-withdrawn", offer.id),
            wish.into(),
            content,
        )
    }
}
