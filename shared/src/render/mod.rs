//! Everything a person reads: texts per language (`texts/*.json`), page templates
//! (`templates/*.html`, auto-escaped) and the MIME mails.

pub mod staff;
pub mod views;

use crate::domain::time::OFFICE_TZ;
use crate::domain::{Language, Weekday};
use chrono::{DateTime, Datelike, Timelike, Utc};
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use minijinja::Environment;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// All texts of one language, from `texts/<lang>.json`.
pub struct Texts(serde_json::Map<String, serde_json::Value>);

static DE: OnceLock<Texts> = OnceLock::new();
static EN: OnceLock<Texts> = OnceLock::new();

fn load(json: &str) -> Texts {
    // The files are compiled in and checked by a unit test, so this only falls back to an empty map
    // if someone ships a broken file without running the tests.
    Texts(serde_json::from_str(json).unwrap_or_default())
}

#[must_use]
pub fn texts(lang: Language) -> &'static Texts {
    match lang {
        Language::De => DE.get_or_init(|| load(include_str!("../../texts/de.json"))),
        Language::En => EN.get_or_init(|| load(include_str!("../../texts/en.json"))),
    }
}

impl Texts {
    /// The text for `key`; the key itself if missing (visible, never a crash).
    #[must_use]
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.0
            .get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or(key)
    }

    /// The text with `{name}` placeholders filled in.
    #[must_use]
    pub fn fill(&self, key: &str, args: &[(&str, &str)]) -> String {
        fill(self.get(key), args)
    }

    fn list(&self, key: &str, index: usize) -> &str {
        self.0
            .get(key)
            .and_then(|v| v.get(index))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
    }

    #[must_use]
    pub fn weekday(&self, day: Weekday) -> &str {
        self.list("weekdays", day as usize)
    }

    /// "Mittwoch, 24. Januar 2024, 8:30 Uhr" in the office's time zone.
    #[must_use]
    pub fn when_long(&self, t: DateTime<Utc>) -> String {
        let local = t.with_timezone(&OFFICE_TZ);
        let weekday = self.list("weekdays", local.weekday().num_days_from_monday() as usize);
        let month = self.list("months", local.month0() as usize);
        self.fill(
            "when_long",
            &[
                ("weekday", weekday),
                ("day", &local.day().to_string()),
                ("month", month),
                ("year", &local.year().to_string()),
                ("time", &format!("{}:{:02}", local.hour(), local.minute())),
            ],
        )
    }

    /// "8:30", the time of day in the office's time zone.
    #[must_use]
    pub fn clock(&self, t: DateTime<Utc>) -> String {
        let local = t.with_timezone(&OFFICE_TZ);
        format!("{}:{:02}", local.hour(), local.minute())
    }

    /// "Mi 24.01. 8:30" for subjects.
    #[must_use]
    pub fn when_short(&self, t: DateTime<Utc>) -> String {
        let local = t.with_timezone(&OFFICE_TZ);
        format!(
            "{} {:02}.{:02}. {}:{:02}",
            self.list(
                "weekdays_short",
                local.weekday().num_days_from_monday() as usize
            ),
            local.day(),
            local.month(),
            local.hour(),
            local.minute()
        )
    }

    #[must_use]
    pub fn all(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }
}

fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The content of one mail, laid out the same way in the text and the HTML part.
#[derive(Debug, Clone, Serialize)]
pub struct MailContent {
    pub subject: String,
    pub paragraphs: Vec<String>,
    pub details: Vec<(String, String)>,
    pub action: Option<(String, String)>,
    /// Further links, each to a page that asks before it changes anything.
    pub links: Vec<(String, String)>,
    pub after: Vec<String>,
    /// The page to see or delete the wish; also the one-click unsubscribe target.
    pub manage_url: Option<String>,
    pub unsubscribe_url: Option<String>,
    /// Files attached in order (a calendar file; a swap carries the new one and the
    /// cancellation of the old one).
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attachment {
    pub content_type: String,
    pub file_name: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
#[error("rendering failed: {0}")]
pub struct RenderError(pub String);

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // Auto-escaping follows the file extension: `.html` escaped, `.txt` not.
        for (name, source) in [
            ("layout.html", include_str!("../../templates/layout.html")),
            ("page.html", include_str!("../../templates/page.html")),
            ("form.html", include_str!("../../templates/form.html")),
            (
                "wish_fields.html",
                include_str!("../../templates/wish_fields.html"),
            ),
            (
                "staff_phone.html",
                include_str!("../../templates/staff_phone.html"),
            ),
            (
                "staff_calls.html",
                include_str!("../../templates/staff_calls.html"),
            ),
            (
                "staff_challenge.html",
                include_str!("../../templates/staff_challenge.html"),
            ),
            (
                "statistics.html",
                include_str!("../../templates/statistics.html"),
            ),
            (
                "accessibility.html",
                include_str!("../../templates/accessibility.html"),
            ),
            (
                "staff_sign_in.html",
                include_str!("../../templates/staff_sign_in.html"),
            ),
            (
                "staff_message.html",
                include_str!("../../templates/staff_message.html"),
            ),
            (
                "staff_overview.html",
                include_str!("../../templates/staff_overview.html"),
            ),
            (
                "staff_slots.html",
                include_str!("../../templates/staff_slots.html"),
            ),
            (
                "staff_support.html",
                include_str!("../../templates/staff_support.html"),
            ),
            (
                "staff_audit.html",
                include_str!("../../templates/staff_audit.html"),
            ),
            (
                "staff_allocations.html",
                include_str!("../../templates/staff_allocations.html"),
            ),
            ("mail.html", include_str!("../../templates/mail.html")),
            ("mail.txt", include_str!("../../templates/mail.txt")),
        ] {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        env
    })
}

/// Renders a template with a context; `t` (the language's texts) is always available.
///
/// # Errors
/// When the template fails (a bug caught by the tests).
pub fn render(template: &str, lang: Language, ctx: impl Serialize) -> Result<String, RenderError> {
    let tmpl = env()
        .get_template(template)
        .map_err(|e| RenderError(e.to_string()))?;
    tmpl.render(minijinja::context! { t => texts(lang).all(), lang => lang.code(), ..minijinja::Value::from_serialize(&ctx) })
        .map_err(|e| RenderError(e.to_string()))
}

/// Builds the multipart MIME message (text + HTML, optional attachment, one-click unsubscribe).
///
/// # Errors
/// When a template fails or the message cannot be written.
pub fn build_mail(
    from: &str,
    to: &str,
    lang: Language,
    content: &MailContent,
) -> Result<String, RenderError> {
    let t = texts(lang);
    let ctx = minijinja::context! { m => content, greeting => t.get("mail_greeting"), signoff => t.get("mail_signoff"),
    manage => content.manage_url.as_ref().map(|u| t.fill("mail_manage", &[("url", u)])), automatic => t.get("mail_automatic") };
    let text = render("mail.txt", lang, &ctx)?;
    let html = render("mail.html", lang, &ctx)?;
    let mut builder = MessageBuilder::new()
        .from((t.get("app_name"), from))
        .to(to)
        .subject(content.subject.as_str())
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .text_body(text)
        .html_body(html);
    if let Some(url) = &content.unsubscribe_url {
        builder = builder
            .header("List-Unsubscribe", Raw::new(format!("<{url}>")))
            .header(
                "List-Unsubscribe-Post",
                Raw::new("List-Unsubscribe=One-Click"),
            );
    }
    for a in &content.attachments {
        builder = builder.attachment(
            a.content_type.clone(),
            a.file_name.clone(),
            a.body.clone().into_bytes(),
        );
    }
    builder
        .write_to_string()
        .map_err(|e| RenderError(e.to_string()))
}

/// Details as label/value rows for pages and mails.
#[must_use]
pub fn rows(pairs: &[(&str, String)], lang: Language) -> Vec<(String, String)> {
    let t = texts(lang);
    pairs
        .iter()
        .map(|(k, v)| (t.get(k).to_owned(), v.clone()))
        .collect()
}

/// Windows as people read them: "Montag 8–9 Uhr, Freitag 12–13 Uhr".
#[must_use]
pub fn windows_text(windows: &BTreeMap<Weekday, Vec<u8>>, lang: Language) -> String {
    let t = texts(lang);
    windows
        .iter()
        .flat_map(|(day, hours)| {
            hours.iter().map(move |h| {
                format!(
                    "{} {}",
                    t.weekday(*day),
                    t.fill(
                        "hour_range",
                        &[("from", &h.to_string()), ("to", &(h + 1).to_string())]
                    )
                )
            })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_form_renders_in_every_challenge_mode_with_and_without_its_error() {
        let catalog = crate::testing::sample();
        for lang in [Language::De, Language::En] {
            for mode in [None, Some("monitor"), Some("enforce")] {
                for error in [None, Some("missing"), Some("replayed")] {
                    let mut ctx = super::views::form_context(&catalog, lang);
                    ctx["challenge"] = serde_json::json!(mode);
                    ctx["values"] = serde_json::json!({"offices": [], "windows": []});
                    ctx["error_codes"] = serde_json::json!(
                        error
                            .map(|e| [("altcha", e)]
                                .into_iter()
                                .collect::<std::collections::BTreeMap<_, _>>())
                            .unwrap_or_default()
                    );
                    ctx["errors"] = ctx["error_codes"].clone();
                    ctx["error_texts"] = serde_json::json!({});
                    let html = render("form.html", lang, ctx).unwrap();
                    assert_eq!(html.contains("<altcha-widget"), mode.is_some());
                    assert_eq!(html.contains("<noscript>"), mode == Some("enforce"));
                    let phones = html.matches("tel:02118991").count();
                    let expected = catalog.offices.len()
                        * (usize::from(mode == Some("enforce"))
                            + usize::from(mode.is_some() && error == Some("missing")));
                    assert_eq!(phones, expected, "{mode:?} {error:?}");
                }
            }
        }
    }

    /// A template file that is not registered (or does not compile) would answer every page
    /// that uses it with a 500.
    #[test]
    fn every_template_file_is_registered_and_compiles() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(env().get_template(&name).is_ok(), "{name} is not usable");
        }
    }

    #[test]
    fn the_statistics_page_draws_a_bar_per_median_and_tables_every_figure() {
        use crate::domain::ServiceId;
        use crate::domain::public_stats::{GroupFigures, PublicStats};
        let catalog = crate::testing::sample();
        let office = catalog.offices[0].id.clone();
        let group = |service: &str, median, share| GroupFigures {
            office: office.clone(),
            service: ServiceId::parse(service).unwrap(),
            waiting: 12,
            released_28d: 9,
            median_days_to_offer: median,
            taken_share: share,
            first_offers_28d: 7,
        };
        let stats = PublicStats {
            updated_at: DateTime::parse_from_rfc3339("2024-01-24T07:30:00Z")
                .unwrap()
                .with_timezone(&Utc),
            groups: vec![
                group("id-card", Some(6.5), Some(0.67)),
                group("passport", None, None),
            ],
        };
        let de = views::statistics_page(&stats, &catalog, Language::De, "/statistics?lang=en");
        let html = render("statistics.html", Language::De, &de).unwrap();
        assert!(html.contains("<svg class=\"chart\""), "{html}");
        assert_eq!(
            html.matches("<rect ").count(),
            1,
            "one bar: one group has no median"
        );
        assert!(
            html.contains("6,5 Tage") && html.contains(">6,5</td>"),
            "{html}"
        );
        assert!(
            html.contains(">67 %</td>") && html.contains(">12</td>"),
            "{html}"
        );
        assert!(html.contains("mit mindestens 5 ersten Angeboten"), "{html}");
        assert!(
            html.contains(">Personalausweis beantragen</text>"),
            "{html}"
        );
        assert!(
            !html.contains(">Reisepass beantragen</text>"),
            "no bar: {html}"
        );
        assert_eq!(
            html.matches("<span class=\"vh\">keine Angabe</span>")
                .count(),
            2,
            "{html}"
        );
        assert!(
            html.contains("Mittwoch, 24. Januar 2024, 8:30 Uhr"),
            "{html}"
        );
        let en = views::statistics_page(&stats, &catalog, Language::En, "/statistik?lang=de");
        let html = render("statistics.html", Language::En, &en).unwrap();
        assert!(
            html.contains("6.5 days") && html.contains(">67%</td>"),
            "{html}"
        );
        // Nothing to chart yet: said instead of an empty drawing; the table still there.
        let none = PublicStats {
            groups: vec![group("passport", None, None)],
            ..stats
        };
        let html = render(
            "statistics.html",
            Language::En,
            views::statistics_page(&none, &catalog, Language::En, "/statistik?lang=de"),
        )
        .unwrap();
        assert!(
            !html.contains("<svg") && html.contains("too few offers lately"),
            "{html}"
        );
        assert!(html.contains("<table>"), "{html}");
    }

    #[test]
    fn both_languages_have_the_same_keys_and_valid_json() {
        let de: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(include_str!("../../texts/de.json")).unwrap();
        let en: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(include_str!("../../texts/en.json")).unwrap();
        let mut a: Vec<_> = de.keys().collect();
        let mut b: Vec<_> = en.keys().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    /// Every string literal in the code that is written like a text key (its first word is the
    /// first word of some key) names a key of both languages, and so does every `t.<key>` in a
    /// template and every key the code builds with `format!`. A typo would otherwise show a raw
    /// key to a citizen.
    #[test]
    fn every_text_key_the_code_uses_exists_in_both_languages() {
        use crate::domain::{OfferStatus, WishStatus};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let de = texts(Language::De).all();
        let en = texts(Language::En).all();
        let prefixes: BTreeSet<&str> = de.keys().filter_map(|k| k.split('_').next()).collect();
        // Names of page-model fields and error codes that share a first word with some text.
        let not_keys = [
            "error_codes",
            "error_texts",
            "lang_switch",
            "queue_unknown",
            "not_offered",
            // The kind of an appointment mail; its texts are `appointment_reminder_*` (below).
            "appointment_reminder",
            // An attribute of the wishes table (the public statistics read it).
            "confirmed_at",
            // The allocation record's skip reasons (stored codes) and a field of its report.
            "declined_slot",
            "not_earlier",
            "not_waiting",
            "other_office",
            "other_service",
            "declined_run",
            "other_party_size",
            "expired_starts",
            // A call list answer as the form sends it (its text is `staff_calls_not_reached`).
            "not_reached",
            // A store use case's name in `store/writes/use_cases.rs`.
            "confirm_wish",
        ];
        let mut used: BTreeSet<String> = BTreeSet::new();
        // The domain crate's sources too (`shared/domain`): its codes and kinds name texts as well.
        let mut stack = vec![
            root.join("src"),
            root.join("domain").join("src"),
            root.join("templates"),
        ];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let source = std::fs::read_to_string(&path).unwrap();
                if path.extension().is_some_and(|e| e == "rs") {
                    for (i, literal) in source.split('"').enumerate() {
                        let snake = literal.contains('_')
                            && literal
                                .chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                        if i % 2 == 1
                            && snake
                            && prefixes.contains(literal.split('_').next().unwrap_or(""))
                            && !not_keys.contains(&literal)
                        {
                            used.insert(literal.to_owned());
                        }
                    }
                } else {
                    for (at, _) in source.match_indices("t.") {
                        let before = source[..at].chars().next_back().unwrap_or(' ');
                        if before.is_ascii_alphanumeric() || before == '_' || before == '.' {
                            continue;
                        }
                        let key: String = source[at + 2..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if !key.is_empty() {
                            used.insert(key);
                        }
                    }
                }
            }
        }
        for s in WishStatus::ALL {
            used.insert(format!("status_{}", s.as_str()));
        }
        for s in [
            OfferStatus::Accepted,
            OfferStatus::Declined,
            OfferStatus::Expired,
            OfferStatus::Withdrawn,
            OfferStatus::Returned,
        ] {
            used.insert(format!("offer_gone_{}", s.as_str()));
        }
        used.insert("error_windows_closed_at".into());
        used.insert("appointment_reminder_subject".into());
        used.insert("appointment_reminder_intro".into());
        assert!(used.len() > 100, "the scan found only {} keys", used.len());
        let missing: Vec<_> = used
            .iter()
            .filter(|k| !de.contains_key(*k) || !en.contains_key(*k))
            .collect();
        assert!(missing.is_empty(), "keys without a text: {missing:?}");
    }

    #[test]
    fn dates_read_like_the_newspaper_report() {
        let t = DateTime::parse_from_rfc3339("2024-01-24T07:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            texts(Language::De).when_long(t),
            "Mittwoch, 24. Januar 2024, 8:30 Uhr"
        );
        assert_eq!(texts(Language::De).when_short(t), "Mi 24.01. 8:30");
        assert_eq!(
            texts(Language::En).when_long(t),
            "Wednesday, 24 January 2024, 8:30"
        );
    }

    #[test]
    fn html_is_escaped_and_mail_has_both_parts() {
        let content = MailContent {
            subject: "Test <b>".into(),
            paragraphs: vec!["<script>alert(1)</script>".into()],
            details: vec![],
            action: Some(("Go".into(), "https://x.test/w/abc".into())),
            links: vec![],
            after: vec![],
            manage_url: Some("https://x.test/w/abc".into()),
            unsubscribe_url: Some("https://x.test/w/abc/unsubscribe".into()),
            attachments: vec![],
        };
        let raw = build_mail("noreply@x.test", "a@b.de", Language::De, &content).unwrap();
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        let html = render(
            "mail.html",
            Language::De,
            minijinja::context! { m => content },
        )
        .unwrap();
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }
}
