//! Writing a message and submitting it to Postfix as the user.
//!
//! lettre writes the MIME: multipart/alternative with a plain-text part beside the HTML one,
//! attachments beside those in multipart/mixed, RFC 2047 encoded words for non-ASCII subjects and
//! display names, RFC 2231 for non-ASCII filenames, and a Message-ID and Date. Every header value
//! comes from a checked field (no CR or LF anywhere: see `routes::send`), and every address is
//! parsed by lettre, so nothing a client sends can add a header or a recipient.
//!
//! Submission logs in with the same master-user credentials as IMAP (SASL PLAIN or LOGIN):
//! Mailcow's Postfix asks Dovecot, which lets the master user in as the mailbox, and Postfix
//! then checks the sender against that mailbox as for any login.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use super::imap::MailError;
use crate::config::{MailConfig, MailTls};

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

/// How to submit as a user.
#[derive(Clone)]
pub struct Submitter {
    host: String,
    port: u16,
    tls: MailTls,
    separator: String,
    master_user: String,
    master_password: SecretString,
    timeout: Duration,
    tls_ca_pem: Option<Vec<u8>>,
}

impl Submitter {
    pub fn new(config: &MailConfig) -> Self {
        Self {
            host: config.smtp_host.clone(),
            port: config.smtp_port,
            tls: config.tls,
            separator: config.master_separator.clone(),
            master_user: config.master_user.clone(),
            master_password: config.master_password.clone(),
            timeout: Duration::from_secs(config.request_timeout_seconds),
            tls_ca_pem: config.tls_ca_pem.clone(),
        }
    }

    fn tls_parameters(&self) -> Result<TlsParameters, lettre::transport::smtp::Error> {
        let mut builder = TlsParameters::builder(self.host.clone());
        if let Some(pem) = &self.tls_ca_pem {
            builder = builder.add_root_certificate(Certificate::from_pem(pem)?);
        }
        builder.build()
    }

    /// Submits `message` logged in as `address`'s mailbox, to the envelope's recipients (Bcc
    /// among them, though not in the header).
    pub async fn submit(&self, address: &str, message: &Message) -> Result<(), MailError> {
        let unreachable = |message: String| MailError::Unreachable {
            service: SMTP,
            message,
        };
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str());
        let builder = match self.tls {
            MailTls::None => builder.tls(Tls::None),
            MailTls::Starttls => builder.tls(Tls::Required(
                self.tls_parameters()
                    .map_err(|e| unreachable(e.to_string()))?,
            )),
            MailTls::Implicit => builder.tls(Tls::Wrapper(
                self.tls_parameters()
                    .map_err(|e| unreachable(e.to_string()))?,
            )),
        };
        let transport = builder
            .port(self.port)
            .credentials(Credentials::new(
                format!("{address}{}{}", self.separator, self.master_user),
                self.master_password.expose_secret().to_owned(),
            ))
            .authentication(vec![Mechanism::Plain, Mechanism::Login])
            .timeout(Some(self.timeout))
            .build();
        let sent = tokio::time::timeout(self.timeout * 2, transport.send(message.clone()))
            .await
            .map_err(|_| MailError::Timeout { service: SMTP })?;
        sent.map(drop).map_err(|e| {
            if e.is_timeout() {
                MailError::Timeout { service: SMTP }
            } else if e.is_permanent() || e.is_transient() {
                let code = e.status().map(|c| c.to_string()).unwrap_or_default();
                if code == "535" || code == "530" {
                    MailError::LoginRefused {
                        service: SMTP,
                        message: e.to_string(),
                    }
                } else {
                    MailError::No {
                        service: SMTP,
                        message: e.to_string(),
                    }
                }
            } else if e.is_response() {
                MailError::Broken {
                    service: SMTP,
                    message: e.to_string(),
                }
            } else {
                unreachable(e.to_string())
            }
        })
    }
}
