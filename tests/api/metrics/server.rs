//! A bheem-sso process of the tests' own, with alice, and the scrape read back: a series' value
//! by its name and labels.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Backend, TestConfig, TestDb};

const COMPANY: &str = "0b6c1f0e-2f57-4f43-9a49-6a0e2f1f3c55";
pub const ALICE: &str = "alice@acme.example";
pub const PASSWORD: &str = "alice-password-1";
pub const SECRET: &str = "rp-secret-0123456789abcdef";
pub const WORKSPACE: &str = "bheem-workspace";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary in `dir`, with no `BHEEM_SSO_*` variable of the test's environment.
pub fn bheem_sso(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bheem-sso"));
    command.current_dir(dir).env("RUST_LOG", "info");
    for (name, _) in std::env::vars() {
        if name.starts_with("BHEEM_SSO_") {
            command.env_remove(name);
        }
    }
    command
}

/// A bheem-sso process in a folder of its own, stopped (SIGTERM) when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    /// What it logs, read as it comes so the pipe never fills.
    log: Option<std::thread::JoinHandle<String>>,
    _db: TestDb,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    /// Writes `config` (with its listener, database and keys), adds alice, starts `serve` (with
    /// the environment variables `config` sets) and waits until the site answers. `None` where
    /// the backend is not available.
    pub async fn start(backend: Backend, mut config: TestConfig) -> Option<Self> {
        let db = TestDb::new(backend).await?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        config
            .set("issuer", base.as_str())
            .set("listen", format!("127.0.0.1:{port}"))
            .set("database_url", db.url.as_str())
            .set("keys_dir", dir.path().join("keys").display().to_string())
            .set("password.memory_kib", 8192)
            .set("password.iterations", 1);
        std::fs::write(dir.path().join("bheem-sso.toml"), config.to_string()).unwrap();
        // Admin commands act only on a database that exists: made first, as an operator would.
        let migrated = bheem_sso(dir.path())
            .arg("migrate")
            .envs(config.env_vars())
            .output()
            .unwrap();
        assert!(
            migrated.status.success(),
            "{}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        let mut add = bheem_sso(dir.path())
            .args(["users", "add", "--email", ALICE, "--name", "Alice"])
            .envs(config.env_vars())
            .args(["--company-id", COMPANY, "--username", "alice"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        let added = add.wait_with_output().unwrap();
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
        let mut child = bheem_sso(dir.path())
            .arg("serve")
            .envs(config.env_vars())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::thread::spawn(move || {
            let lines: Vec<String> = BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .collect();
            lines.join("\n")
        });
        let mut server = Self {
            child,
            base,
            dir,
            log: Some(log),
            _db: db,
        };
        server.wait_for(port);
        Some(server)
    }

    /// Probes `port` until it takes connections.
    pub fn wait_for(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nothing listens on {port}");
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the server exited"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and returns what it logged.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        let log = self.log.take().unwrap().join().unwrap();
        assert!(status.success(), "{status:?}\n{log}");
        log
    }
}

/// One line of the text format, `name{label="value",…} value`, as a name, its labels and its
/// value. Comments and blank lines are `None`.
fn sample(line: &str) -> Option<(String, BTreeMap<String, String>, f64)> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let (name, labels) = match series.split_once('{') {
        Some((name, labels)) => (name, labels.strip_suffix('}')?),
        None => (series, ""),
    };
    let labels = labels
        .split("\",")
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once("=\"").expect("label=\"value\"");
            (key.to_owned(), value.trim_end_matches('"').to_owned())
        })
        .collect();
    Some((name.to_owned(), labels, value.parse().ok()?))
}

/// The value of the series `name` with exactly `labels` in the scrape `text`.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    text.lines()
        .filter_map(sample)
        .find(|(n, l, _)| n == name && *l == wanted)
        .map(|(_, _, v)| v)
}

pub async fn scrape(metrics: &str) -> String {
    let response = reqwest::get(format!("{metrics}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}
