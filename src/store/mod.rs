//! The provider's own state, in SQLite (embedded default) or PostgreSQL (production and
//! scale-out). The SQL is written once against sqlx's `Any` driver: ids are text, times are
//! Unix seconds in 64-bit integers, flags are 0/1 integers, so both backends read the same.
//!
//! One module per entity; the pool is opened here, and its kept connections for the hot paths
//! are in `hot_connections`.

pub mod access_tokens;
pub mod audit_events;
pub mod backup;
pub mod calendar_events;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod docs_documents;
pub mod grants;
mod group_commit;
mod hot_connections;
pub mod http_sessions;
mod lookup;
pub mod mailboxes;
pub mod meet_recordings;
pub mod meet_rooms;
pub mod migrations;
pub mod outbox;
pub mod refresh_tokens;
pub mod sessions;
pub mod signing_keys;
pub mod users;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};

use crate::config::{Backend, DatabaseUrl};
use crate::telemetry::PoolLoad;
use hot_connections::Kept;

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

    /// The migrations embedded in the binary for this backend.
    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        self.migrator()
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

    /// The pool's connections now, for the metrics: the kept ones are out of sqlx's pool, which
    /// counts them as in use.
    pub fn pool_load(&self) -> PoolLoad {
        let open = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle())
            .unwrap_or(u32::MAX)
            .min(open);
        let kept = u32::try_from(self.kept.len())
            .unwrap_or(u32::MAX)
            .min(open - idle);
        PoolLoad {
            max: self.pool.options().get_max_connections(),
            idle,
            kept,
            busy: open - idle - kept,
        }
    }

    pub async fn close(&self) {
        // The pool's close waits for every connection it lent, kept ones too.
        drop(self.kept.drain());
        self.pool.close().await;
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
