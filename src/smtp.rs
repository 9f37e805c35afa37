//! SMTP submission as a user's mailbox, for Bheem Mail's `/send` and the outbox's calendar
//! invitations.
//!
//! Submission logs in with `[mail]`'s master-user credentials (SASL PLAIN or LOGIN):
//! Mailcow's Postfix asks Dovecot, which lets the master user in as the mailbox, and Postfix
//! then checks the sender against that mailbox as for any login. The master password goes to
//! the server and nowhere else: never into an error or a log line.

use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{MailConfig, MailTls};

/// Why a submission failed, in the terms of what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The server cannot be reached (refused, no route, no name, no TLS): it is down.
    #[error("cannot reach smtp: {0}")]
    Unreachable(String),
    /// It took longer than `request_timeout_seconds`.
    #[error("smtp did not answer in time")]
    Timeout,
    /// It refused the master user's login (530, 535).
    #[error("smtp refused the login: {0}")]
    LoginRefused(String),
    /// A 4xx answer (RFC 5321 §4.2.1): the server may take it later.
    #[error("smtp refused for now: {0}")]
    Transient(String),
    /// A 5xx answer other than the login's: it will refuse the same message again.
    #[error("smtp refused: {0}")]
    Permanent(String),
    /// It broke the protocol or the connection, mid-call.
    #[error("smtp failed: {0}")]
    Broken(String),
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
    pub async fn submit(&self, address: &str, message: &Message) -> Result<(), SubmitError> {
        let unreachable =
            |e: lettre::transport::smtp::Error| SubmitError::Unreachable(e.to_string());
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str());
        let builder = match self.tls {
            MailTls::None => builder.tls(Tls::None),
            MailTls::Starttls => {
                builder.tls(Tls::Required(self.tls_parameters().map_err(unreachable)?))
            }
            MailTls::Implicit => {
                builder.tls(Tls::Wrapper(self.tls_parameters().map_err(unreachable)?))
            }
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
            .map_err(|_| SubmitError::Timeout)?;
        sent.map(drop).map_err(|e| {
            if e.is_timeout() {
                SubmitError::Timeout
            } else if e.is_permanent() || e.is_transient() {
                let code = e.status().map(|c| c.to_string()).unwrap_or_default();
                if code == "535" || code == "530" {
                    SubmitError::LoginRefused(e.to_string())
                } else if e.is_transient() {
                    SubmitError::Transient(e.to_string())
                } else {
                    SubmitError::Permanent(e.to_string())
                }
            } else if e.is_response() {
                SubmitError::Broken(e.to_string())
            } else {
                unreachable(e)
            }
        })
    }
}
