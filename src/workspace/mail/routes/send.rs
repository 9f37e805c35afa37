//! Sending: a message written from checked fields, submitted as the user, a copy in Sent.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use base64::Engine as _;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{folder, message_id};
use crate::http::AppState;
use crate::workspace::mail::ids::MessageId;
use crate::workspace::mail::imap::ops::{self, SpecialUse};
use crate::workspace::mail::imap::MailError;
use crate::workspace::mail::smtp::{self, Outgoing, OutgoingAttachment};
use crate::workspace::mail::{mail_failed, mime, MailService};
use crate::workspace::{ApiError, ApiErrorBody, Caller, Mail, ValidJson};

/// At most this many recipients in all (Mailcow's Postfix takes 1000 per message; a person
/// writing through the workspace does not need more).
const MAX_RECIPIENTS: usize = 100;
const MAX_ATTACHMENTS: usize = 50;
const MAX_SUBJECT_CHARS: usize = 998;

/// A message to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// Addresses, `alice@acme.example` or `Alice <alice@acme.example>`.
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    /// Not shown to the other recipients.
    #[serde(default)]
    pub bcc: Vec<String>,
    pub subject: String,
    /// The HTML body.
    pub body: String,
    /// The plain-text body; made from the HTML one when not given.
    pub text: Option<String>,
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
    /// The id of the message this answers (from a listing), or its Message-ID (`<…>`).
    pub in_reply_to: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAttachment {
    pub filename: String,
    #[schema(example = "application/pdf")]
    pub content_type: String,
    /// The content, base64 (standard alphabet, padded).
    pub content_base64: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Sent {
    /// The Message-ID the message was sent with.
    pub message_id: String,
    /// Whether the copy in Sent was stored (the message went out either way).
    pub saved_to_sent: bool,
}

/// A header field's text: no CR or LF (which would end the header and start another).
fn one_line<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    if value.contains(['\r', '\n']) {
        return Err(ApiError::invalid(
            field,
            "must not contain line breaks (CR or LF)",
        ));
    }
    Ok(value)
}

fn mailboxes(field: &str, raw: &[String]) -> Result<Vec<Mailbox>, ApiError> {
    raw.iter()
        .enumerate()
        .map(|(i, address)| {
            let field = format!("{field}[{i}]");
            one_line(&field, address)?
                .trim()
                .parse::<Mailbox>()
                .map_err(|e| ApiError::invalid(&field, format!("not an email address: {e}")))
        })
        .collect()
}

fn attachments(
    raw: Vec<NewAttachment>,
    budget: &mut u64,
) -> Result<Vec<OutgoingAttachment>, ApiError> {
    if raw.len() > MAX_ATTACHMENTS {
        return Err(ApiError::invalid(
            "attachments",
            format!("at most {MAX_ATTACHMENTS}"),
        ));
    }
    raw.into_iter()
        .enumerate()
        .map(|(i, a)| {
            let field = |name: &str| format!("attachments[{i}].{name}");
            let filename = one_line(&field("filename"), a.filename.trim())?.to_owned();
            if filename.is_empty() || filename.chars().any(char::is_control) {
                return Err(ApiError::invalid(field("filename"), "must be a file name"));
            }
            let content_type =
                ContentType::parse(one_line(&field("content_type"), &a.content_type)?)
                    .map_err(|_| ApiError::invalid(field("content_type"), "not a media type"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(a.content_base64.trim())
                .map_err(|_| ApiError::invalid(field("content_base64"), "not base64"))?;
            *budget = budget
                .checked_sub(bytes.len() as u64)
                .ok_or(ApiError::BodyTooLarge)?;
            Ok(OutgoingAttachment {
                filename,
                content_type,
                bytes,
            })
        })
        .collect()
}

/// Sends a message as the caller, from their mailbox, and stores a copy in their Sent folder.
#[utoipa::path(
    post, path = "/send", tag = "mail",
    security(("bearer" = ["mail"]), ("oauth2" = ["mail"])),
    request_body = NewMessage,
    responses(
        (status = 201, description = "Submitted", body = Sent),
        (status = 413, description = "Larger than max_message_mib", body = ApiErrorBody),
        (status = 422, description = "A bad address or field (line breaks in a header field, …), or a recipient the server refuses", body = ApiErrorBody),
        (status = 502, description = "The mail server refused or failed", body = ApiErrorBody),
        (status = 503, description = "The mail server cannot be reached", body = ApiErrorBody),
    )
)]
pub(super) async fn send(
    caller: Caller<Mail>,
    State(state): State<AppState>,
    Extension(mail): Extension<Arc<MailService>>,
    ValidJson(new): ValidJson<NewMessage>,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    let subject = one_line("subject", &new.subject)?.to_owned();
    if subject.chars().count() > MAX_SUBJECT_CHARS || subject.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "subject",
            "must be one line of at most 998 characters",
        ));
    }
    let to = mailboxes("to", &new.to)?;
    let cc = mailboxes("cc", &new.cc)?;
    let bcc = mailboxes("bcc", &new.bcc)?;
    let recipients = to.len() + cc.len() + bcc.len();
    if recipients == 0 {
        return Err(ApiError::invalid(
            "to",
            "name at least one recipient (to, cc or bcc)",
        ));
    }
    if recipients > MAX_RECIPIENTS {
        return Err(ApiError::invalid(
            "to",
            format!("at most {MAX_RECIPIENTS} recipients in all"),
        ));
    }
    let in_reply_to = match new.in_reply_to.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) => Some(one_line("in_reply_to", id)?.to_owned()),
    };
    let mut budget = mail.max_message_bytes;
    for body in [Some(&new.body), new.text.as_ref()].into_iter().flatten() {
        budget = budget
            .checked_sub(body.len() as u64)
            .ok_or(ApiError::BodyTooLarge)?;
    }
    let attachments = attachments(new.attachments, &mut budget)?;

    let address = mail.address_of(&state, &caller.user).await?;
    let from = Mailbox::new(
        Some(caller.user.name.clone())
            .filter(|n| !n.trim().is_empty() && !n.contains(['\r', '\n'])),
        address
            .parse()
            .map_err(|_| ApiError::Forbidden("your account has no mailbox address to send from"))?,
    );
    let in_reply_to = match in_reply_to {
        Some(id) => Some(parent(&mail, &address, &id).await?),
        None => None,
    };
    let text = new.text.unwrap_or_else(|| mime::text_of_html(&new.body));
    let (message, message_id) = smtp::compose(Outgoing {
        from,
        to,
        cc,
        bcc,
        subject,
        html: new.body,
        text,
        attachments,
        in_reply_to: in_reply_to
            .as_ref()
            .map(|p| (p.message_id.clone(), p.references.clone())),
    })
    .map_err(|e| ApiError::invalid("body", e.to_string()))?;
    mail.submitter
        .submit(&address, &message)
        .await
        .map_err(MailError::from)
        .map_err(|e| match e {
            // Postfix refuses a recipient it knows cannot receive (no such mailbox of a local
            // domain) at RCPT, before anything is sent to anyone: the client's to fix.
            MailError::No { message, .. } if message.contains("Recipient address rejected") => {
                ApiError::invalid("to", format!("a recipient was refused: {message}"))
            }
            MailError::No { message, .. } => {
                tracing::warn!(%message, "the submission server refused the message");
                ApiError::BadGateway { service: "smtp" }
            }
            other => mail_failed(other),
        })?;

    // The message is out; what follows only keeps a copy and marks the answered one.
    let raw = message.formatted();
    let stored = mail
        .imap(&address, |s| {
            Box::pin(async move {
                if let Some(parent) = in_reply_to.and_then(|p| p.id) {
                    if let Ok(imap_name) = folder("in_reply_to", &parent.folder) {
                        if ops::open_as_of(s, &imap_name, parent.uid_validity, true)
                            .await?
                            .is_some()
                        {
                            ops::set_flag(s, parent.uid, "\\Answered", true).await?;
                        }
                    }
                }
                let Some(sent) = ops::special(s, SpecialUse::Sent).await? else {
                    return Ok(false);
                };
                ops::append_seen(s, &sent, &raw).await?;
                Ok(true)
            })
        })
        .await;
    let saved_to_sent = match stored {
        Ok(saved) => saved,
        Err(e) => {
            tracing::warn!(error = ?e, "the sent message was not stored in Sent");
            false
        }
    };
    Ok((
        StatusCode::CREATED,
        Json(Sent {
            message_id,
            saved_to_sent,
        }),
    ))
}

/// The message answered: its Message-ID and References, and its id when it is one of ours.
struct Parent {
    id: Option<MessageId>,
    message_id: String,
    references: Vec<String>,
}

async fn parent(mail: &MailService, address: &str, raw: &str) -> Result<Parent, ApiError> {
    if raw.starts_with('<') && raw.ends_with('>') && !raw.contains(char::is_whitespace) {
        return Ok(Parent {
            id: None,
            message_id: raw.to_owned(),
            references: Vec::new(),
        });
    }
    let id = message_id(raw, address)
        .map_err(|_| ApiError::invalid("in_reply_to", "no such message"))?;
    let imap_name = folder("in_reply_to", &id.folder)?;
    let (uid_validity, uid, max) = (id.uid_validity, id.uid, mail.max_message_bytes);
    let fetched = mail
        .imap(address, move |s| {
            Box::pin(async move {
                if ops::open_as_of(s, &imap_name, uid_validity, false)
                    .await?
                    .is_none()
                {
                    return Ok(None);
                }
                ops::message(s, uid, max).await
            })
        })
        .await?
        .ok_or_else(|| ApiError::invalid("in_reply_to", "no such message"))?;
    let detail = mime::detail(&fetched.raw, false);
    let message_id = detail
        .message_id
        .map(|m| {
            if m.starts_with('<') {
                m
            } else {
                format!("<{m}>")
            }
        })
        .ok_or_else(|| ApiError::invalid("in_reply_to", "the message has no Message-ID"))?;
    Ok(Parent {
        id: Some(id),
        message_id,
        references: detail
            .references
            .into_iter()
            .map(|r| {
                if r.starts_with('<') {
                    r
                } else {
                    format!("<{r}>")
                }
            })
            .collect(),
    })
}
