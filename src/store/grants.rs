//! The one write of a grant: what it spends (a code, a refresh token), the refresh token and its
//! family, the access token, and the session's client for back-channel logout, all or nothing.
//! Written together with other grants waiting at the time (`group_commit.rs`).

use anyhow::Context;

use super::group_commit::{GrantWrite, Param};
use super::Db;
use crate::clock::UnixTime;

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

/// The spending of a refresh token, guarded by its family (see [`Db::record_grant`]).
const ROTATE_POSTGRES: &str = "UPDATE refresh_tokens SET rotated_at = {} WHERE token_hash = {} \
     AND rotated_at IS NULL AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM refresh_families f \
     WHERE f.family_id = refresh_tokens.family_id AND f.revoked_at IS NULL FOR SHARE)";
/// On SQLite the grant's `BEGIN IMMEDIATE` holds the database's one write lock already.
const ROTATE_SQLITE: &str = "UPDATE refresh_tokens SET rotated_at = {} WHERE token_hash = {} \
     AND rotated_at IS NULL AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM refresh_families f \
     WHERE f.family_id = refresh_tokens.family_id AND f.revoked_at IS NULL)";

impl Db {
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
        // One atomic write per grant, sent with the others waiting at the time
        // (`group_commit.rs`): on PostgreSQL one statement of data-modifying CTEs, no
        // BEGIN/COMMIT; on SQLite one `BEGIN IMMEDIATE … COMMIT` script run in one go by the
        // connection's worker thread, so the write lock is held for the microseconds the
        // statements take and never across an await (a transaction statement by statement held
        // it while its task waited for a busy runtime, and cost a fifth to a third of the
        // refresh throughput: docs/benchmarks.md).
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
}
