//! Spawning the real app on port 0, and the databases it runs on.

use std::path::PathBuf;

use bheem_sso::app::{self, AppState};
use bheem_sso::clock::Clock;
use bheem_sso::config::{Config, ConfigSource};
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::oneshot;

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

/// A running bheem-sso: its address, its state, and the folders it lives in.
pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub http: reqwest::Client,
    pub keys_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// How to set up a test app; `toml` is appended to the generated configuration.
pub struct AppOptions {
    pub database_url: String,
    pub keys_dir: PathBuf,
    pub toml: String,
    pub clock: Clock,
}

impl TestApp {
    /// Binds port 0 first, so the issuer can carry the real port.
    pub async fn spawn(options: AppOptions) -> anyhow::Result<Self> {
        Self::spawn_with_issuer(options, None).await
    }

    /// With an issuer of another address (several nodes behind one load balancer).
    pub async fn spawn_with_issuer(
        options: AppOptions,
        issuer: Option<&str>,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let base = format!("http://{addr}");
        // Cheap hashes keep the suite fast, unless a test sets its own.
        let password = if options.toml.contains("[password]") {
            ""
        } else {
            "[password]\nmemory_kib = 8192\niterations = 1\n"
        };
        let text = format!(
            // The test's own text first, so its top-level keys are not read into [password].
            "issuer = \"{base}\"\nlisten = \"{addr}\"\ndatabase_url = \"{}\"\nkeys_dir = \"{}\"\n{}\n{password}",
            options.database_url,
            options.keys_dir.display(),
            options.toml
        );
        let env: Vec<(String, String)> = issuer
            .map(|i| ("BHEEM_SSO_ISSUER".to_owned(), i.to_owned()))
            .into_iter()
            .collect();
        let config = Config::from_parts(&text, &env, ConfigSource::BuiltInDefaults)?;
        let state = bheem_sso::app::build_state(config, options.clock).await?;
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app::serve(state.clone(), listener, async {
            let _ = rx.await;
        }));
        Ok(Self {
            base,
            state,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            keys_dir: options.keys_dir,
            shutdown: Some(tx),
            server: Some(server),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request failed")
    }

    /// Graceful shutdown; waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

/// A test app on a fresh database of `backend`, with keys in a fresh folder. `None` when the
/// backend is not available here (PostgreSQL outside CI).
pub struct Harness {
    pub app: TestApp,
    pub db: TestDb,
    pub keys: tempfile::TempDir,
}

pub async fn spawn_app(backend: Backend) -> Option<Harness> {
    spawn_app_with(backend, "").await
}

pub async fn spawn_app_with(backend: Backend, toml: &str) -> Option<Harness> {
    spawn_app_with_clock(backend, toml, Clock::System).await
}

/// With a clock the test moves (`Clock::manual`).
pub async fn spawn_app_with_clock(backend: Backend, toml: &str, clock: Clock) -> Option<Harness> {
    let db = TestDb::new(backend).await?;
    let keys = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(AppOptions {
        database_url: db.url.clone(),
        keys_dir: keys.path().to_owned(),
        toml: toml.to_owned(),
        clock,
    })
    .await
    .unwrap();
    Some(Harness { app, db, keys })
}

/// [`bheem_sso::login::authenticate`] as a login from one address, with limits too generous
/// to get in the way: for tests of the directories themselves.
pub async fn check_login(
    directory: &dyn bheem_sso::directory::Directory,
    passwords: &bheem_sso::password::Passwords,
    login: &str,
    password: &str,
) -> bheem_sso::login::AuthOutcome {
    let limiter =
        bheem_sso::login_limits::LoginLimiter::new(&bheem_sso::config::LoginLimitConfig {
            per_account_per_minute: 1000,
            per_ip_per_minute: 1000,
            per_account_all_addresses_per_minute: 4000,
            device_cookie_days: 1,
        });
    let from = bheem_sso::login::LoginFrom {
        ip: std::net::Ipv4Addr::LOCALHOST.into(),
        device: None,
    };
    let password = secrecy::SecretString::from(password.to_owned());
    bheem_sso::login::authenticate(directory, passwords, &limiter, &from, login, &password)
        .await
        .unwrap()
}
