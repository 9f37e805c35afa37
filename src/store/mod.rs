//! The provider's own state, in SQLite (embedded default) or PostgreSQL (production and
//! scale-out). The SQL is written once against sqlx's `Any` driver: ids are text, times are
//! Unix seconds in 64-bit integers, flags are 0/1 integers, so both backends read the same.
//!
//! Just over 500 lines: the pool, its kept connections for the hot paths and their tests read
//! together; the entities live in modules of their own.

pub mod clients;
mod group_commit;
pub mod http_sessions;
pub mod mailboxes;
pub mod outbox;
pub mod sso;
pub mod users;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions, Connection, Executor};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{Backend, DatabaseUrl};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a PostgreSQL connection may sit in the pool before it is pinged on its next use.
const POSTGRES_PING_AFTER_IDLE: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    kept: Kept,
    grants: group_commit::GrantQueue,
}

impl Db {
    /// Opens the pool. The SQLite file (and its folder) is created when missing, readable by its
    /// owner only. Connections are made lazily, so a database that is down at start gives 503s
    /// until it is back.
    pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = url.backend();
        let mut raw = url.expose().to_owned();
        // sqlx pings every connection it hands out (`test_before_acquire`) and again every one
        // given back. The ping on hand-out is dropped: a SQLite file cannot hang up, and a
        // PostgreSQL connection is pinged only after it sat idle (see below), as connection pools
        // such as HikariCP do. Each ping was a round trip to the connection's worker thread or to
        // PostgreSQL on every query (docs/benchmarks.md).
        let mut options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(3))
            .idle_timeout(Duration::from_secs(300))
            .min_connections(0)
            .test_before_acquire(false);
        match backend {
            Backend::Sqlite => {
                let in_memory = raw.contains(":memory:") || raw.contains("mode=memory");
                if !in_memory {
                    create_parent_dir(&raw)?;
                    // sqlx would create a missing file with SQLite's default mode, 0644 under
                    // the usual umask: tokens' and sessions' hashes, users' password hashes and
                    // e-mail addresses readable by every local user. Made here 0600 instead, and
                    // SQLite gives its -wal and -shm files the database file's mode.
                    if !raw.contains("mode=") || raw.contains("mode=rwc") {
                        create_private_file(sqlite_path(&raw))?;
                    }
                    if !raw.contains("mode=") {
                        raw.push_str(if raw.contains('?') {
                            "&mode=rwc"
                        } else {
                            "?mode=rwc"
                        });
                    }
                }
                // An in-memory database lives in one connection; files get a few readers.
                options = options
                    .max_connections(if in_memory { 1 } else { 8 })
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                                 PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;",
                            )
                            .await?;
                            Ok(())
                        })
                    });
                if in_memory {
                    // Keep the one connection (and so the database) for the life of the pool.
                    options = options.idle_timeout(None).max_lifetime(None);
                }
            }
            Backend::Postgres => {
                // A connection idle for a while may have been cut (a restart of PostgreSQL, a
                // firewall's idle timeout): check it before use, so that costs a retry here and
                // not a failed request. A connection in steady use is not pinged.
                options = options.max_connections(16).before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= POSTGRES_PING_AFTER_IDLE {
                            conn.ping().await?;
                        }
                        Ok(true)
                    })
                });
            }
        }
        let connect_options: AnyConnectOptions = raw
            .parse::<AnyConnectOptions>()
            .with_context(|| format!("parsing database_url {}", url.redacted()))?
            .disable_statement_logging();
        let pool = options.connect_lazy_with(connect_options);
        let kept = Kept::new(pool.options().get_max_connections() as usize / 2);
        Ok(Self {
            pool,
            backend,
            kept,
            grants: group_commit::GrantQueue::default(),
        })
    }

    /// A connection for one statement on a hot path (a token look-up, a grant's write, a browser
    /// session's read or write): one kept from an earlier such statement when there is a fresh
    /// one, else one from the pool. Give it back with [`HotConnection::keep`] once its statement
    /// succeeded; dropped instead, it goes back to the pool, through sqlx's test, as any pooled
    /// connection does.
    pub(crate) async fn hot_connection(&self) -> Result<HotConnection, sqlx::Error> {
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

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .context("running database migrations")
    }

    /// One round trip, for readiness.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context("database ping")?;
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        // The pool's close waits for every connection it lent, kept ones too.
        drop(self.kept.drain());
        self.pool.close().await;
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
struct Kept {
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
    fn new(turns: usize) -> Self {
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

    fn drain(&self) -> Vec<KeptConnection> {
        self.lock().drain(..).collect()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
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

/// The file a `sqlite:` URL names.
fn sqlite_path(raw: &str) -> &str {
    raw.trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default()
}

fn create_parent_dir(raw: &str) -> anyhow::Result<()> {
    let path = sqlite_path(raw);
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the database folder {}", parent.display()))?;
    }
    Ok(())
}

/// Creates the database file empty (which SQLite reads as an empty database), readable and
/// writable by its owner only, unless it exists: an existing file is left as it is (an operator
/// may have reasons), and a warning says so when other users may read or write it.
fn create_private_file(path: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Ok(meta) = std::fs::metadata(path) {
                    let mode = meta.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        tracing::warn!(
                            path,
                            mode = format!("{mode:o}"),
                            "the database file is open to other users; chmod 600 it"
                        );
                    }
                }
            }
            Err(e) => {
                return Err(e).with_context(|| format!("creating the database file {path}"));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Whether `e` is PostgreSQL's `deadlock_detected` (40P01): the transaction was aborted to break
/// a cycle of locks, and trying it again is the cure.
pub(crate) fn is_deadlock(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("40P01"))
}

/// [`is_deadlock`] anywhere in the chain of `e`.
pub(crate) fn caused_by_deadlock(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|cause| cause.downcast_ref::<sqlx::Error>().is_some_and(is_deadlock))
}

/// Whether a database error is a unique-constraint violation, on either backend.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db
                    .code()
                    .is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
