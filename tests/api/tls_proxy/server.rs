//! bheem-sso as the real binary, so that its log lines can be read as an operator reads them:
//! its standard error goes to a file.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::TestConfig;

const PATIENCE: Duration = Duration::from_secs(60);

/// The running binary. Stopped (SIGTERM, then waited for) when dropped.
pub struct Server {
    process: Child,
    log: PathBuf,
    pub addr: SocketAddr,
}

/// The binary with the configuration file `config` and none of the caller's overrides.
fn bheem_sso(dir: &Path, config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bheem-sso"));
    for (name, _) in std::env::vars() {
        if name.starts_with("BHEEM_SSO_") {
            command.env_remove(name);
        }
    }
    command
        .current_dir(dir)
        .env("RUST_LOG", "info,sqlx=warn")
        .arg("--config")
        .arg(config);
    command
}

impl Server {
    /// Writes `config` into `dir`, adds the user `(email, username, company, password)` to its
    /// embedded directory, and serves on a port of its own choosing, read back from its
    /// "listening" line. It logs JSON, a line per request answered included.
    pub async fn start(dir: &Path, mut config: TestConfig, user: (&str, &str, &str, &str)) -> Self {
        config
            .set("listen", "127.0.0.1:0")
            .set("log_format", "json")
            .set("access_log", true)
            .set("database_url", format!("sqlite://{}/sso.db", dir.display()))
            .set("keys_dir", dir.join("keys").display().to_string());
        let file = dir.join("bheem-sso.toml");
        std::fs::write(&file, config.to_string()).unwrap();

        let (email, username, company, password) = user;
        // Admin commands act only on a database that exists: made first, as an operator would.
        let migrated = bheem_sso(dir, &file).arg("migrate").output().unwrap();
        assert!(
            migrated.status.success(),
            "migrate: {}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        let mut add = bheem_sso(dir, &file)
            .args(["users", "add", "--email", email, "--name", "Alice"])
            .args(["--username", username, "--company-id", company])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        add.stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        let added = add.wait_with_output().unwrap();
        assert!(
            added.status.success(),
            "users add: {}",
            String::from_utf8_lossy(&added.stderr)
        );

        let log = dir.join("bheem-sso.log");
        let process = bheem_sso(dir, &file)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = Self {
            process,
            log,
            addr: "0.0.0.0:0".parse().unwrap(),
        };
        let deadline = Instant::now() + PATIENCE;
        server.addr = loop {
            if let Some(addr) = listening_on(&server.log()) {
                break addr;
            }
            if let Some(status) = server.process.try_wait().unwrap() {
                panic!("bheem-sso exited ({status}):\n{}", server.log());
            }
            assert!(
                Instant::now() < deadline,
                "bheem-sso never listened:\n{}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        server
    }

    /// Everything it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Each line of a JSON log (`log_format = "json"`); a line that is not JSON is a failure.
pub fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The `address` of the "bheem-sso listening" line.
fn listening_on(log: &str) -> Option<SocketAddr> {
    // The last line may be half written.
    let complete = &log[..log.rfind('\n')? + 1];
    json_lines(complete)
        .into_iter()
        .find(|line| line["message"] == "bheem-sso listening")?["address"]
        .as_str()?
        .parse()
        .ok()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.process.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.process.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
