//! Typed access to the browser session: constant keys, no string look-ups in handlers.
//!
//! CSRF protection is the synchronizer-token pattern (OWASP's first recommendation): a random
//! token kept in this server-side session and echoed by every form. It needs no crate of its
//! own once the session exists, and SameSite=Lax cookies back it up.

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tower_sessions::cookie::time::Duration;
use tower_sessions::{Expiry, Session};

use super::error::PageError;
use crate::clock::Clock;
use crate::http::AppState;
use crate::oidc::authorize::AuthorizationRequest;
use crate::secrets::new_secret;

/// The browser session's cookie: RFC 6265bis's `__Host-` prefix on an https issuer pins it to
/// this host, path `/` and https (it is `Secure` there, so a browser sends it over https only).
pub fn cookie_name(https_issuer: bool) -> &'static str {
    if https_issuer {
        "__Host-bheem_sso"
    } else {
        "bheem_sso"
    }
}

const SSO_SESSION: &str = "sso_session";
const CSRF: &str = "csrf";
const PENDING: &str = "pending";
/// Authorization requests waiting for a login or a consent; older ones are dropped.
const MAX_PENDING: usize = 8;
/// How long a parked authorization request waits for its login or consent. Anyone can park
/// one without logging in, so it must not outlive a sign-in by much.
pub const PARKED_REQUEST_SECONDS: i64 = 600;
/// The lifetime of a browser session without a login (a CSRF token and parked requests): every
/// cookie-less visit to authorize or the login page makes one, so it goes soon after the sign-in
/// it was made for. A login gives the session the SSO session's idle lifetime.
pub const ANONYMOUS_SESSION: Expiry =
    Expiry::OnInactivity(Duration::seconds(PARKED_REQUEST_SECONDS));

pub struct BrowserSession {
    session: Session,
    clock: Clock,
    /// The session's lifetime once it carries a login (`session.idle_seconds`).
    logged_in: Expiry,
}

impl FromRequestParts<AppState> for BrowserSession {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, why)| PageError::Internal(anyhow::anyhow!(why)))?;
        Ok(Self {
            session,
            clock: state.clock.clone(),
            logged_in: Expiry::OnInactivity(Duration::seconds(
                state.config.session.idle_seconds as i64,
            )),
        })
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Pending(BTreeMap<String, AuthorizationRequest>);

impl BrowserSession {
    pub async fn sso_session_id(&self) -> anyhow::Result<Option<String>> {
        Ok(self.session.get(SSO_SESSION).await?)
    }

    /// After a successful login: a new session id (against fixation), pointing at `sid`, with
    /// the lifetime of a logged-in session.
    pub async fn log_in(&self, sid: &str) -> anyhow::Result<()> {
        self.session.cycle_id().await?;
        self.session.insert(SSO_SESSION, sid).await?;
        // A new token after login, so one seen before cannot be replayed.
        self.session.insert(CSRF, new_secret()).await?;
        self.session.set_expiry(Some(self.logged_in));
        Ok(())
    }

    /// Back to an anonymous session, with its short lifetime (the layer's default).
    pub async fn log_out(&self) -> anyhow::Result<()> {
        self.session.remove::<String>(SSO_SESSION).await?;
        self.session.cycle_id().await?;
        Ok(())
    }

    /// Every write saves the session with the expiry set for this request, which starts as the
    /// layer's short anonymous one: a session that carries a login keeps its own.
    async fn keep_lifetime(&self) -> anyhow::Result<()> {
        if self.session.get::<String>(SSO_SESSION).await?.is_some() {
            self.session.set_expiry(Some(self.logged_in));
        }
        Ok(())
    }

    /// The form token, created on first use.
    pub async fn csrf_token(&self) -> anyhow::Result<String> {
        if let Some(token) = self.session.get::<String>(CSRF).await? {
            return Ok(token);
        }
        let token = new_secret();
        self.session.insert(CSRF, token.clone()).await?;
        self.keep_lifetime().await?;
        Ok(token)
    }

    pub async fn csrf_matches(&self, presented: &str) -> anyhow::Result<bool> {
        Ok(match self.session.get::<String>(CSRF).await? {
            Some(expected) => expected.as_bytes().ct_eq(presented.as_bytes()).into(),
            None => false,
        })
    }

    /// Keeps an authorization request for after the login or consent page; returns its id.
    /// The form token those pages need is made here too if the session has none, so it is
    /// written with the request and the page only reads the session.
    pub async fn park(&self, request: AuthorizationRequest) -> anyhow::Result<String> {
        self.csrf_token().await?;
        let mut pending: Pending = self.session.get(PENDING).await?.unwrap_or_default();
        let now = self.clock.now();
        pending.0.retain(|_, r| !expired(r, now));
        while pending.0.len() >= MAX_PENDING {
            let oldest = pending
                .0
                .iter()
                .min_by_key(|(_, r)| r.created_at)
                .map(|(id, _)| id.clone())
                .expect("not empty");
            pending.0.remove(&oldest);
        }
        let id = new_secret()[..22].to_owned();
        pending.0.insert(id.clone(), request);
        self.session.insert(PENDING, pending).await?;
        self.keep_lifetime().await?;
        Ok(id)
    }

    /// The parked request `id`, unless it has expired.
    pub async fn parked(&self, id: &str) -> anyhow::Result<Option<AuthorizationRequest>> {
        let pending: Pending = self.session.get(PENDING).await?.unwrap_or_default();
        let now = self.clock.now();
        Ok(pending.0.get(id).filter(|r| !expired(r, now)).cloned())
    }

    pub async fn unpark(&self, id: &str) -> anyhow::Result<()> {
        let mut pending: Pending = self.session.get(PENDING).await?.unwrap_or_default();
        if pending.0.remove(id).is_some() {
            self.session.insert(PENDING, pending).await?;
            self.keep_lifetime().await?;
        }
        Ok(())
    }
}

/// Judged by the app's clock, as every other lifetime of the sign-in is.
fn expired(request: &AuthorizationRequest, now: crate::clock::UnixTime) -> bool {
    now - request.created_at >= PARKED_REQUEST_SECONDS
}
