//! The one-statement look-ups of the hot paths (an access token, a refresh token, a code), each
//! alone or with its user joined in from this database's `users` table.

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::users::{columns_of, joined_from_row, UserLookup};
use super::Db;
use crate::clock::UnixTime;

/// One look-up by key, alone and with its user from the `users` table joined in (when the
/// directory keeps its users in the provider's database: one round trip where there were two).
pub(super) struct Lookup {
    alone: String,
    with_user: String,
}

impl Lookup {
    pub(super) fn new(columns: &str, from: &str, user_id: &str, filter: &str) -> Self {
        Self {
            alone: format!("SELECT {columns} FROM {from} WHERE {filter}"),
            with_user: format!(
                "SELECT {columns}, {} FROM {from} LEFT JOIN users u ON u.id = {user_id} WHERE {filter}",
                columns_of("u")
            ),
        }
    }

    /// The row under `key`, and its user when `with_user`.
    pub(super) async fn fetch(
        &self,
        db: &Db,
        key: &str,
        with_user: bool,
        what: &'static str,
    ) -> anyhow::Result<Option<(AnyRow, UserLookup)>> {
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
        let user = if with_user {
            joined_from_row(&row, "u")?
        } else {
            UserLookup::NotAsked
        };
        Ok(Some((row, user)))
    }
}

/// From `LEFT JOIN sso_sessions s` selecting `s.id AS live_session, s.ended_at AS session_ended_at`:
/// the row was issued in an SSO session that has ended (or is gone) since.
pub(super) fn session_over(row: &AnyRow) -> Result<bool, sqlx::Error> {
    let session_id: Option<String> = row.try_get("session_id")?;
    let found: Option<String> = row.try_get("live_session")?;
    let ended: Option<UnixTime> = row.try_get("session_ended_at")?;
    Ok(session_id.is_some() && (found.is_none() || ended.is_some()))
}
