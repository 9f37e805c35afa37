//! The real app on port 0, set up by one builder: which database, which clock, which
//! configuration. The builder starts it on storage of its own (`start`, `start_sso`) or on a
//! database and keys folder the test holds, for a restart or a second node (`start_on`).

use std::path::{Path, PathBuf};

use bheem_sso::app::signing_keys::{self, Start};
use bheem_sso::app::{self, AppState};
use bheem_sso::clock::Clock;
use tokio::sync::oneshot;

use super::config::{ClientSpec, TestConfig};
use super::db::{Backend, TestDb};
use super::sso::{standard_clients, Sso};

/// A running bheem-sso: its address, its state, and the folder its keys live in.
pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub http: reqwest::Client,
    pub keys_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A second server over a test app's state ([`TestApp::serve_workspace_routes`]); stopped when
/// dropped.
pub struct Beside {
    pub base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Beside {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for Beside {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A test app with a database and a keys folder of its own, both gone when it is dropped.
pub struct Harness {
    pub app: TestApp,
    pub db: TestDb,
    pub keys: tempfile::TempDir,
}

/// How a test app is set up. Without a word from the test: SQLite, the system clock, cheap
/// password hashes and no clients.
#[must_use]
pub struct AppBuilder {
    backend: Backend,
    clock: Clock,
    config: TestConfig,
}

impl TestApp {
    pub fn builder() -> AppBuilder {
        let mut config = TestConfig::default();
        // Cheap hashes keep the suite fast; a test about hashing sets its own.
        config
            .set("password.memory_kib", 8192)
            .set("password.iterations", 1);
        AppBuilder {
            backend: Backend::Sqlite,
            clock: Clock::System,
            config,
        }
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

    /// The kid of the key that signs now, by the app's clock.
    pub fn signing_kid(&self) -> String {
        self.state
            .keys()
            .signing(self.state.clock.now())
            .kid
            .clone()
    }

    /// Rotates the signing keys as `keys rotate` does (`--now` when `at_once`), at the app's
    /// clock; the new key's kid. This node has it at once; others at their next refresh.
    pub async fn rotate_keys(&self, at_once: bool) -> String {
        let start = if at_once { Start::Now } else { Start::TwoStage };
        let grace = self.state.config.key_grace_seconds;
        signing_keys::rotate(
            &self.state.keys,
            &self.state.db,
            grace,
            self.state.clock.now(),
            start,
        )
        .await
        .unwrap()
        .expect("no other rotation at the same moment")
        .kid
    }

    /// Reads the keys from the database again, as SIGHUP does.
    pub async fn reload_keys(&self) {
        let grace = self.state.config.key_grace_seconds;
        signing_keys::reload(&self.state.keys, &self.state.db, grace)
            .await
            .unwrap();
    }

    /// This app's router with `routes` merged among the workspace APIs' (under their body limit
    /// and error shape), served on a port of its own over this app's state: its keys, database,
    /// clock and configuration. Tokens the app issued are this server's tokens too. How a test
    /// drives the extractors the workspace areas share with a handler of its own.
    pub async fn serve_workspace_routes(&self, routes: axum::Router<AppState>) -> Beside {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = app::build_router_with(self.state.clone(), routes);
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Beside { base, server }
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

impl AppBuilder {
    /// The database `start` makes; SQLite unless set.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// A clock the test moves (`Clock::manual`).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets an environment variable the server reads: `.env(KEK_ENV, &kek)`.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.config.env(name, value);
        self
    }

    /// Sets one key of the configuration file: `.set("session.idle_seconds", 600)`.
    pub fn set(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.config.set(key, value);
        self
    }

    /// Edits the configuration with a function, for settings a helper shares among tests.
    pub fn config(mut self, edit: impl FnOnce(&mut TestConfig)) -> Self {
        edit(&mut self.config);
        self
    }

    pub fn client(mut self, client: ClientSpec) -> Self {
        self.config.client(client);
        self
    }

    pub fn clients(self, clients: impl IntoIterator<Item = ClientSpec>) -> Self {
        clients.into_iter().fold(self, Self::client)
    }

    /// Starts the app on a fresh database of the backend and a fresh keys folder. `None` when
    /// the backend is not available here (PostgreSQL outside CI).
    pub async fn start(self) -> Option<Harness> {
        let db = TestDb::new(self.backend).await?;
        let keys = tempfile::tempdir().unwrap();
        let app = self.start_on(&db.url, keys.path()).await;
        Some(Harness { app, db, keys })
    }

    /// As [`AppBuilder::start`], with the SSO tests' relying parties registered after the
    /// test's own clients, and alice in the directory.
    pub async fn start_sso(self) -> Option<Sso> {
        let harness = self.clients(standard_clients()).start().await?;
        Some(Sso::around(harness).await)
    }

    /// Starts the app on a database and keys folder that the test holds: the same one again
    /// after a restart, or several nodes of one deployment.
    pub async fn start_on(&self, database_url: &str, keys_dir: &Path) -> TestApp {
        self.try_start_on(database_url, keys_dir).await.unwrap()
    }

    /// As [`AppBuilder::start_on`], for a test of what stops the start-up.
    pub async fn try_start_on(
        &self,
        database_url: &str,
        keys_dir: &Path,
    ) -> anyhow::Result<TestApp> {
        super::leaks::capture_logs();
        // Bound first, so the issuer can carry the real port.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let base = format!("http://{addr}");
        let mut config = self.config.clone();
        // Several nodes behind one load balancer set its address as their issuer.
        if !config.is_set("issuer") {
            config.set("issuer", base.as_str());
        }
        config
            .set("listen", addr.to_string())
            .set("database_url", database_url)
            .set("keys_dir", keys_dir.display().to_string());
        let state = app::build_state(config.load()?, self.clock.clone()).await?;
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app::serve(state.clone(), listener, async {
            let _ = rx.await;
        }));
        Ok(TestApp {
            base,
            state,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            keys_dir: keys_dir.to_owned(),
            shutdown: Some(tx),
            server: Some(server),
        })
    }
}

/// A new key-encryption key, base64, noted as a secret the log must not hold.
pub fn new_kek() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    let kek = base64::engine::general_purpose::STANDARD.encode(bytes);
    super::leaks::remember(&kek);
    kek
}

/// The key-encryption key a node made in `keys_dir`, noted as a secret the log must not hold.
pub fn kek_in(keys_dir: &Path) -> String {
    let kek = std::fs::read_to_string(keys_dir.join(bheem_sso::keys::kek::KEK_FILE))
        .expect("the node made a key-encryption key")
        .trim()
        .to_owned();
    super::leaks::remember(&kek);
    kek
}
