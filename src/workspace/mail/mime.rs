//! Reading messages as they come, hostile ones included: mail-parser, which never panics on
//! malformed MIME (a message it cannot make sense of is shown as what it could read), and
//! ammonia for HTML bodies, which keeps an allow-list of tags and attributes: no scripts, no
//! event handlers, no styles, no forms, and no remote images unless the reader asks for them
//! (which also removes tracking pixels).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mail_parser::{Address, Message, MessageParser, MimeHeaders as _};
use serde::Serialize;
use utoipa::ToSchema;

/// How long a listing's preview of the text is, in characters.
const PREVIEW_CHARS: usize = 200;

/// A person in a header.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Person {
    /// The display name, if the header has one.
    pub name: Option<String>,
    #[schema(example = "alice@acme.example")]
    pub address: String,
}

/// An attachment of a message, as listed.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AttachmentInfo {
    /// Its place among the message's attachments (`/attachments/{index}`).
    pub index: usize,
    pub filename: Option<String>,
    #[schema(example = "application/pdf")]
    pub content_type: String,
    /// Decoded, in bytes: exact for a part that is not encoded; for base64, what its encoded
    /// size decodes to in lines of the usual length; for quoted-printable, at most this.
    pub size: usize,
    /// The Content-ID an HTML body's `cid:` images name.
    pub content_id: Option<String>,
    /// Shown in the body rather than offered as a file.
    pub inline: bool,
}

/// What a listing shows of a message: from its header and the start of its body.
#[derive(Debug)]
pub struct Summary {
    pub from: Option<Person>,
    pub to: Vec<Person>,
    pub subject: Option<String>,
    pub date: Option<String>,
    pub has_attachments: bool,
    pub preview: String,
}

/// A message read whole.
#[derive(Debug)]
pub struct Detail {
    pub from: Option<Person>,
    pub to: Vec<Person>,
    pub cc: Vec<Person>,
    pub reply_to: Vec<Person>,
    pub subject: Option<String>,
    pub date: Option<String>,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub text: Option<String>,
    /// Sanitised.
    pub html: Option<String>,
    /// Whether remote images were taken out of `html`.
    pub remote_content_blocked: bool,
}

fn parse(raw: &[u8]) -> Option<Message<'_>> {
    MessageParser::default().parse(raw)
}

fn people(address: Option<&Address<'_>>) -> Vec<Person> {
    address
        .map(|a| {
            a.iter()
                .filter_map(|addr| {
                    Some(Person {
                        name: addr
                            .name()
                            .map(|n| n.trim().to_owned())
                            .filter(|n| !n.is_empty()),
                        address: addr.address()?.trim().to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A header's text with no control characters left (a hostile message's header can hold
/// anything, and a client may put it into its own headers or a terminal).
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// `type/subtype` in lower case if both are what a Content-Type header may carry as its type;
/// anything else becomes the neutral type, so that nothing from a message reaches a response
/// header unchecked.
pub(crate) fn header_safe_type(ty: &str, subtype: &str) -> String {
    let token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    if token(ty) && token(subtype) {
        format!("{ty}/{subtype}").to_ascii_lowercase()
    } else {
        "application/octet-stream".into()
    }
}

/// What a listing shows; `raw` may be only the start of the message.
pub fn summary(raw: &[u8]) -> Summary {
    let Some(message) = parse(raw) else {
        return Summary {
            from: None,
            to: Vec::new(),
            subject: None,
            date: None,
            has_attachments: false,
            preview: String::new(),
        };
    };
    let mixed = message.root_part().content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("mixed"))
    });
    Summary {
        from: people(message.from()).into_iter().next(),
        to: people(message.to()),
        subject: message.subject().map(clean),
        date: message.date().map(|d| d.to_rfc3339()),
        has_attachments: mixed || message.attachment_count() > 0,
        preview: message
            .body_preview(PREVIEW_CHARS)
            .map(|p| clean(&p))
            .unwrap_or_default(),
    }
}

fn ids(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    match value {
        mail_parser::HeaderValue::Text(id) => vec![clean(id)],
        mail_parser::HeaderValue::TextList(ids) => ids.iter().map(|id| clean(id)).collect(),
        _ => Vec::new(),
    }
}

/// A message read whole, its HTML sanitised; remote images kept only when `external`.
pub fn detail(raw: &[u8], external: bool) -> Detail {
    let Some(message) = parse(raw) else {
        return Detail {
            from: None,
            to: Vec::new(),
            cc: Vec::new(),
            reply_to: Vec::new(),
            subject: None,
            date: None,
            message_id: None,
            in_reply_to: None,
            references: Vec::new(),
            text: Some(String::from_utf8_lossy(raw).into_owned()),
            html: None,
            remote_content_blocked: false,
        };
    };
    let has_html = message.html_part(0).is_some_and(|p| p.is_text_html());
    let (html, remote_content_blocked) = match (has_html, message.body_html(0)) {
        (true, Some(html)) => {
            let (clean, blocked) = sanitise_html(&html, external);
            (Some(clean), blocked)
        }
        _ => (None, false),
    };
    Detail {
        from: people(message.from()).into_iter().next(),
        to: people(message.to()),
        cc: people(message.cc()),
        reply_to: people(message.reply_to()),
        subject: message.subject().map(clean),
        date: message.date().map(|d| d.to_rfc3339()),
        message_id: message.message_id().map(clean),
        in_reply_to: ids(message.in_reply_to()).into_iter().next(),
        references: ids(message.references()),
        text: message.body_text(0).map(|t| t.into_owned()),
        html,
        remote_content_blocked,
    }
}

fn is_remote(url: &str) -> bool {
    let url = url.trim_start().to_ascii_lowercase();
    url.starts_with("http:") || url.starts_with("https:") || url.starts_with("//")
}

/// The HTML with only what is safe to show kept, and whether remote images were taken out.
pub fn sanitise_html(html: &str, external: bool) -> (String, bool) {
    let blocked = Arc::new(AtomicBool::new(false));
    let seen = blocked.clone();
    let schemes: HashSet<&str> = ["http", "https", "mailto", "tel", "cid"].into();
    let cleaned = ammonia::Builder::default()
        .url_schemes(schemes)
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .attribute_filter(move |element, attribute, value| {
            let loads = matches!((element, attribute), ("img", "src"));
            if loads && is_remote(value) && !external {
                seen.store(true, Ordering::Relaxed);
                return None;
            }
            Some(value.into())
        })
        .clean(html)
        .to_string();
    (cleaned, blocked.load(Ordering::Relaxed))
}

/// The plain-text alternative of an HTML body someone wrote.
pub fn text_of_html(html: &str) -> String {
    mail_parser::decoders::html::html_to_text(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_remote_images_are_taken_out() {
        let html = r#"<p onclick="steal()">Hi <b>there</b><script>alert(1)</script>
            <img src="https://track.example/p.gif" width="1" height="1">
            <img src="cid:logo@acme">
            <a href="javascript:alert(1)">x</a><a href="https://acme.example/">y</a>
            <iframe src="https://evil.example/"></iframe><style>body{background:url(https://x/)}</style>
            <form action="https://evil.example/"><input name="password"></form></p>"#;
        let (clean, blocked) = sanitise_html(html, false);
        assert!(blocked);
        for gone in [
            "onclick",
            "<script",
            "alert",
            "track.example",
            "javascript:",
            "<iframe",
            "<style",
            "<form",
            "<input",
        ] {
            assert!(!clean.contains(gone), "{gone} in {clean}");
        }
        assert!(clean.contains("<b>there</b>"), "{clean}");
        assert!(clean.contains("cid:logo@acme"), "{clean}");
        assert!(clean.contains(r#"href="https://acme.example/""#), "{clean}");
        let (asked, blocked) = sanitise_html(html, true);
        assert!(!blocked);
        assert!(asked.contains("https://track.example/p.gif"), "{asked}");
        assert!(!asked.contains("<script"), "{asked}");
    }

    #[test]
    fn malformed_mime_is_read_as_far_as_it_goes() {
        for raw in [
            &b""[..],
            b"\x00\xff\xfe",
            b"Subject: =?UTF-8?B?broken\r\nContent-Type: multipart/mixed; boundary=\"\r\n\r\n--\r\n--",
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x--",
            b"From: <<<@@@>>>\r\nTo: ,,,,\r\nDate: yesterday-ish\r\n\r\nbody",
        ] {
            let _ = summary(raw);
            let d = detail(raw, false);
            assert!(d.html.is_none() || !d.html.unwrap().contains("<script"));
        }
    }

    #[test]
    fn a_listing_has_the_header_and_a_preview() {
        let raw = b"From: =?UTF-8?Q?J=C3=BCrgen?= <j@acme.example>\r\nTo: a@acme.example, b@acme.example\r\n\
            Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n\
            Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
            Hello\r\n   world\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF\r\n--b--\r\n";
        let s = summary(raw);
        assert_eq!(s.from.unwrap().name.as_deref(), Some("Jürgen"));
        assert_eq!(s.to.len(), 2);
        assert_eq!(s.subject.as_deref(), Some("Grüße"));
        assert_eq!(s.date.as_deref(), Some("2026-12-01T10:00:00Z"));
        assert!(s.has_attachments);
        assert!(s.preview.starts_with("Hello"), "{}", s.preview);
    }
}
