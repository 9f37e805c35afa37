//! The registry of issued access tokens: a signed token is good only while its row says so (not
//! revoked, its family not revoked, its SSO session not ended). Rows are written by the grant
//! that issues them (`grants.rs`).

use std::sync::LazyLock;

use anyhow::Context;
use sqlx::Row;

use super::lookup::Lookup;
use super::users::UserLookup;
use super::Db;
use crate::clock::UnixTime;

#[derive(Debug, Clone)]
pub struct AccessRow {
    pub client_id: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub claims: Option<String>,
    /// Its own revocation, or its refresh-token family's.
    pub revoked_at: Option<UnixTime>,
    pub session_ended_at: Option<UnixTime>,
}

/// An access token found in the registry by its `jti`.
#[derive(Debug, Clone)]
pub struct AccessLookup {
    pub token: AccessRow,
    pub user: UserLookup,
}

/// The look-up behind [`Db::access_token_and_user`], built once (it runs on every userinfo and
/// introspection request).
///
/// A token of a revoked refresh-token family reads as revoked, whatever its own row says: a
/// revocation ends the family first (`refresh_tokens::revoke_families`), so a token that a
/// rotation wrote while the revocation ran is dead even before its own row is marked.
static ACCESS_TOKEN: LazyLock<Lookup> = LazyLock::new(|| {
    Lookup::new(
        "a.client_id, a.user_id, a.session_id, a.claims, COALESCE(a.revoked_at, f.revoked_at) AS revoked_at, \
         s.ended_at AS session_ended_at",
        "access_tokens a LEFT JOIN refresh_families f ON f.family_id = a.family_id \
         LEFT JOIN sso_sessions s ON s.id = a.session_id",
        "a.user_id",
        "a.jti = $1",
    )
});

impl Db {
    /// The registry entry of an access token, with its session's end if it has one.
    pub async fn access_token(&self, jti: &str) -> anyhow::Result<Option<AccessRow>> {
        let found = self.access_token_and_user(jti, false).await?;
        Ok(found.map(|found| found.token))
    }

    /// [`Db::access_token`] and, when `with_user`, in the same statement its user from this
    /// database's `users` table: one round trip where userinfo and introspection made two.
    pub async fn access_token_and_user(
        &self,
        jti: &str,
        with_user: bool,
    ) -> anyhow::Result<Option<AccessLookup>> {
        let found = ACCESS_TOKEN
            .fetch(self, jti, with_user, "an access token")
            .await?;
        let Some((row, user)) = found else {
            return Ok(None);
        };
        let token = AccessRow {
            client_id: row.try_get("client_id")?,
            user_id: row.try_get("user_id")?,
            session_id: row.try_get("session_id")?,
            claims: row.try_get("claims")?,
            revoked_at: row.try_get("revoked_at")?,
            session_ended_at: row.try_get("session_ended_at")?,
        };
        Ok(Some(AccessLookup { token, user }))
    }

    pub async fn revoke_access_token(&self, jti: &str, now: UnixTime) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE access_tokens SET revoked_at = $1 WHERE jti = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(jti.to_owned())
        .execute(self.pool())
        .await
        .context("revoking an access token")?;
        Ok(())
    }
}
