//! SSO sessions: a login at the provider, which the browser's session points to. Ending one
//! revokes every token issued in it and tells the clients through back-channel logout.

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::outbox::{enqueue, BackchannelLogout, Job};
use super::refresh_tokens::{revoke_families, Families, DEADLOCK_ATTEMPTS};
use super::Db;
use crate::clock::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSession {
    pub id: String,
    pub user_id: String,
    pub company_id: String,
    pub auth_time: UnixTime,
    pub last_seen_at: UnixTime,
    pub expires_at: UnixTime,
    pub ended_at: Option<UnixTime>,
}

impl SsoSession {
    /// A session that begins with a login at `now`, as [`Db::sso_session`] reads it once
    /// [`Db::create_sso_session`] has written it.
    pub fn started(
        id: String,
        user_id: String,
        company_id: String,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Self {
        Self {
            id,
            user_id,
            company_id,
            auth_time: now,
            last_seen_at: now,
            expires_at,
            ended_at: None,
        }
    }

    /// Alive: not ended, not past its absolute end, used within the idle limit.
    pub fn is_live(&self, now: UnixTime, idle_seconds: u64) -> bool {
        self.ended_at.is_none()
            && now < self.expires_at
            && now < self.last_seen_at.saturating_add(idle_seconds as i64)
    }
}

/// A session [`Db::end_sso_session`] ended: whose it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSession {
    pub user_id: String,
    pub company_id: String,
}

fn session_from(row: &AnyRow) -> Result<SsoSession, sqlx::Error> {
    Ok(SsoSession {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        company_id: row.try_get("company_id")?,
        auth_time: row.try_get("auth_time")?,
        last_seen_at: row.try_get("last_seen_at")?,
        expires_at: row.try_get("expires_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

impl Db {
    /// Records a login: the SSO session, and in the same transaction the outbox jobs it causes
    /// (downstream accounts on first login).
    pub async fn create_sso_session(
        &self,
        session: &SsoSession,
        jobs: &[Job],
    ) -> anyhow::Result<()> {
        let now = session.auth_time;
        let insert = sqlx::query(
            "INSERT INTO sso_sessions (id, user_id, company_id, auth_time, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(session.id.clone())
        .bind(session.user_id.clone())
        .bind(session.company_id.clone())
        .bind(now)
        .bind(now)
        .bind(session.last_seen_at)
        .bind(session.expires_at);
        if jobs.is_empty() {
            // One statement is atomic by itself: no BEGIN and COMMIT, two round trips fewer on
            // a login that provisions nothing (no targets for it in the configuration).
            insert
                .execute(self.pool())
                .await
                .context("creating an SSO session")?;
            return Ok(());
        }
        let mut tx = self.pool().begin().await.context("beginning a login")?;
        insert
            .execute(&mut *tx)
            .await
            .context("creating an SSO session")?;
        for job in jobs {
            enqueue(&mut tx, job, now).await?;
        }
        tx.commit().await.context("committing a login")?;
        Ok(())
    }

    /// Live sessions of a user, for ending them all.
    pub async fn live_sessions_of(&self, user_id: &str) -> anyhow::Result<Vec<String>> {
        sqlx::query_scalar("SELECT id FROM sso_sessions WHERE user_id = $1 AND ended_at IS NULL")
            .bind(user_id.to_owned())
            .fetch_all(self.pool())
            .await
            .context("listing a user's sessions")
    }

    pub async fn sso_session(&self, id: &str) -> anyhow::Result<Option<SsoSession>> {
        let row = sqlx::query(
            "SELECT id, user_id, company_id, auth_time, last_seen_at, expires_at, ended_at FROM sso_sessions WHERE id = $1",
        )
        .bind(id.to_owned())
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("loading SSO session {id}"))?;
        Ok(row.as_ref().map(session_from).transpose()?)
    }

    pub async fn touch_sso_session(&self, id: &str, now: UnixTime) -> anyhow::Result<()> {
        sqlx::query("UPDATE sso_sessions SET last_seen_at = $1 WHERE id = $2 AND ended_at IS NULL")
            .bind(now)
            .bind(id.to_owned())
            .execute(self.pool())
            .await
            .context("touching an SSO session")?;
        Ok(())
    }

    /// Ends a session and revokes every token issued within it. Returns whose it was, or `None`
    /// when it had already ended.
    pub async fn end_sso_session(
        &self,
        id: &str,
        reason: &str,
        now: UnixTime,
    ) -> anyhow::Result<Option<EndedSession>> {
        let mut attempt = 1;
        loop {
            match self.end_sso_session_once(id, reason, now).await {
                Err(e) if attempt < DEADLOCK_ATTEMPTS && super::caused_by_deadlock(&e) => {
                    attempt += 1
                }
                ended => return ended,
            }
        }
    }

    async fn end_sso_session_once(
        &self,
        id: &str,
        reason: &str,
        now: UnixTime,
    ) -> anyhow::Result<Option<EndedSession>> {
        let mut tx = self.pool().begin().await.context("beginning logout")?;
        let ended = sqlx::query(
            "UPDATE sso_sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL \
             RETURNING user_id, company_id",
        )
        .bind(now)
        .bind(reason.to_owned())
        .bind(id.to_owned())
        .fetch_optional(&mut *tx)
        .await
        .context("ending an SSO session")?
        .map(|row| -> Result<_, sqlx::Error> {
            Ok(EndedSession {
                user_id: row.try_get("user_id")?,
                company_id: row.try_get("company_id")?,
            })
        })
        .transpose()?;
        // The session's refresh-token families first, so that a rotation in flight cannot add a
        // token the statements below miss (see `revoke_families`).
        revoke_families(&mut tx, &Families::OfSession(id.to_owned()), now).await?;
        sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE session_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await
            .context("revoking a session's refresh tokens")?;
        sqlx::query(
            "UPDATE access_tokens SET revoked_at = $1 WHERE session_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id.to_owned())
        .execute(&mut *tx)
        .await
        .context("revoking a session's access tokens")?;
        if ended.is_some() {
            // OIDC Back-Channel Logout 1.0: every client that got tokens in this session and
            // registered a back-channel URI is told, through the outbox, in this transaction.
            let rows = sqlx::query(
                "SELECT sc.client_id, c.backchannel_logout_uri, s.user_id FROM session_clients sc \
                 JOIN clients c ON c.client_id = sc.client_id JOIN sso_sessions s ON s.id = sc.session_id \
                 WHERE sc.session_id = $1 AND c.backchannel_logout_uri IS NOT NULL",
            )
            .bind(id.to_owned())
            .fetch_all(&mut *tx)
            .await
            .context("finding the session's back-channel logout URIs")?;
            for row in rows {
                let logout = BackchannelLogout {
                    client_id: row.try_get("client_id")?,
                    sid: id.to_owned(),
                    sub: row.try_get("user_id")?,
                    uri: row.try_get("backchannel_logout_uri")?,
                };
                enqueue(&mut tx, &Job::BackchannelLogout(logout), now).await?;
            }
        }
        tx.commit().await.context("committing logout")?;
        Ok(ended)
    }
}
