//! A message's attachments as IMAP's BODYSTRUCTURE describes them (RFC 3501 §7.4.2): which
//! parts they are, where (the part's section, `2`, `1.3`, …), how each is encoded and how large
//! it is, learnt without reading the message itself. Both the listing of a message and the
//! download of one attachment number the attachments from here, so `/attachments/{n}` is the
//! `n`th of the list whatever the size of the message.
//!
//! Which parts are attachments follows mail-parser, which reads the bodies: RFC 8621 §4.1.4's
//! `parseStructure`, with mail-parser's own choices (a text part that is no body is an
//! attachment, as is every image, audio or video part, inline or not).

use async_imap::imap_proto::types::{BodyParams, BodyStructure, ContentEncoding};
use mail_parser::{MessageParser, MimeHeaders as _};

use super::mime::{clean, AttachmentInfo};

/// How a part's bytes are written in the message (RFC 2045 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferEncoding {
    /// 7bit, 8bit, binary, or one nobody knows: the bytes are the content.
    Identity,
    Base64,
    QuotedPrintable,
}

/// One attachment of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Its section, as `BODY[…]` names it.
    pub section: String,
    pub filename: Option<String>,
    /// `type/subtype`, only characters a header may carry.
    pub content_type: String,
    pub encoding: TransferEncoding,
    /// Its size as written in the message, encoded.
    pub octets: u32,
    pub content_id: Option<String>,
    pub inline: bool,
}

impl Part {
    /// Its size once decoded, when that is known exactly without reading it.
    pub fn exact_size(&self) -> Option<u64> {
        (self.encoding == TransferEncoding::Identity).then_some(u64::from(self.octets))
    }

    /// Its size once decoded: exact when it is not encoded; for base64, what lines of 76
    /// characters (RFC 2045 §6.8) decode to; for quoted-printable, the encoded size (at most
    /// that).
    pub fn decoded_size(&self) -> u64 {
        let octets = u64::from(self.octets);
        match self.encoding {
            TransferEncoding::Base64 => {
                let line_breaks = octets.div_ceil(78) * 2;
                octets.saturating_sub(line_breaks) / 4 * 3
            }
            TransferEncoding::Identity | TransferEncoding::QuotedPrintable => octets,
        }
    }

    /// As a message's listing shows it.
    pub fn info(&self, index: usize) -> AttachmentInfo {
        AttachmentInfo {
            index,
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            size: usize::try_from(self.decoded_size()).unwrap_or(usize::MAX),
            content_id: self.content_id.clone(),
            inline: self.inline,
        }
    }
}

/// What a part is, as mail-parser tells bodies from attachments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    TextPlain,
    TextHtml,
    TextOther,
    /// image, audio, video: shown in a body, and still an attachment.
    Media,
    Message,
    Other,
}

/// The multipart a part is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parent {
    /// The message itself (a message of one part).
    Message,
    Alternative,
    Related,
    Other,
}

struct Level {
    parent: Parent,
    in_alternative: bool,
    need_html: bool,
    need_text: bool,
}

/// The attachments of a message whose BODYSTRUCTURE is `body`, in order.
pub fn attachments(body: &BodyStructure<'_>) -> Vec<Part> {
    let mut found = Vec::new();
    let mut top = Level {
        parent: Parent::Message,
        in_alternative: false,
        need_html: true,
        need_text: true,
    };
    walk(body, &[1], 1, &mut top, &mut found);
    found
}

fn walk(
    body: &BodyStructure<'_>,
    at: &[u32],
    position: usize,
    level: &mut Level,
    out: &mut Vec<Part>,
) {
    let (common, single) = match body {
        BodyStructure::Multipart { common, bodies, .. } => {
            let parent = match common.ty.subtype.to_ascii_lowercase().as_str() {
                "alternative" => Parent::Alternative,
                "related" => Parent::Related,
                _ => Parent::Other,
            };
            let mut inner = Level {
                parent,
                in_alternative: level.in_alternative || parent == Parent::Alternative,
                need_html: level.need_html,
                need_text: level.need_text,
            };
            // A multipart's parts are numbered from its own section; the message's own
            // multipart has none (its parts are 1, 2, …).
            let base = if level.parent == Parent::Message && at == [1] {
                &[][..]
            } else {
                at
            };
            for (i, inner_body) in bodies.iter().enumerate() {
                let mut section = base.to_vec();
                section.push(u32::try_from(i + 1).unwrap_or(u32::MAX));
                walk(inner_body, &section, i + 1, &mut inner, out);
            }
            return;
        }
        BodyStructure::Message { common, other, .. } => {
            let inline = common
                .disposition
                .as_ref()
                .is_some_and(|d| d.ty.eq_ignore_ascii_case("inline"));
            out.push(part(at, common, other, inline));
            return;
        }
        BodyStructure::Basic { common, other, .. } | BodyStructure::Text { common, other, .. } => {
            (common, other)
        }
    };
    let kind = match (
        common.ty.ty.to_ascii_lowercase().as_str(),
        common.ty.subtype.to_ascii_lowercase().as_str(),
    ) {
        ("text", "plain") => Kind::TextPlain,
        ("text", "html") => Kind::TextHtml,
        ("text", _) => Kind::TextOther,
        ("image" | "audio" | "video", _) => Kind::Media,
        ("message", "rfc822" | "global") => Kind::Message,
        _ => Kind::Other,
    };
    let disposed_as_attachment = common
        .disposition
        .as_ref()
        .is_some_and(|d| d.ty.eq_ignore_ascii_case("attachment"));
    let named = param(&common.ty.params, "name");
    let inline = matches!(kind, Kind::TextPlain | Kind::TextHtml | Kind::Media)
        && !disposed_as_attachment
        && (position == 1 || level.parent != Parent::Related && (kind == Kind::Media || !named));
    let (to_html, to_text) = if level.parent == Parent::Alternative {
        (kind == Kind::TextHtml, kind == Kind::TextPlain)
    } else if inline {
        if level.in_alternative && (level.need_text || level.need_html) {
            match kind {
                Kind::TextHtml => level.need_text = false,
                Kind::TextPlain => level.need_html = false,
                _ => {}
            }
        }
        (level.need_html, level.need_text)
    } else {
        (false, false)
    };
    let is_attachment = match kind {
        Kind::TextHtml => !to_html,
        Kind::TextPlain | Kind::TextOther => !to_text,
        Kind::Media | Kind::Message | Kind::Other => true,
    };
    if is_attachment {
        let shown_inline = kind == Kind::Media && inline
            || common
                .disposition
                .as_ref()
                .is_some_and(|d| d.ty.eq_ignore_ascii_case("inline"));
        out.push(part(at, common, single, shown_inline));
    }
}

/// Whether `params` has `name`, plainly or in RFC 2231's pieces (`name*`, `name*0*`, …).
fn param(params: &BodyParams<'_>, name: &str) -> bool {
    params.iter().flatten().any(|(key, _)| {
        key.eq_ignore_ascii_case(name)
            || key
                .get(..name.len() + 1)
                .is_some_and(|start| start.eq_ignore_ascii_case(&format!("{name}*")))
    })
}

fn part(
    at: &[u32],
    common: &async_imap::imap_proto::types::BodyContentCommon<'_>,
    single: &async_imap::imap_proto::types::BodyContentSinglePart<'_>,
    inline: bool,
) -> Part {
    let encoding = match &single.transfer_encoding {
        ContentEncoding::Base64 => TransferEncoding::Base64,
        ContentEncoding::QuotedPrintable => TransferEncoding::QuotedPrintable,
        ContentEncoding::Other(other) if other.eq_ignore_ascii_case("base64") => {
            TransferEncoding::Base64
        }
        ContentEncoding::Other(other) if other.eq_ignore_ascii_case("quoted-printable") => {
            TransferEncoding::QuotedPrintable
        }
        _ => TransferEncoding::Identity,
    };
    Part {
        section: at.iter().map(u32::to_string).collect::<Vec<_>>().join("."),
        filename: filename(common),
        content_type: super::mime::header_safe_type(&common.ty.ty, &common.ty.subtype),
        encoding,
        octets: single.octets,
        content_id: single
            .id
            .as_deref()
            .map(|id| clean(&unquote(id)))
            .filter(|id| !id.is_empty()),
        inline,
    }
}

/// The part's file name as mail-parser reads it from the part's own header (RFC 2231's
/// pieces and charsets, RFC 2047's encoded words): its Content-Type and Content-Disposition
/// written again from BODYSTRUCTURE's parameters, and read.
fn filename(common: &async_imap::imap_proto::types::BodyContentCommon<'_>) -> Option<String> {
    let mut header = format!(
        "Content-Type: {}/{}{}\r\n",
        token_or_x(&common.ty.ty),
        token_or_x(&common.ty.subtype),
        params(&common.ty.params)
    );
    if let Some(disposition) = &common.disposition {
        header.push_str(&format!(
            "Content-Disposition: {}{}\r\n",
            token_or_x(&disposition.ty),
            params(&disposition.params)
        ));
    }
    header.push_str("\r\n");
    let parsed = MessageParser::default().parse_headers(header.as_bytes())?;
    parsed
        .attachment_name()
        .map(clean)
        .filter(|name| !name.is_empty())
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

fn token_or_x(s: &str) -> &str {
    if is_token(s) {
        s
    } else {
        "x-invalid"
    }
}

/// `; key=value` for each parameter, quoted where it must be; a value a quoted string cannot
/// carry as it is (mail-parser keeps a backslash escape as written) in RFC 2231's
/// percent-encoded UTF-8; a parameter that cannot be written into a header line (a line break
/// in it) is left out.
fn params(params: &BodyParams<'_>) -> String {
    let mut out = String::new();
    for (key, value) in params.iter().flatten() {
        let value = &unquote(value);
        if !is_token(key) || value.chars().any(|c| c == '\r' || c == '\n') {
            continue;
        }
        if is_token(value) {
            out.push_str(&format!("; {key}={value}"));
        } else if !value.contains(['"', '\\']) {
            out.push_str(&format!("; {key}=\"{value}\""));
        } else if !key.contains('*') {
            let encoded =
                percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC);
            out.push_str(&format!("; {key}*=utf-8''{encoded}"));
        }
    }
    out
}

/// A string of an IMAP answer as it was meant: imap-proto hands quoted strings over with their
/// backslash escapes (RFC 3501 §9, `quoted-specials`) as written.
fn unquote(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some(next @ ('"' | '\\'))) => {
                out.push(next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use async_imap::imap_proto::types::{AttributeValue, Response};

    use super::*;

    /// The attachments of the BODYSTRUCTURE in a FETCH answer as a server writes it.
    fn attachments_of(fetch: &str) -> Vec<Part> {
        let line = format!("* 1 FETCH (UID 7 BODYSTRUCTURE {fetch})\r\n");
        let (_, response) =
            async_imap::imap_proto::parser::parse_response(line.as_bytes()).unwrap();
        let Response::Fetch(_, attributes) = response else {
            panic!("not a FETCH: {response:?}");
        };
        attributes
            .iter()
            .find_map(|a| match a {
                AttributeValue::BodyStructure(body) => Some(attachments(body)),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn bodies_are_not_attachments_and_files_are_numbered_in_order() {
        // As Dovecot describes a message lettre made: text and HTML alternatives, an HTML part
        // related to an inline logo, a PDF with an RFC 2231 name, and a forwarded message.
        let parts = attachments_of(
            r#"((("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 12 1 NIL NIL NIL NIL)(("text" "html" ("charset" "utf-8") NIL NIL "7bit" 30 1 NIL NIL NIL NIL)("image" "png" ("name" "logo.png") "<logo@acme>" NIL "base64" 780 NIL ("inline" NIL) NIL NIL) "related" ("boundary" "r") NIL NIL NIL) "alternative" ("boundary" "a") NIL NIL NIL)("application" "pdf" NIL NIL NIL "base64" 1560 NIL ("attachment" ("filename*" "utf-8''Angebot%20f%C3%BCr%20M%C3%BCller.pdf")) NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 100 ("Tue, 1 Dec 2026 10:00:00 +0000" "fwd" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 1 NIL NIL NIL NIL) 5 NIL NIL NIL NIL) "mixed" ("boundary" "m") NIL NIL NIL)"#,
        );
        let summary: Vec<(&str, Option<&str>, &str, TransferEncoding, bool)> = parts
            .iter()
            .map(|p| {
                (
                    p.section.as_str(),
                    p.filename.as_deref(),
                    p.content_type.as_str(),
                    p.encoding,
                    p.inline,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "1.2.2",
                    Some("logo.png"),
                    "image/png",
                    TransferEncoding::Base64,
                    true
                ),
                (
                    "2",
                    Some("Angebot für Müller.pdf"),
                    "application/pdf",
                    TransferEncoding::Base64,
                    false
                ),
                (
                    "3",
                    None,
                    "message/rfc822",
                    TransferEncoding::Identity,
                    false
                ),
            ]
        );
        assert_eq!(parts[0].content_id.as_deref(), Some("<logo@acme>"));
        // 1560 octets of 76-character lines: 20 lines of 57 bytes.
        assert_eq!(parts[1].decoded_size(), 1140);
        assert_eq!(parts[1].exact_size(), None);
        assert_eq!(parts[2].exact_size(), Some(100));
    }

    #[test]
    fn a_message_of_one_part_is_its_body_unless_it_is_a_file() {
        let text = attachments_of(
            r#"("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 12 1 NIL NIL NIL NIL)"#,
        );
        assert_eq!(text, vec![]);
        let file = attachments_of(
            r#"("application" "octet-stream" ("name" "=?UTF-8?B?R3LDvMOfZS5iaW4=?=") NIL NIL "base64" 100 NIL NIL NIL NIL)"#,
        );
        assert_eq!(file.len(), 1);
        assert_eq!(file[0].section, "1");
        assert_eq!(file[0].filename.as_deref(), Some("Grüße.bin"));
    }

    #[test]
    fn hostile_parameters_never_reach_a_header() {
        let parts = attachments_of(
            r#"(("text" "plain" NIL NIL NIL "7bit" 1 1 NIL NIL NIL NIL)("applic\"ation" "x y" ("name" "a\"b\\c;d.txt" "evil" "x; Bcc: e@x") NIL NIL "8bit" 5 NIL ("attachment" ("filename" "weird name\".txt")) NIL NIL) "mixed" ("boundary" "m") NIL NIL NIL)"#,
        );
        assert_eq!(parts.len(), 1, "{parts:?}");
        assert_eq!(parts[0].content_type, "application/octet-stream");
        assert_eq!(parts[0].filename.as_deref(), Some("weird name\".txt"));
        assert_eq!(parts[0].exact_size(), Some(5));
    }
}
