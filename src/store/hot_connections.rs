//! The connections of the hot paths (token look-ups, grants' writes, browser sessions): kept
//! out of sqlx's pool between their statements, so they skip the ping sqlx sends with every
//! connection given back to it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Db, POSTGRES_PING_AFTER_IDLE};
use crate::telemetry;

impl Db {
    /// A connection for one statement on a hot path (a token look-up, a grant's write, a browser
    /// session's read or write): one kept from an earlier such statement when there is a fresh
    /// one, else one from the pool. Give it back with [`HotConnection::keep`] once its statement
    /// succeeded; dropped instead, it goes back to the pool, through sqlx's test, as any pooled
    /// connection does.
    pub(crate) async fn hot_connection(&self) -> Result<HotConnection, sqlx::Error> {
        let asked = Instant::now();
        let lent = self.lend_hot_connection().await;
        // Whether it came or the pool timed out: a wait that ends in a 503 is a wait too.
        telemetry::db_acquired(asked.elapsed());
        lent
    }

    async fn lend_hot_connection(&self) -> Result<HotConnection, sqlx::Error> {
        let turn = self
            .kept
            .turns
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let conn = match self.kept.take() {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        Ok(HotConnection {
            conn: Some(conn),
            kept: self.kept.clone(),
            _turn: turn,
        })
    }
}

/// Connections kept out of the pool between the statements of the hot paths. sqlx tests every
/// connection given back to its pool, whatever the pool's options: a ping (a round trip to
/// PostgreSQL, or to the SQLite connection's worker thread) in a task of its own, after every
/// statement; the look-up behind a userinfo request is one statement. A connection whose
/// statement succeeded comes back here instead and skips that. One whose statement failed or
/// was cancelled never does: it is dropped, so sqlx tests it on its way back to the pool and
/// closes it if it is broken. A connection kept longer than [`POSTGRES_PING_AFTER_IDLE`] is given
/// back to the pool rather than used (there it is pinged before its next use), so a kept
/// connection is never older news than a pooled one.
///
/// The hot paths take turns for at most half the pool's connections, first come first served
/// (a fair semaphore), so the other paths (user look-ups, SSO sessions, the outbox) always find
/// the other half, and no hot statement waits behind others that keep finding a kept connection
/// first.
#[derive(Clone)]
pub(super) struct Kept {
    connections: Arc<Mutex<Vec<KeptConnection>>>,
    turns: Arc<Semaphore>,
    /// False for a pool of one (an in-memory SQLite database): nothing is kept, there are no
    /// turns to take, every connection goes back to the pool.
    keeps: bool,
    /// How long a kept connection is lent without a ping: [`POSTGRES_PING_AFTER_IDLE`], which
    /// tests move so that nothing they check depends on how fast the machine runs them.
    fresh_for: Duration,
}

/// A kept connection and since when.
type KeptConnection = (PoolConnection<Any>, Instant);

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("free_turns", &self.turns.available_permits())
            .finish()
    }
}

impl Kept {
    pub(super) fn new(turns: usize) -> Self {
        Self {
            connections: Arc::new(Mutex::new(Vec::with_capacity(turns))),
            turns: Arc::new(Semaphore::new(if turns == 0 {
                Semaphore::MAX_PERMITS
            } else {
                turns
            })),
            keeps: turns > 0,
            fresh_for: POSTGRES_PING_AFTER_IDLE,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<KeptConnection>> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connection kept last, if it is fresh. The others were kept before it, so when it is
    /// stale they all are: every one goes back to the pool.
    fn take(&self) -> Option<PoolConnection<Any>> {
        let mut kept = self.lock();
        let (conn, since) = kept.pop()?;
        if since.elapsed() < self.fresh_for {
            return Some(conn);
        }
        let stale: Vec<_> = kept.drain(..).collect();
        drop(kept);
        // Dropped outside the lock: each one's way back to the pool is a task of its own.
        drop((conn, stale));
        None
    }

    pub(super) fn drain(&self) -> Vec<KeptConnection> {
        self.lock().drain(..).collect()
    }

    /// How many connections are kept now.
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// A connection lent by [`Db::hot_connection`], with its turn.
pub(crate) struct HotConnection {
    conn: Option<PoolConnection<Any>>,
    kept: Kept,
    _turn: OwnedSemaphorePermit,
}

impl HotConnection {
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        self.conn
            .as_mut()
            .expect("a hot connection is kept only once")
    }

    /// Its statement succeeded: keep the connection for the next turn.
    pub(crate) fn keep(mut self) {
        if let Some(conn) = self.conn.take() {
            if self.kept.keeps {
                self.kept.lock().push((conn, Instant::now()));
            }
        }
    }

    /// Closes the connection instead of giving it back (rolling back whatever it began).
    pub(crate) async fn close(mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseUrl;

    /// A database whose kept connections stay fresh for an hour: a test that checks which
    /// connection is lent must not see it go stale because the machine paused for a second.
    async fn sqlite(dir: &tempfile::TempDir) -> Db {
        sqlite_fresh_for(dir, Duration::from_secs(3600)).await
    }

    async fn sqlite_fresh_for(dir: &tempfile::TempDir, fresh_for: Duration) -> Db {
        let url = format!("sqlite://{}", dir.path().join("kept.db").display());
        let mut db = Db::connect(&DatabaseUrl::parse(&url).unwrap())
            .await
            .unwrap();
        db.kept.fresh_for = fresh_for;
        db
    }

    async fn select_one(db: &Db) -> HotConnection {
        let mut hot = db.hot_connection().await.unwrap();
        sqlx::query("SELECT 1").execute(hot.conn()).await.unwrap();
        hot
    }

    #[tokio::test]
    async fn a_connection_whose_statement_succeeded_is_kept_and_lent_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        select_one(&db).await.keep();
        assert_eq!(db.kept.len(), 1);
        let again = db.hot_connection().await.unwrap();
        assert_eq!(
            db.kept.len(),
            0,
            "the kept connection was lent, not a new one"
        );
        again.keep();
        assert_eq!(db.kept.len(), 1);
        db.close().await;
    }

    #[tokio::test]
    async fn the_hot_paths_take_turns_for_half_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        let mut lent = Vec::new();
        for _ in 0..4 {
            lent.push(select_one(&db).await);
        }
        // A fifth waits for a turn, while the other half of the pool serves everything else.
        let fifth = tokio::time::timeout(Duration::from_millis(200), db.hot_connection()).await;
        assert!(fifth.is_err(), "a fifth hot connection at once");
        let one: i64 = sqlx::query_scalar("SELECT 1")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(one, 1);
        for hot in lent {
            hot.keep();
        }
        assert_eq!(db.kept.len(), 4);
        drop(db.hot_connection().await.unwrap());
        assert_eq!(
            db.kept.len(),
            3,
            "a turn came free and took a kept connection"
        );
        db.close().await;
    }

    #[tokio::test]
    async fn a_pool_of_one_keeps_nothing() {
        let db = Db::connect(&DatabaseUrl::parse("sqlite::memory:").unwrap())
            .await
            .unwrap();
        select_one(&db).await.keep();
        assert_eq!(db.kept.len(), 0);
        let one: i64 = sqlx::query_scalar("SELECT 1")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(one, 1, "the only connection went back to the pool");
        db.close().await;
    }

    #[tokio::test]
    async fn a_connection_whose_statement_failed_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        let mut hot = db.hot_connection().await.unwrap();
        assert!(sqlx::query("SELECT * FROM no_such_table")
            .execute(hot.conn())
            .await
            .is_err());
        drop(hot);
        assert_eq!(db.kept.len(), 0);
        db.close().await;
    }

    #[tokio::test]
    async fn a_connection_kept_too_long_goes_back_to_the_pool_with_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_fresh_for(&dir, Duration::from_millis(50)).await;
        let (a, b) = (select_one(&db).await, select_one(&db).await);
        a.keep();
        b.keep();
        assert_eq!(db.kept.len(), 2);
        // Past the freshness of both (a lower bound: a slower machine only waits longer).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let fresh = db.hot_connection().await.unwrap();
        assert_eq!(db.kept.len(), 0, "both stale connections were given back");
        drop(fresh);
        db.close().await;
    }

    #[tokio::test]
    async fn closing_does_not_wait_for_kept_connections() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir).await;
        select_one(&db).await.keep();
        tokio::time::timeout(Duration::from_secs(10), db.close())
            .await
            .expect("the pool closed with a connection kept");
    }
}
