//! Refresh tokens and their families. A family is the chain of tokens one grant started and its
//! rotations continued; it has one end, and a revocation ends it whole, rotations in flight
//! included (RFC 9700 §4.14.2). Tokens are written by the grant that issues them (`grants.rs`).

use std::sync::LazyLock;

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::lookup::{session_over, Lookup};
use super::users::UserLookup;
use super::Db;
use crate::clock::UnixTime;

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

/// A refresh token found by its hash.
#[derive(Debug, Clone)]
pub struct RefreshLookup {
    pub token: RefreshRow,
    pub user: UserLookup,
}

/// The look-up behind [`Db::refresh_token_and_user`], built once (it runs on every refresh).
///
/// A token of a revoked family reads as revoked, whatever its own row says: a revocation ends
/// the family first (see [`revoke_families`]), so a token that a rotation wrote while the
/// revocation ran is dead even before its own row is marked. A token whose family row is missing
/// is not found at all (every write stores the family with its first token).
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

/// How often a revocation is tried when PostgreSQL chose it as a deadlock's victim. A batch of
/// grants share-locks its families in the order of the batch, and a revocation of a session's
/// families locks them in the order of its scan: rare, but a cycle, which PostgreSQL breaks by
/// aborting one side (a batch is then written again grant by grant, `group_commit.rs`).
pub(super) const DEADLOCK_ATTEMPTS: u32 = 3;

/// The refresh-token families a revocation ends: one, those a code started, those of an SSO
/// session.
#[derive(Debug, Clone)]
pub(super) enum Families {
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
pub(super) async fn revoke_families(
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

impl Db {
    pub async fn refresh_token(&self, token_hash: &str) -> anyhow::Result<Option<RefreshRow>> {
        let found = self.refresh_token_and_user(token_hash, false).await?;
        Ok(found.map(|found| found.token))
    }

    /// [`Db::refresh_token`] and, when `with_user`, in the same statement its user from this
    /// database's `users` table.
    pub async fn refresh_token_and_user(
        &self,
        token_hash: &str,
        with_user: bool,
    ) -> anyhow::Result<Option<RefreshLookup>> {
        let found = REFRESH_TOKEN
            .fetch(self, token_hash, with_user, "a refresh token")
            .await?;
        found
            .map(|(row, user)| {
                Ok(RefreshLookup {
                    token: refresh_from(&row)?,
                    user,
                })
            })
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
    pub(super) async fn revoke_to_the_end(
        &self,
        families: Families,
        now: UnixTime,
    ) -> anyhow::Result<()> {
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
}
