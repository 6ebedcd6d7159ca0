//! The mails moto's SES has accepted, as a person would read them (`GET /_dev/mail`, tests).
//!
//! moto keeps what `SESv2` `SendEmail` sent under the **`ses`** key of `GET /moto-api/data.json`
//! (`SESv2` shares SES v1's backend; there is no `sesv2` key). Measured with moto 5.2.5:
//!
//! ```json
//! {"ses": {
//!    "RawMessage": [                       // Content.Raw sends, in send order
//!      {"id": "<the MessageId SendEmail returned>",
//!       "source": "termine@example.org",   // FromEmailAddress, else the From header's address
//!       "destinations": ["a@example.com", "Name <a@example.com>"],
//!       "raw_data": "From: …\r\n…"}        // the MIME message as sent, a string
//!    ],
//!    "Message": [                          // Content.Simple sends (not shown here)
//!      {"id", "source", "subject", "body", "destinations": {"ToAddresses": […]}}],
//!    "TemplateMessage": [], "BulkTemplateMessage": [],
//!    "EmailIdentity": [{"email_identity": "…", "verification_status": "SUCCESS", …}], …},
//!  "sqs": {…}, "events": {…}, …}
//! ```
//!
//! `destinations` of a raw send is the request's `Destination` addresses followed by the
//! To/Cc/Bcc header recipients (formatted `Name <addr>` when named), so an address given both
//! ways appears twice. moto records no send time: `sent_at` is the mail's own `Date` header.
//! Only raw sends are listed: they alone keep the whole MIME message (the mailer sends raw
//! MIME), and simple sends sit in another list whose order against this one is lost.

use anyhow::{Context as _, Result};
use mail_parser::{HeaderValue, MessageParser, MimeHeaders as _, PartType};
use serde::{Deserialize, Serialize};

/// One mail as sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DevMail {
    /// The `MessageId` SES returned for the send.
    pub id: String,
    /// Recipient addresses (bare, deduplicated, in order).
    pub to: Vec<String>,
    pub subject: String,
    /// The `text/plain` body; empty when the mail has none.
    pub text: String,
    /// The `text/html` body; empty when the mail has none.
    pub html: String,
    /// Absolute http(s) URLs in the text body, then `href`s of the html body; deduplicated.
    pub links: Vec<String>,
    /// The `Date` header as RFC 3339; empty without one.
    pub sent_at: String,
    /// File names of the attachments (`""` for an unnamed one).
    pub attachments: Vec<String>,
    /// The attachments themselves, in the same order (for `/_dev/mail/{index}/attachment/{n}`;
    /// not in the JSON).
    #[serde(skip)]
    pub attachment_parts: Vec<DevAttachment>,
    /// The top-level headers in order, unfolded: decoded where the header is text, else the
    /// value as written.
    pub headers: Vec<(String, String)>,
}

/// One attachment as sent: its name, its type and its decoded bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevAttachment {
    /// The file name (`""` for an unnamed one).
    pub name: String,
    /// `type/subtype` as the part declares it, lower case; `application/octet-stream` without one.
    pub content_type: String,
    /// The body after transfer decoding (text parts in UTF-8).
    pub bytes: Vec<u8>,
}

impl DevAttachment {
    /// Whether a person can read it as text: `text/*` (a calendar file, say).
    #[must_use]
    pub fn is_text(&self) -> bool {
        self.content_type.starts_with("text/")
    }

    /// The `Content-Type` to serve it with: text in UTF-8, as the parser decoded it.
    #[must_use]
    pub fn content_type_header(&self) -> String {
        if self.is_text() {
            format!("{}; charset=utf-8", self.content_type)
        } else {
            self.content_type.clone()
        }
    }
}

#[derive(Deserialize)]
struct MotoData {
    #[serde(default)]
    ses: MotoSes,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MotoSes {
    #[serde(default)]
    raw_message: Vec<MotoRawMessage>,
}

#[derive(Deserialize)]
struct MotoRawMessage {
    id: String,
    #[serde(default)]
    destinations: Vec<String>,
    raw_data: String,
}

/// Every mail sent through moto's SES so far, oldest first. Give it a client built with
/// `.no_proxy()`: a proxy from the environment cannot reach moto's loopback port.
///
/// # Errors
/// When moto does not answer or its `data.json` is not shaped as described in the module docs.
pub async fn sent_mails(http: &reqwest::Client, moto_endpoint: &str) -> Result<Vec<DevMail>> {
    let url = format!("{}/moto-api/data.json", moto_endpoint.trim_end_matches('/'));
    // moto checks each model attribute for JSON first and dumps them all afterwards; a model
    // another client changes in between (a rule added to a bus, say) makes the dump fail with a
    // 500. That is a race in moto, not a state: read again.
    let mut attempt = 0u64;
    let response = loop {
        attempt += 1;
        let result = http.get(&url).send().await;
        match result {
            Ok(r) if r.status().is_server_error() && attempt < 6 => {
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
            other => break other,
        }
    };
    let data: MotoData = response
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("reading {url}"))?
        .json()
        .await
        .with_context(|| format!("parsing {url}"))?;
    Ok(data
        .ses
        .raw_message
        .iter()
        .map(|m| parse_mail(&m.id, &m.destinations, &m.raw_data))
        .collect())
}

/// A raw MIME mail as a [`DevMail`]. A mail that does not parse still appears, with its id and
/// recipients, so that it is seen rather than silently missing.
fn parse_mail(id: &str, destinations: &[String], raw: &str) -> DevMail {
    let mut to: Vec<String> = Vec::new();
    for address in destinations.iter().map(|d| bare_address(d)) {
        if !to.iter().any(|seen| seen.eq_ignore_ascii_case(address)) {
            to.push(address.to_owned());
        }
    }
    let mut mail = DevMail {
        id: id.to_owned(),
        to,
        subject: String::new(),
        text: String::new(),
        html: String::new(),
        links: Vec::new(),
        sent_at: String::new(),
        attachments: Vec::new(),
        attachment_parts: Vec::new(),
        headers: Vec::new(),
    };
    let Some(message) = MessageParser::default().parse(raw.as_bytes()) else {
        return mail;
    };
    // Not body_text/body_html: they convert html to text and back when a part is missing.
    mail.text = message
        .text_bodies()
        .find_map(|part| match &part.body {
            PartType::Text(text) => Some(text.to_string()),
            _ => None,
        })
        .unwrap_or_default();
    mail.html = message
        .html_bodies()
        .find_map(|part| match &part.body {
            PartType::Html(html) => Some(html.to_string()),
            _ => None,
        })
        .unwrap_or_default();
    message
        .subject()
        .unwrap_or_default()
        .clone_into(&mut mail.subject);
    mail.sent_at = message
        .date()
        .map(mail_parser::DateTime::to_rfc3339)
        .unwrap_or_default();
    mail.attachment_parts = message
        .attachments()
        .map(|part| DevAttachment {
            name: part.attachment_name().unwrap_or_default().to_owned(),
            content_type: part
                .content_type()
                .map_or_else(
                    || "application/octet-stream".to_owned(),
                    |ct| match ct.subtype() {
                        Some(sub) => format!("{}/{sub}", ct.ctype()),
                        None => ct.ctype().to_owned(),
                    },
                )
                .to_ascii_lowercase(),
            bytes: part.contents().to_vec(),
        })
        .collect();
    mail.attachments = mail
        .attachment_parts
        .iter()
        .map(|a| a.name.clone())
        .collect();
    let raw_bytes = message.raw_message();
    mail.headers = message
        .headers()
        .iter()
        .map(|header| {
            let value = match &header.value {
                HeaderValue::Text(text) => unfold(text),
                HeaderValue::TextList(list) => unfold(&list.join(", ")),
                _ => {
                    let (start, end) = (header.offset_start as usize, header.offset_end as usize);
                    unfold(&String::from_utf8_lossy(
                        raw_bytes.get(start..end).unwrap_or_default(),
                    ))
                }
            };
            (header.name.as_str().to_owned(), value)
        })
        .collect();
    mail.links = links(&mail.text, &mail.html);
    mail
}

/// `Name <a@b>` → `a@b`; a bare address stays as it is.
fn bare_address(address: &str) -> &str {
    let address = address.trim();
    match (address.rfind('<'), address.ends_with('>')) {
        (Some(open), true) => &address[open + 1..address.len() - 1],
        _ => address,
    }
}

/// RFC 5322 unfolding: line breaks go, the whitespace after them stays.
fn unfold(value: &str) -> String {
    value.replace(['\r', '\n'], "").trim().to_owned()
}

/// Absolute http(s) URLs in `text`, then `href` values in `html`, each once, in order.
fn links(text: &str, html: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut add = |url: String| {
        if !found.contains(&url) {
            found.push(url);
        }
    };
    for url in urls_in_text(text) {
        add(url.to_owned());
    }
    for href in hrefs(html) {
        add(href);
    }
    found
}

fn is_http_url(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    (lower.starts_with("http://") && s.len() > 7) || (lower.starts_with("https://") && s.len() > 8)
}

/// URLs in plain text end at whitespace or at a character that cannot be in one unescaped
/// (`<>"'`…); a trailing `.`, `,`, `;`, `:`, `!`, `?` or `)` is taken as punctuation.
fn urls_in_text(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("http") {
        let start = from + found;
        let candidate = &text[start..];
        let end = candidate
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(
                        c,
                        '<' | '>' | '"' | '\'' | '`' | '[' | ']' | '{' | '}' | '|' | '\\' | '^'
                    )
            })
            .unwrap_or(candidate.len());
        // "http" is ASCII and holds no stop character, so `end` >= 4 and on a char boundary.
        from = start + end.max(4);
        // "xhttp://…" is a word, not a link.
        let in_word = text[..start]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric);
        let url = candidate[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
        if !in_word && is_http_url(url) {
            out.push(url);
        }
    }
    out
}

/// `href` attribute values of absolute http(s) links, entity-decoded.
fn hrefs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("href") {
        let mut i = from + found + 4;
        from = i;
        let bytes = lower.as_bytes();
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let value = match bytes.get(i) {
            Some(&quote @ (b'"' | b'\'')) => {
                let start = i + 1;
                let Some(len) = lower[start..].find(char::from(quote)) else {
                    break;
                };
                &html[start..start + len]
            }
            Some(_) => {
                let len = lower[i..]
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .unwrap_or(lower.len() - i);
                &html[i..i + len]
            }
            None => break,
        };
        let value = decode_entities(value.trim());
        if is_http_url(&value) {
            out.push(value);
        }
    }
    out
}

/// The entities an `href` may carry; others stay as written.
fn decode_entities(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&#x3D;", "=")
        .replace("&#61;", "=")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &str = "From: Terminagent <termine@example.org>\r\n\
        To: Erika Mustermann <erika@example.com>\r\n\
        Subject: =?utf-8?Q?Ihr_Terminangebot_f=C3=BCr_Montag?=\r\n\
        Date: Fri, 20 Nov 2026 23:25:00 +0100\r\n\
        Message-ID: <abc@example.org>\r\n\
        X-Long: first\r\n  second\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
        \r\n\
        --outer\r\n\
        Content-Type: multipart/alternative; boundary=\"inner\"\r\n\
        \r\n\
        --inner\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\
        \r\n\
        Annehmen: https://t.example/o/tok1/accept.\r\n\
        Ablehnen (https://t.example/o/tok1/decline), oder <https://t.example/o/tok1>\r\n\
        Nochmal https://t.example/o/tok1/accept und f=C3=BCr xhttps://no.example\r\n\
        --inner\r\n\
        Content-Type: text/html; charset=utf-8\r\n\
        \r\n\
        <p><a href=\"https://t.example/o/tok1/accept\">Annehmen</a>\r\n\
        <a HREF='https://t.example/w/tok2?a=1&amp;b=2'>Wunsch</a> <a href=\"mailto:x@y\">m</a>\r\n\
        <a href=/relative>r</a></p>\r\n\
        --inner--\r\n\
        --outer\r\n\
        Content-Type: text/calendar; name=\"termin.ics\"\r\n\
        Content-Disposition: attachment; filename=\"termin.ics\"\r\n\
        \r\n\
        BEGIN:VCALENDAR\r\n\
        END:VCALENDAR\r\n\
        --outer--\r\n";

    #[test]
    fn a_multipart_mail_is_read_as_a_person_sees_it() {
        let destinations = [
            "erika@example.com".to_owned(),
            "Erika Mustermann <erika@example.com>".to_owned(),
        ];
        let mail = parse_mail("m1", &destinations, MAIL);
        assert_eq!(mail.id, "m1");
        assert_eq!(mail.to, ["erika@example.com"]);
        assert_eq!(mail.subject, "Ihr Terminangebot für Montag");
        assert!(mail.text.contains("und für"), "{}", mail.text);
        assert!(mail.html.starts_with("<p><a href="), "{}", mail.html);
        assert_eq!(mail.sent_at, "2026-11-20T23:25:00+01:00");
        assert_eq!(mail.attachments, ["termin.ics"]);
        let ics = &mail.attachment_parts[0];
        assert_eq!(ics.name, "termin.ics");
        assert_eq!(ics.content_type, "text/calendar");
        assert_eq!(ics.content_type_header(), "text/calendar; charset=utf-8");
        assert!(ics.is_text());
        assert_eq!(
            String::from_utf8_lossy(&ics.bytes).trim_end(),
            "BEGIN:VCALENDAR\r\nEND:VCALENDAR"
        );
        assert_eq!(
            mail.links,
            [
                "https://t.example/o/tok1/accept",
                "https://t.example/o/tok1/decline",
                "https://t.example/o/tok1",
                "https://t.example/w/tok2?a=1&b=2",
            ]
        );
        let header = |name: &str| {
            mail.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("Subject"), Some("Ihr Terminangebot für Montag"));
        assert_eq!(header("To"), Some("Erika Mustermann <erika@example.com>"));
        assert_eq!(header("X-Long"), Some("first  second"));
    }

    #[test]
    fn a_text_only_mail_has_no_html_and_an_html_only_mail_no_text() {
        let text_only = parse_mail(
            "a",
            &[],
            "Subject: s\r\n\r\nsee http://localhost:3000/w/x\r\n",
        );
        assert_eq!(text_only.html, "");
        assert_eq!(text_only.links, ["http://localhost:3000/w/x"]);

        let html_only = parse_mail(
            "b",
            &[],
            "Subject: s\r\nContent-Type: text/html\r\n\r\n<a href=\"https://x.example/\">x</a>\r\n",
        );
        assert_eq!(html_only.text, "");
        assert_eq!(html_only.links, ["https://x.example/"]);
    }

    #[test]
    fn a_binary_attachment_keeps_its_type_and_decoded_bytes() {
        let raw = "Subject: s\r\n\
            MIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=\"b\"\r\n\
            \r\n\
            --b\r\n\
            Content-Type: text/plain\r\n\
            \r\n\
            hi\r\n\
            --b\r\n\
            Content-Type: Application/PDF\r\n\
            Content-Disposition: attachment; filename=\"a.pdf\"\r\n\
            Content-Transfer-Encoding: base64\r\n\
            \r\n\
            JVBERi0xLjQK/w==\r\n\
            --b--\r\n";
        let mail = parse_mail("p", &[], raw);
        let pdf = &mail.attachment_parts[0];
        assert_eq!(
            (pdf.name.as_str(), pdf.content_type.as_str()),
            ("a.pdf", "application/pdf")
        );
        assert_eq!(pdf.bytes, b"%PDF-1.4\n\xff");
        assert!(!pdf.is_text());
        assert_eq!(pdf.content_type_header(), "application/pdf");
    }

    #[test]
    fn a_mail_that_does_not_parse_still_shows_its_id_and_recipients() {
        let mail = parse_mail("c", &["a@example.com".to_owned()], "");
        assert_eq!(mail.id, "c");
        assert_eq!(mail.to, ["a@example.com"]);
    }
}
