//! SSO sessions, authorization codes, refresh and access tokens, consents.
//!
//! Over 800 lines, and knowingly so until the architecture work (issue 16) splits `store` by
//! entity (sessions, codes, refresh tokens and their families, access tokens, consents): the
//! grant write and the family revocation touch all of them, and a split done beside this
//! release's fixes would have moved them mid-change.

use std::sync::LazyLock;

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::group_commit::{GrantWrite, Param};
use super::users::{columns_of, joined_from_row, JoinedUser};
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

/// An outbox job to write with a change.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub dedupe_key: String,
    pub payload: String,
}

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

#[derive(Debug, Clone)]
pub struct NewRefreshToken<'a> {
    pub token_hash: &'a str,
    pub family_id: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub session_id: Option<&'a str>,
    pub code_hash: Option<&'a str>,
    pub scope: &'a str,
    pub claims: Option<&'a str>,
    pub auth_time: Option<UnixTime>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub code_hash: Option<String>,
    pub scope: String,
    pub claims: Option<String>,
    pub auth_time: Option<UnixTime>,
    pub created_at: UnixTime,
    /// Its own end, or its family's when that comes first.
    pub expires_at: UnixTime,
    /// The end of its family: the family's first grant plus the refresh token lifetime then.
    pub family_expires_at: UnixTime,
    pub rotated_at: Option<UnixTime>,
    /// Its own revocation, or its family's.
    pub revoked_at: Option<UnixTime>,
    /// It was issued in an SSO session that has ended (or is gone) since.
    pub session_over: bool,
}

#[derive(Debug, Clone)]
pub struct NewAccessToken<'a> {
    pub jti: &'a str,
    pub client_id: &'a str,
    pub user_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub code_hash: Option<&'a str>,
    pub family_id: Option<&'a str>,
    pub scope: &'a str,
    pub claims: Option<&'a str>,
    pub expires_at: UnixTime,
}

/// What a grant used up: nothing (client credentials, a login), a code, or a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spends<'a> {
    Nothing,
    Code(&'a str),
    RefreshToken(&'a str),
}

/// Everything [`Db::record_grant`] writes.
#[derive(Debug, Clone)]
pub struct GrantRecord<'a> {
    pub spends: Spends<'a>,
    pub refresh: Option<NewRefreshToken<'a>>,
    pub access: NewAccessToken<'a>,
    pub now: UnixTime,
}

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

/// The look-ups behind [`Db::access_token_and_user`], [`Db::refresh_token_and_user`] and
/// [`Db::code_and_user`], built once (they run on every userinfo, introspection and token request).
///
/// A token of a revoked refresh-token family reads as revoked, whatever its own row says: a
/// revocation ends the family first (see [`revoke_families`]), so a token that a rotation wrote
/// while the revocation ran is dead even before its own row is marked. A refresh token whose
/// family row is missing is not found at all (every write stores the family with its first token).
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
static REFRESH_TOKEN: LazyLock<Lookup> = LazyLock::new(|| {
    Lookup::new(
        "r.family_id, r.client_id, r.user_id, r.session_id, r.code_hash, r.scope, r.claims, r.auth_time, \
         r.created_at, CASE WHEN f.expires_at < r.expires_at THEN f.expires_at ELSE r.expires_at END AS expires_at, \
         f.expires_at AS family_expires_at, r.rotated_at, COALESCE(r.revoked_at, f.revoked_at) AS revoked_at, \
         s.id AS live_session, s.ended_at AS session_ended_at",
        "refresh_tokens r JOIN refresh_families f ON f.family_id = r.family_id \
         LEFT JOIN sso_sessions s ON s.id = r.session_id",
        "r.user_id",
        "r.token_hash = $1",
    )
});
static CODE: LazyLock<Lookup> = LazyLock::new(|| {
    Lookup::new(
        "c.client_id, c.user_id, c.session_id, c.redirect_uri, c.scope, c.nonce, c.code_challenge, c.claims, \
         c.auth_time, c.expires_at, c.used_at, s.id AS live_session, s.ended_at AS session_ended_at",
        "authorization_codes c LEFT JOIN sso_sessions s ON s.id = c.session_id",
        "c.user_id",
        "c.code_hash = $1",
    )
});

/// One look-up by key, alone and with its user from the `users` table joined in (for
/// [`crate::directory::Directory::in_provider_database`]: one round trip where there were two).
struct Lookup {
    alone: String,
    with_user: String,
}

impl Lookup {
    fn new(columns: &str, from: &str, user_id: &str, filter: &str) -> Self {
        Self {
            alone: format!("SELECT {columns} FROM {from} WHERE {filter}"),
            with_user: format!(
                "SELECT {columns}, {} FROM {from} LEFT JOIN users u ON u.id = {user_id} WHERE {filter}",
                columns_of("u")
            ),
        }
    }

    /// The row under `key`, and its user when `with_user`.
    async fn fetch(
        &self,
        db: &Db,
        key: &str,
        with_user: bool,
        what: &'static str,
    ) -> anyhow::Result<Option<(AnyRow, JoinedUser)>> {
        let sql = if with_user {
            &self.with_user
        } else {
            &self.alone
        };
        let mut conn = db
            .hot_connection()
            .await
            .with_context(|| format!("loading {what}"))?;
        let row = sqlx::query(sql)
            .bind(key.to_owned())
            .fetch_optional(conn.conn())
            .await
            .with_context(|| format!("loading {what}"))?;
        conn.keep();
        let Some(row) = row else { return Ok(None) };
        let user = with_user.then(|| joined_from_row(&row, "u")).transpose()?;
        Ok(Some((row, user)))
    }
}

/// How often a revocation is tried when PostgreSQL chose it as a deadlock's victim. A batch of
/// grants share-locks its families in the order of the batch, and a revocation of a session's
/// families locks them in the order of its scan: rare, but a cycle, which PostgreSQL breaks by
/// aborting one side (a batch is then written again grant by grant, `group_commit.rs`).
const DEADLOCK_ATTEMPTS: u32 = 3;

/// The spending of a refresh token, guarded by its family (see [`Db::record_grant`]).
const ROTATE_POSTGRES: &str = "UPDATE refresh_tokens SET rotated_at = {} WHERE token_hash = {} \
     AND rotated_at IS NULL AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM refresh_families f \
     WHERE f.family_id = refresh_tokens.family_id AND f.revoked_at IS NULL FOR SHARE)";
/// On SQLite the grant's `BEGIN IMMEDIATE` holds the database's one write lock already.
const ROTATE_SQLITE: &str = "UPDATE refresh_tokens SET rotated_at = {} WHERE token_hash = {} \
     AND rotated_at IS NULL AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM refresh_families f \
     WHERE f.family_id = refresh_tokens.family_id AND f.revoked_at IS NULL)";

/// The refresh-token families a revocation ends: one, those a code started, those of an SSO
/// session.
#[derive(Debug, Clone)]
enum Families {
    Id(String),
    OfCode(String),
    OfSession(String),
}

/// Revokes `families` and every refresh and access token issued in them, within `tx`.
///
/// RFC 9700 §4.14.2 wants a reused refresh token to end its whole family, and a thief keeps
/// rotating it meanwhile. The family rows are marked first: on PostgreSQL that waits for every
/// rotation that holds a family's row (each rotation share-locks it before it spends its token,
/// `Db::record_grant`), and any rotation after it finds the family revoked and writes nothing.
/// The token rows are marked by later statements, which under READ COMMITTED each see what was
/// committed before they began: the tokens of the rotations waited for included. One statement
/// could not do it all: it would see only what was committed when it began. On SQLite, writes
/// take turns on the database's one write lock, so no rotation runs in between at all.
async fn revoke_families(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    families: &Families,
    now: UnixTime,
) -> anyhow::Result<()> {
    let (column, key) = match families {
        Families::Id(key) => ("family_id", key),
        Families::OfCode(key) => ("code_hash", key),
        Families::OfSession(key) => ("session_id", key),
    };
    let of_families =
        format!("family_id IN (SELECT family_id FROM refresh_families WHERE {column} = $2)");
    for (sql, what) in [
        (
            format!("UPDATE refresh_families SET revoked_at = $1 WHERE {column} = $2 AND revoked_at IS NULL"),
            "revoking refresh-token families",
        ),
        (
            format!("UPDATE refresh_tokens SET revoked_at = $1 WHERE {of_families} AND revoked_at IS NULL"),
            "revoking the families' refresh tokens",
        ),
        (
            format!("UPDATE access_tokens SET revoked_at = $1 WHERE {of_families} AND revoked_at IS NULL"),
            "revoking the families' access tokens",
        ),
    ] {
        sqlx::query(&sql)
            .bind(now)
            .bind(key.clone())
            .execute(&mut **tx)
            .await
            .context(what)?;
    }
    Ok(())
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

/// From `LEFT JOIN sso_sessions s` selecting `s.id AS live_session, s.ended_at AS session_ended_at`.
fn session_over(row: &AnyRow) -> Result<bool, sqlx::Error> {
    let session_id: Option<String> = row.try_get("session_id")?;
    let found: Option<String> = row.try_get("live_session")?;
    let ended: Option<UnixTime> = row.try_get("session_ended_at")?;
    Ok(session_id.is_some() && (found.is_none() || ended.is_some()))
}

fn refresh_from(row: &AnyRow) -> Result<RefreshRow, sqlx::Error> {
    Ok(RefreshRow {
        family_id: row.try_get("family_id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        session_id: row.try_get("session_id")?,
        code_hash: row.try_get("code_hash")?,
        scope: row.try_get("scope")?,
        claims: row.try_get("claims")?,
        auth_time: row.try_get("auth_time")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        family_expires_at: row.try_get("family_expires_at")?,
        rotated_at: row.try_get("rotated_at")?,
        revoked_at: row.try_get("revoked_at")?,
        session_over: session_over(row)?,
    })
}

impl Db {
    /// Records a login: the SSO session, and in the same transaction the outbox jobs it causes
    /// (downstream accounts on first login).
    pub async fn create_sso_session(
        &self,
        session: &SsoSession,
        jobs: &[NewJob],
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
            super::outbox::enqueue(&mut tx, &job.kind, &job.dedupe_key, &job.payload, now).await?;
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

    /// Ends a session and revokes every token issued within it. Returns false when it had
    /// already ended.
    pub async fn end_sso_session(
        &self,
        id: &str,
        reason: &str,
        now: UnixTime,
    ) -> anyhow::Result<bool> {
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
    ) -> anyhow::Result<bool> {
        let mut tx = self.pool().begin().await.context("beginning logout")?;
        let ended = sqlx::query("UPDATE sso_sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL")
            .bind(now)
            .bind(reason.to_owned())
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await
            .context("ending an SSO session")?
            .rows_affected()
            == 1;
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
        if ended {
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
                let client_id: String = row.try_get("client_id")?;
                let payload = serde_json::json!({
                    "client_id": client_id,
                    "uri": row.try_get::<String, _>("backchannel_logout_uri")?,
                    "sid": id,
                    "sub": row.try_get::<String, _>("user_id")?,
                });
                super::outbox::enqueue(
                    &mut tx,
                    crate::provisioning::backchannel::KIND,
                    &format!("backchannel:{id}:{client_id}"),
                    &payload.to_string(),
                    now,
                )
                .await?;
            }
        }
        tx.commit().await.context("committing logout")?;
        Ok(ended)
    }

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

    /// The code's row, and whether it was already used.
    pub async fn code(&self, code_hash: &str) -> anyhow::Result<Option<(CodeRow, bool)>> {
        let found = self.code_and_user(code_hash, false).await?;
        Ok(found.map(|(row, used, _)| (row, used)))
    }

    /// [`Db::code`] and, when `with_user`, in the same statement its user from this database's
    /// `users` table.
    pub async fn code_and_user(
        &self,
        code_hash: &str,
        with_user: bool,
    ) -> anyhow::Result<Option<(CodeRow, bool, JoinedUser)>> {
        let found = CODE
            .fetch(self, code_hash, with_user, "an authorization code")
            .await?;
        let Some((row, user)) = found else {
            return Ok(None);
        };
        let used: Option<UnixTime> = row.try_get("used_at")?;
        Ok(Some((code_from(&row)?, used.is_some(), user)))
    }

    /// Records what a grant gave: spends the code or the refresh token it was given for, stores
    /// the new refresh token and the access token, and remembers that the client got tokens in
    /// the session (for back-channel logout). `Ok(false)`, with nothing written, when the code or
    /// refresh token had been spent (or revoked) meanwhile.
    ///
    /// The request that loses the race for a code or a refresh token revokes what the winner got
    /// (a replay: RFC 6749 §4.1.2, RFC 9700 §4.14.2). It only learns it lost once the winner's
    /// write has committed, and that write holds the spending and the new tokens together, so
    /// every token of the winner's is there to be revoked.
    pub async fn record_grant(&self, g: &GrantRecord<'_>) -> anyhow::Result<bool> {
        // One atomic write per grant, sent with the others waiting at the time (group commit,
        // `group_commit.rs`): on PostgreSQL one statement of data-modifying CTEs, no BEGIN/COMMIT; on
        // SQLite one `BEGIN IMMEDIATE … COMMIT` script run in one go by the connection's worker
        // thread, so the write lock is held for the microseconds the statements take and never
        // across an await (a transaction statement by statement held it while its task waited
        // for a busy runtime, and cost a fifth to a third of the refresh throughput:
        // docs/benchmarks.md).
        let postgres = self.backend() == crate::config::Backend::Postgres;
        let first_in_family = !matches!(g.spends, Spends::RefreshToken(_));
        let mut w = GrantWrite::new();
        match g.spends {
            Spends::Nothing => {}
            Spends::Code(code_hash) => w.spend(
                format!("code {code_hash}"),
                "UPDATE authorization_codes SET used_at = {} WHERE code_hash = {} AND used_at IS NULL",
                vec![Param::Int(Some(g.now)), Param::text(code_hash)],
            ),
            // The family's row is checked and, on PostgreSQL, share-locked before the token's
            // row is spent. A revocation marks the family first, so it either waits for this
            // write to commit and then sees its new tokens in its later statements, or this
            // write waits for it and then finds the family revoked (READ COMMITTED re-checks
            // a locked row once its locker commits) and spends nothing. A share lock, not an
            // update: rotations of one family never wait for each other here.
            Spends::RefreshToken(token_hash) => w.spend(
                format!("refresh {token_hash}"),
                if postgres {
                    ROTATE_POSTGRES
                } else {
                    ROTATE_SQLITE
                },
                vec![Param::Int(Some(g.now)), Param::text(token_hash)],
            ),
        }
        // A first grant starts the family; its end is the first token's.
        if let (Some(t), true) = (&g.refresh, first_in_family) {
            w.insert(
                if postgres {
                    "INSERT INTO refresh_families (family_id, client_id, user_id, session_id, code_hash, \
                     created_at, expires_at)"
                } else {
                    "INSERT OR IGNORE INTO refresh_families (family_id, client_id, user_id, session_id, \
                     code_hash, created_at, expires_at)"
                },
                vec![
                    Param::text(t.family_id),
                    Param::text(t.client_id),
                    Param::text(t.user_id),
                    Param::Text(t.session_id.map(str::to_owned)),
                    Param::Text(t.code_hash.map(str::to_owned)),
                    Param::Int(Some(t.created_at)),
                    Param::Int(Some(t.expires_at)),
                ],
                if postgres {
                    " ON CONFLICT DO NOTHING"
                } else {
                    ""
                },
            );
        }
        if let Some(t) = &g.refresh {
            w.insert(
                "INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, session_id, code_hash, scope, \
                 claims, auth_time, created_at, expires_at)",
                vec![
                    Param::text(t.token_hash),
                    Param::text(t.family_id),
                    Param::text(t.client_id),
                    Param::text(t.user_id),
                    Param::Text(t.session_id.map(str::to_owned)),
                    Param::Text(t.code_hash.map(str::to_owned)),
                    Param::text(t.scope),
                    Param::Text(t.claims.map(str::to_owned)),
                    Param::Int(t.auth_time),
                    Param::Int(Some(t.created_at)),
                    Param::Int(Some(t.expires_at)),
                ],
                "",
            );
        }
        let t = &g.access;
        w.insert(
            "INSERT INTO access_tokens (jti, client_id, user_id, session_id, code_hash, family_id, scope, claims, \
             expires_at)",
            vec![
                Param::text(t.jti),
                Param::text(t.client_id),
                Param::Text(t.user_id.map(str::to_owned)),
                Param::Text(t.session_id.map(str::to_owned)),
                Param::Text(t.code_hash.map(str::to_owned)),
                Param::Text(t.family_id.map(str::to_owned)),
                Param::text(t.scope),
                Param::Text(t.claims.map(str::to_owned)),
                Param::Int(Some(t.expires_at)),
            ],
            "",
        );
        w.access_stored();
        // A rotated refresh token's family began with a grant in the same session, to the same
        // client, which recorded the pair already.
        if let (Some(session_id), true) = (t.session_id, first_in_family) {
            w.insert(
                if postgres {
                    "INSERT INTO session_clients (session_id, client_id, first_at)"
                } else {
                    "INSERT OR IGNORE INTO session_clients (session_id, client_id, first_at)"
                },
                vec![
                    Param::text(session_id),
                    Param::text(t.client_id),
                    Param::Int(Some(g.now)),
                ],
                if postgres {
                    " ON CONFLICT DO NOTHING"
                } else {
                    ""
                },
            );
        }
        self.grants
            .record(self, w)
            .await
            .context("recording a grant")
    }

    /// Revokes every token issued from a code (RFC 6749 §4.1.2: on a replayed code): the
    /// families it started, and the access token of its exchange.
    pub async fn revoke_code_tokens(&self, code_hash: &str, now: UnixTime) -> anyhow::Result<()> {
        self.revoke_to_the_end(Families::OfCode(code_hash.to_owned()), now)
            .await
            .context("revoking the tokens of a replayed code")
    }

    pub async fn refresh_token(&self, token_hash: &str) -> anyhow::Result<Option<RefreshRow>> {
        let found = self.refresh_token_and_user(token_hash, false).await?;
        Ok(found.map(|(row, _)| row))
    }

    /// [`Db::refresh_token`] and, when `with_user`, in the same statement its user from this
    /// database's `users` table.
    pub async fn refresh_token_and_user(
        &self,
        token_hash: &str,
        with_user: bool,
    ) -> anyhow::Result<Option<(RefreshRow, JoinedUser)>> {
        let found = REFRESH_TOKEN
            .fetch(self, token_hash, with_user, "a refresh token")
            .await?;
        found
            .map(|(row, user)| Ok((refresh_from(&row)?, user)))
            .transpose()
    }

    /// Revokes a whole refresh-token family and the access tokens issued from it, rotations in
    /// flight included (see [`revoke_families`]).
    pub async fn revoke_family(&self, family_id: &str, now: UnixTime) -> anyhow::Result<()> {
        self.revoke_to_the_end(Families::Id(family_id.to_owned()), now)
            .await
            .context("revoking a refresh-token family")
    }

    /// Revokes `families` in one transaction, in a task of its own: a request dropped midway (the
    /// client hung up, the request timed out) must not roll a revocation back.
    async fn revoke_to_the_end(&self, families: Families, now: UnixTime) -> anyhow::Result<()> {
        let db = self.clone();
        tokio::spawn(async move {
            let mut attempt = 1;
            loop {
                match db.revoke_once(&families, now).await {
                    Err(e) if attempt < DEADLOCK_ATTEMPTS && super::caused_by_deadlock(&e) => {
                        attempt += 1
                    }
                    revoked => return revoked,
                }
            }
        })
        .await
        .context("the revocation stopped before it finished")?
    }

    async fn revoke_once(&self, families: &Families, now: UnixTime) -> anyhow::Result<()> {
        let mut tx = self
            .pool()
            .begin()
            .await
            .context("beginning a revocation")?;
        revoke_families(&mut tx, families, now).await?;
        if let Families::OfCode(code_hash) = families {
            // The access token of the code's exchange, which has no family when the exchange
            // gave no refresh token.
            sqlx::query(
                "UPDATE access_tokens SET revoked_at = $1 WHERE code_hash = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(code_hash.clone())
            .execute(&mut *tx)
            .await
            .context("revoking the access tokens of a code")?;
        }
        tx.commit().await.context("committing a revocation")
    }

    /// The registry entry of an access token, with its session's end if it has one.
    pub async fn access_token(&self, jti: &str) -> anyhow::Result<Option<AccessRow>> {
        let found = self.access_token_and_user(jti, false).await?;
        Ok(found.map(|(row, _)| row))
    }

    /// [`Db::access_token`] and, when `with_user`, in the same statement its user from this
    /// database's `users` table: one round trip where userinfo and introspection made two.
    pub async fn access_token_and_user(
        &self,
        jti: &str,
        with_user: bool,
    ) -> anyhow::Result<Option<(AccessRow, JoinedUser)>> {
        let found = ACCESS_TOKEN
            .fetch(self, jti, with_user, "an access token")
            .await?;
        let Some((row, user)) = found else {
            return Ok(None);
        };
        let access = AccessRow {
            client_id: row.try_get("client_id")?,
            user_id: row.try_get("user_id")?,
            session_id: row.try_get("session_id")?,
            claims: row.try_get("claims")?,
            revoked_at: row.try_get("revoked_at")?,
            session_ended_at: row.try_get("session_ended_at")?,
        };
        Ok(Some((access, user)))
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

    pub async fn consent(&self, user_id: &str, client_id: &str) -> anyhow::Result<Option<String>> {
        let scope: Option<String> =
            sqlx::query_scalar("SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id.to_owned())
                .bind(client_id.to_owned())
                .fetch_optional(self.pool())
                .await
                .context("loading a consent")?;
        Ok(scope)
    }

    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: UnixTime,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id.to_owned())
            .bind(client_id.to_owned())
            .execute(&mut *tx)
            .await
            .context("replacing a consent")?;
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id.to_owned())
        .bind(client_id.to_owned())
        .bind(scope.to_owned())
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("saving a consent")?;
        tx.commit().await.context("committing a consent")?;
        Ok(())
    }
}
