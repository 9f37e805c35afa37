//! Bheem Mail (`/api/v1/mail`): the user's own mailbox on Mailcow's Dovecot (IMAP) and Postfix
//! (submission), as the user, through Dovecot's master-user login; and, for company admins,
//! their company's mailboxes through Mailcow's API.
//!
//! The master-user login is how Mailcow's own webmail (SOGo) opens a mailbox: no password of the
//! user is known or kept here, it works for the `authsource: generic-oidc` mailboxes provisioning
//! makes (which have no IMAP password at all), and what the hub may do as a user is decided by
//! the hub's own check of their access token on every request (a revoked token reads nothing).
//! The master password is the one secret, from the environment.
//!
//! `imap` connects, logs in, keeps connections per mailbox for `pool_idle_seconds` and speaks
//! the commands; `mime` reads messages (sanitising HTML); `smtp` writes and submits them;
//! `ids` makes the opaque message ids; `mailcow` is the admins' mailbox API; `routes` the
//! handlers.

pub mod ids;
pub mod imap;
pub mod mailcow;
pub mod mime;
mod routes;
pub mod smtp;

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use futures_util::future::BoxFuture;
use utoipa_axum::router::OpenApiRouter;

use self::imap::{Connector, ImapSession, MailError, Pool};
use self::mailcow::MailcowAdmin;
use self::smtp::Submitter;
use crate::config::Config;
use crate::directory::User;
use crate::http::AppState;
use crate::workspace::ApiError;

/// What the mail area runs on, built once from `[mail]`.
pub struct MailService {
    pool: Pool,
    submitter: Submitter,
    timeout: Duration,
    max_message_bytes: u64,
    /// Mailcow's API for the admins' mailbox routes; `None` without `[provisioning.mailcow]`.
    mailcow: Option<MailcowAdmin>,
}

impl MailService {
    /// The service `[mail]` describes; `None` without the section.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let Some(mail) = &config.mail else {
            return Ok(None);
        };
        let connector = Connector::new(mail, imap::tls_config(mail.tls_ca_pem.as_deref())?);
        Ok(Some(Self {
            pool: Pool::new(connector, Duration::from_secs(mail.pool_idle_seconds)),
            submitter: Submitter::new(mail),
            timeout: Duration::from_secs(mail.request_timeout_seconds),
            max_message_bytes: mail.max_message_bytes,
            mailcow: config
                .provisioning
                .mailcow
                .as_ref()
                .map(|m| MailcowAdmin::new(m, Duration::from_secs(mail.request_timeout_seconds)))
                .transpose()?,
        }))
    }

    /// The routes that answer within the site's request timeout, relative to `/api/v1/mail`.
    pub fn router(self: Arc<Self>) -> OpenApiRouter<AppState> {
        routes::router().layer(Extension(self))
    }

    /// `/send`, whose body carries the attachments: a body limit of its own (`max_message_mib`
    /// as base64 in JSON), outside the site's request timeout (its own calls are timed).
    pub fn send_router(self: Arc<Self>) -> OpenApiRouter<AppState> {
        // Base64 is 4/3 of the bytes; the rest of the JSON is small beside it.
        let limit =
            usize::try_from(self.max_message_bytes / 3 * 4 + 256 * 1024).unwrap_or(usize::MAX);
        routes::send_router(limit).layer(Extension(self))
    }

    /// The address of `user`'s own mailbox: the one provisioning made for them in Mailcow,
    /// else the directory's email.
    pub async fn address_of(&self, state: &AppState, user: &User) -> Result<String, ApiError> {
        Ok(state.db.own_mailbox(&user.id, &user.email).await?)
    }

    /// Runs `op` on a connection logged in as `address` (a kept one, or a new one), within the
    /// request timeout; the connection is kept for the next request unless it may be broken.
    pub async fn imap<T>(
        &self,
        address: &str,
        op: impl for<'s> FnOnce(&'s mut ImapSession) -> BoxFuture<'s, Result<T, MailError>>,
    ) -> Result<T, ApiError> {
        let mut lease = self
            .pool
            .get(address, self.timeout)
            .await
            .map_err(mail_failed)?;
        let result = match tokio::time::timeout(self.timeout, op(&mut lease)).await {
            Ok(result) => result,
            Err(_) => Err(MailError::Timeout {
                service: imap::IMAP,
            }),
        };
        lease.finish(&result);
        result.map_err(mail_failed)
    }

    /// How many IMAP connections are kept now.
    pub fn idle_connections(&self) -> usize {
        self.pool.idle_count()
    }
}

/// What the user is told when a mail server failed; the handlers first take the NO answers
/// that mean something to them (no such folder, …).
pub(crate) fn mail_failed(e: MailError) -> ApiError {
    match e {
        MailError::Unreachable { service, message } => {
            tracing::warn!(service, %message, "mail server cannot be reached");
            ApiError::Unavailable { service }
        }
        MailError::Timeout { service } => {
            tracing::warn!(service, "mail server did not answer in time");
            ApiError::GatewayTimeout { service }
        }
        MailError::LoginRefused { service, message } => {
            tracing::warn!(
                service,
                %message,
                "the mail server refused the master user's login: is [mail] master_user set up \
                 as Dovecot's master user with this password, and does the user's mailbox exist?"
            );
            ApiError::BadGateway { service }
        }
        MailError::No { service, message } | MailError::Broken { service, message } => {
            tracing::warn!(service, %message, "mail server call failed");
            ApiError::BadGateway { service }
        }
    }
}
