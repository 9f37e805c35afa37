//! Typed access to the browser session: constant keys, no string look-ups in handlers.
//!
//! CSRF protection is the synchronizer-token pattern (OWASP's first recommendation): a random
//! token kept in this server-side session and echoed by every form. It needs no crate of its
//! own once the session exists, and SameSite=Lax cookies back it up.

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::oidc::authorize::AuthorizationRequest;
use crate::oidc::tokens::new_secret;

const SSO_SESSION: &str = "sso_session";
const CSRF: &str = "csrf";
const PENDING: &str = "pending";
/// Authorization requests waiting for a login or a consent; older ones are dropped.
const MAX_PENDING: usize = 8;

pub struct BrowserSession(Session);

impl<S: Send + Sync> FromRequestParts<S> for BrowserSession {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Session::from_request_parts(parts, state).await.map(Self)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Pending(BTreeMap<String, AuthorizationRequest>);

impl BrowserSession {
    pub async fn sso_session_id(&self) -> anyhow::Result<Option<String>> {
        Ok(self.0.get(SSO_SESSION).await?)
    }

    /// After a successful login: a new session id (against fixation), pointing at `sid`.
    pub async fn log_in(&self, sid: &str) -> anyhow::Result<()> {
        self.0.cycle_id().await?;
        self.0.insert(SSO_SESSION, sid).await?;
        // A new token after login, so one seen before cannot be replayed.
        self.0.insert(CSRF, new_secret()).await?;
        Ok(())
    }

    pub async fn log_out(&self) -> anyhow::Result<()> {
        self.0.remove::<String>(SSO_SESSION).await?;
        self.0.cycle_id().await?;
        Ok(())
    }

    /// The form token, created on first use.
    pub async fn csrf_token(&self) -> anyhow::Result<String> {
        if let Some(token) = self.0.get::<String>(CSRF).await? {
            return Ok(token);
        }
        let token = new_secret();
        self.0.insert(CSRF, token.clone()).await?;
        Ok(token)
    }

    pub async fn csrf_matches(&self, presented: &str) -> anyhow::Result<bool> {
        Ok(match self.0.get::<String>(CSRF).await? {
            Some(expected) => expected.as_bytes().ct_eq(presented.as_bytes()).into(),
            None => false,
        })
    }

    /// Keeps an authorization request for after the login or consent page; returns its id.
    /// The form token those pages need is made here too if the session has none, so it is
    /// written with the request and the page only reads the session.
    pub async fn park(&self, request: AuthorizationRequest) -> anyhow::Result<String> {
        self.csrf_token().await?;
        let mut pending: Pending = self.0.get(PENDING).await?.unwrap_or_default();
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
        self.0.insert(PENDING, pending).await?;
        Ok(id)
    }

    pub async fn parked(&self, id: &str) -> anyhow::Result<Option<AuthorizationRequest>> {
        let pending: Pending = self.0.get(PENDING).await?.unwrap_or_default();
        Ok(pending.0.get(id).cloned())
    }

    pub async fn unpark(&self, id: &str) -> anyhow::Result<()> {
        let mut pending: Pending = self.0.get(PENDING).await?.unwrap_or_default();
        if pending.0.remove(id).is_some() {
            self.0.insert(PENDING, pending).await?;
        }
        Ok(())
    }
}
