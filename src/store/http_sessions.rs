//! The tower-sessions store for browser sessions, in the provider's own database, so that any
//! node behind a load balancer can serve any browser. Every page of a login reads or writes
//! its session, so these statements run on kept connections ([`Db::hot_connection`]) as the
//! token look-ups do, without sqlx's ping each time a connection goes back to the pool.
//!
//! A record is stored under the SHA-256 of its id, never the id itself: the id is the cookie,
//! so a copy of the table (a backup, a read-only SQL injection, a dump) would otherwise be a
//! list of live sessions to put in a browser. The id has 128 random bits, so a plain hash is
//! enough: there is nothing to guess from it.

use async_trait::async_trait;
use sqlx::Row;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::{is_unique_violation, Db};
use crate::secrets::hash_secret;

/// Record expiry is set by tower-sessions from the system clock, so it is checked against the
/// system clock too; the SSO session's own lifetimes (in `sso_sessions`) follow the app's clock.
#[derive(Clone)]
pub struct DbSessionStore {
    db: Db,
}

fn system_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbSessionStore")
    }
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Removes expired records; run now and then.
    pub async fn delete_expired(&self) -> anyhow::Result<u64> {
        Ok(
            sqlx::query("DELETE FROM http_sessions WHERE expiry_date < $1")
                .bind(system_now())
                .execute(self.db.pool())
                .await?
                .rows_affected(),
        )
    }
}

/// The key a record is stored under, hashed as codes and refresh tokens are.
fn stored_id(id: &Id) -> String {
    hash_secret(&id.to_string())
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = encode(record)?;
        let mut conn = self.db.hot_connection().await.map_err(backend)?;
        loop {
            let inserted = sqlx::query(
                "INSERT INTO http_sessions (id, data, expiry_date) VALUES ($1, $2, $3)",
            )
            .bind(stored_id(&record.id))
            .bind(data.clone())
            .bind(record.expiry_date.unix_timestamp())
            .execute(conn.conn())
            .await;
            match inserted {
                Ok(_) => {
                    conn.keep();
                    return Ok(());
                }
                // A 128-bit id collided: take another.
                Err(e) if is_unique_violation(&e) => record.id = Id::default(),
                Err(e) => return Err(backend(e)),
            }
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = encode(record)?;
        let mut conn = self.db.hot_connection().await.map_err(backend)?;
        let updated =
            sqlx::query("UPDATE http_sessions SET data = $1, expiry_date = $2 WHERE id = $3")
                .bind(data.clone())
                .bind(record.expiry_date.unix_timestamp())
                .bind(stored_id(&record.id))
                .execute(conn.conn())
                .await
                .map_err(backend)?;
        if updated.rows_affected() == 0 {
            sqlx::query("INSERT INTO http_sessions (id, data, expiry_date) VALUES ($1, $2, $3)")
                .bind(stored_id(&record.id))
                .bind(data)
                .bind(record.expiry_date.unix_timestamp())
                .execute(conn.conn())
                .await
                .map_err(backend)?;
        }
        conn.keep();
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let mut conn = self.db.hot_connection().await.map_err(backend)?;
        let row = sqlx::query(
            "SELECT data, expiry_date FROM http_sessions WHERE id = $1 AND expiry_date > $2",
        )
        .bind(stored_id(id))
        .bind(system_now())
        .fetch_optional(conn.conn())
        .await
        .map_err(backend)?;
        conn.keep();
        let Some(row) = row else { return Ok(None) };
        let data: String = row.try_get("data").map_err(backend)?;
        let expiry: i64 = row.try_get("expiry_date").map_err(backend)?;
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&data)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
            expiry_date: time::OffsetDateTime::from_unix_timestamp(expiry).map_err(backend)?,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("DELETE FROM http_sessions WHERE id = $1")
            .bind(stored_id(id))
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }
}
