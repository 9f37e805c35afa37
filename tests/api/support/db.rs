//! The databases a test app runs on: a SQLite file, or a PostgreSQL database of its own.

use sqlx::{Connection, Executor, PgConnection};

/// Where the PostgreSQL tests connect. CI sets nothing and gets the local server.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of its own for one test: a SQLite file in a temporary folder, or a fresh
/// PostgreSQL database dropped when the test ends.
pub struct TestDb {
    pub url: String,
    name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/sso.db", dir.path().display());
                Some(Self {
                    url,
                    name: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A fresh PostgreSQL database. Without a server: skipped with a message, except in CI,
    /// where the PostgreSQL tests must run and a missing server is a failure.
    pub async fn postgres() -> Option<Self> {
        let admin = postgres_admin_url();
        let mut conn = match PgConnection::connect(&admin).await {
            Ok(conn) => conn,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("SKIPPED: no PostgreSQL at {admin} ({e}); set TEST_POSTGRES_URL to run this test");
                return None;
            }
            Err(e) => panic!("CI must run the PostgreSQL tests, but {admin} is unreachable: {e}"),
        };
        let name = format!("bheem_test_{}", uuid::Uuid::new_v4().simple());
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        Some(Self {
            url: url.to_string(),
            name: Some(name),
            _dir: None,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else { return };
        // Drop runs outside async; a thread of its own gets a runtime for the DROP.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&postgres_admin_url()).await {
                    let _ = conn
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}
