//! Writing a message; submitting it to Postfix as the user is `crate::smtp`'s.
//!
//! lettre writes the MIME: multipart/alternative with a plain-text part beside the HTML one,
//! attachments beside those in multipart/mixed, RFC 2047 encoded words for non-ASCII subjects and
//! display names, RFC 2231 for non-ASCII filenames, and a Message-ID and Date. Every header value
//! comes from a checked field (no CR or LF anywhere: see `routes::send`), and every address is
//! parsed by lettre, so nothing a client sends can add a header or a recipient.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use super::imap::MailError;
use crate::smtp::SubmitError;
pub use crate::smtp::Submitter;

const SMTP: &str = "smtp";

/// A message to write, every field checked.
pub struct Outgoing {
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub attachments: Vec<OutgoingAttachment>,
    /// The Message-ID of the message this answers, and its References.
    pub in_reply_to: Option<(String, Vec<String>)>,
}

pub struct OutgoingAttachment {
    pub filename: String,
    pub content_type: ContentType,
    pub bytes: Vec<u8>,
}

/// The message as MIME, and its Message-ID.
pub fn compose(outgoing: Outgoing) -> anyhow::Result<(Message, String)> {
    let domain = outgoing.from.email.domain().to_owned();
    let message_id = format!("<{}@{domain}>", uuid::Uuid::new_v4());
    let mut builder = Message::builder()
        .from(outgoing.from)
        .subject(outgoing.subject)
        .message_id(Some(message_id.clone()))
        .date_now();
    for to in outgoing.to {
        builder = builder.to(to);
    }
    for cc in outgoing.cc {
        builder = builder.cc(cc);
    }
    for bcc in outgoing.bcc {
        builder = builder.bcc(bcc);
    }
    if let Some((parent, mut references)) = outgoing.in_reply_to {
        references.push(parent.clone());
        builder = builder.in_reply_to(parent).references(references.join(" "));
    }
    let body = MultiPart::alternative_plain_html(outgoing.text, outgoing.html);
    let message = if outgoing.attachments.is_empty() {
        builder.multipart(body)?
    } else {
        let mixed = outgoing
            .attachments
            .into_iter()
            .fold(MultiPart::mixed().multipart(body), |mixed, a| {
                mixed.singlepart(attachment(a))
            });
        builder.multipart(mixed)?
    };
    Ok((message, message_id))
}

fn attachment(a: OutgoingAttachment) -> SinglePart {
    Attachment::new(a.filename).body(a.bytes, a.content_type)
}

/// A submission's failure in the mail area's terms; the NO answers (`No`) are the handler's
/// to read ("Recipient address rejected" is the client's to fix).
impl From<SubmitError> for MailError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Unreachable(message) => Self::Unreachable {
                service: SMTP,
                message,
            },
            SubmitError::Timeout => Self::Timeout { service: SMTP },
            SubmitError::LoginRefused(message) => Self::LoginRefused {
                service: SMTP,
                message,
            },
            SubmitError::Transient(message) | SubmitError::Permanent(message) => Self::No {
                service: SMTP,
                message,
            },
            SubmitError::Broken(message) => Self::Broken {
                service: SMTP,
                message,
            },
        }
    }
}
