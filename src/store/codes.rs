//! Authorization codes: stored by their hash, looked up with their SSO session (and their user
//! when the directory is this database), spent by the grant that redeems them (`grants.rs`).

use std::sync::LazyLock;

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::lookup::{session_over, Lookup};
use super::refresh_tokens::Families;
use super::users::UserLookup;
use super::Db;
use crate::clock::UnixTime;

#[derive(Debug, Clone)]
pub struct NewCode<'a> {
    pub code_hash: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub session_id: Option<&'a str>,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub claims: Option<&'a str>,
    pub auth_time: UnixTime,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

#[derive(Debug, Clone)]
pub struct CodeRow {
    pub client_id: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub claims: Option<String>,
    pub auth_time: UnixTime,
    pub expires_at: UnixTime,
    /// It was issued in an SSO session that has ended (or is gone) since.
    pub session_over: bool,
}

/// A code found by its hash.
#[derive(Debug, Clone)]
pub struct CodeLookup {
    pub code: CodeRow,
    /// It was redeemed already: presenting it again is a replay.
    pub used: bool,
    pub user: UserLookup,
}

/// The look-up behind [`Db::code_and_user`], built once (it runs on every code exchange).
static CODE: LazyLock<Lookup> = LazyLock::new(|| {
    Lookup::new(
        "c.client_id, c.user_id, c.session_id, c.redirect_uri, c.scope, c.nonce, c.code_challenge, c.claims, \
         c.auth_time, c.expires_at, c.used_at, s.id AS live_session, s.ended_at AS session_ended_at",
        "authorization_codes c LEFT JOIN sso_sessions s ON s.id = c.session_id",
        "c.user_id",
        "c.code_hash = $1",
    )
});

fn code_from(row: &AnyRow) -> Result<CodeRow, sqlx::Error> {
    Ok(CodeRow {
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        session_id: row.try_get("session_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        scope: row.try_get("scope")?,
        nonce: row.try_get("nonce")?,
        code_challenge: row.try_get("code_challenge")?,
        claims: row.try_get("claims")?,
        auth_time: row.try_get("auth_time")?,
        expires_at: row.try_get("expires_at")?,
        session_over: session_over(row)?,
    })
}

impl Db {
    pub async fn insert_code(&self, c: &NewCode<'_>) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, user_id, session_id, redirect_uri, scope, nonce, \
             code_challenge, code_challenge_method, claims, auth_time, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(c.code_hash.to_owned())
        .bind(c.client_id.to_owned())
        .bind(c.user_id.to_owned())
        .bind(c.session_id.map(str::to_owned))
        .bind(c.redirect_uri.to_owned())
        .bind(c.scope.to_owned())
        .bind(c.nonce.map(str::to_owned))
        .bind(c.code_challenge.map(str::to_owned))
        .bind(c.code_challenge.map(|_| "S256".to_owned()))
        .bind(c.claims.map(str::to_owned))
        .bind(c.auth_time)
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(self.pool())
        .await
        .context("storing an authorization code")?;
        Ok(())
    }

    /// The code's row, and whether it was already used; its user is not asked for.
    pub async fn code(&self, code_hash: &str) -> anyhow::Result<Option<CodeLookup>> {
        self.code_and_user(code_hash, false).await
    }

    /// [`Db::code`] and, when `with_user`, in the same statement its user from this database's
    /// `users` table.
    pub async fn code_and_user(
        &self,
        code_hash: &str,
        with_user: bool,
    ) -> anyhow::Result<Option<CodeLookup>> {
        let found = CODE
            .fetch(self, code_hash, with_user, "an authorization code")
            .await?;
        let Some((row, user)) = found else {
            return Ok(None);
        };
        let used: Option<UnixTime> = row.try_get("used_at")?;
        Ok(Some(CodeLookup {
            code: code_from(&row)?,
            used: used.is_some(),
            user,
        }))
    }

    /// Revokes every token issued from a code (RFC 6749 §4.1.2: on a replayed code): the
    /// families it started, and the access token of its exchange.
    pub async fn revoke_code_tokens(&self, code_hash: &str, now: UnixTime) -> anyhow::Result<()> {
        self.revoke_to_the_end(Families::OfCode(code_hash.to_owned()), now)
            .await
            .context("revoking the tokens of a replayed code")
    }
}
