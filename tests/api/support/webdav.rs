//! A real WebDAV server laid out as Nextcloud's: wsgidav under cheroot (PyPI `wsgidav`,
//! `cheroot`, which `scripts/test` installs) running tests/webdav/nextcloud_dav.py, with each
//! user's files at `/remote.php/dav/files/{uid}/` and `{root}/{uid}/` on disk. It checks every
//! bearer token at the provider's userinfo endpoint, as user_oidc does with `--check-bearer=1`,
//! and takes the user id from the claim `uid_claim`.
//!
//! It binds a free port itself and says which on its first line of output, so no port is
//! released and taken again; it is probed until it answers, has a temporary folder of its own
//! (the files, its log) and is killed when dropped (and exits by itself if the test process
//! dies first: its standard input closes). Without wsgidav the tests that need it skip
//! with a message, except in CI, where they fail.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How a [`DavServer`] authenticates and how much each user may store.
#[derive(Clone, Debug)]
pub struct DavOptions {
    /// The provider's userinfo endpoint (`{hub}/api/v1/sso/userinfo`).
    pub userinfo_url: String,
    /// The userinfo claim that is the Nextcloud user id (`preferred_username`, `sub`, `email`).
    pub uid_claim: String,
    /// Each user's quota; `None` for unlimited.
    pub quota_bytes: Option<u64>,
}

pub struct DavServer {
    child: Child,
    /// Held open for the server's life: it exits when this closes, even if the test process
    /// dies without dropping it.
    _stdin: ChildStdin,
    url: String,
    dir: tempfile::TempDir,
}

impl DavServer {
    /// A fresh server with no files, or `None` (with a message) when wsgidav is not installed
    /// outside CI.
    pub async fn start(options: DavOptions) -> Option<Self> {
        let python = super::python::with_modules(
            "wsgidav, cheroot",
            // Two packages: the skip message quotes this as one argument of `pip install`.
            "wsgidav>=4,<5' 'cheroot>=11,<12",
            "run the Nextcloud files tests",
        )?;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webdav/nextcloud_dav.py");
        let mut command = Command::new(&python);
        command
            .arg(script)
            .arg("--root")
            .arg(dir.path().join("root"))
            .arg("--parts-dir")
            .arg(dir.path().join("parts"))
            .args(["--userinfo-url", &options.userinfo_url])
            .args(["--uid-claim", &options.uid_claim])
            .arg("--port-file")
            .arg(dir.path().join("port"))
            .arg("--log-file")
            .arg(dir.path().join("dav.log"))
            // Its modules are imported from the source tree, which gets no __pycache__.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(quota) = options.quota_bytes {
            command.args(["--quota-bytes", &quota.to_string()]);
        }
        let mut child = command.spawn().expect("starting the WebDAV server");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        // The line comes once the port is bound and listening; a server that dies first closes
        // its output, which ends the read.
        let announced = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = match tokio::time::timeout(Duration::from_secs(60), announced).await {
            Ok(read) => read.unwrap().unwrap_or_default(),
            Err(_) => {
                let _ = child.kill();
                String::new()
            }
        };
        let Some(port) = line.trim().strip_prefix("listening on 127.0.0.1:") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the WebDAV server did not start ({line:?}); its log:\n{}",
                log_of(dir.path())
            );
        };
        let mut server = Self {
            child,
            _stdin: stdin,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        server.wait_until_up().await;
        Some(server)
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash; files are under
    /// `{url}/remote.php/dav/files/{uid}/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The folder holding one home per user.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// `uid`'s home on disk (made at their first authenticated request, or by the test).
    pub fn user_dir(&self, uid: &str) -> PathBuf {
        self.root().join(uid)
    }

    /// What the server logged (requests, refusals; never tokens), for a failing test.
    pub fn log(&self) -> String {
        log_of(self.dir.path())
    }

    /// Up once an unauthenticated request is answered (401).
    async fn wait_until_up(&mut self) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let probe = http
                .get(format!("{}/remote.php/dav/", self.url))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status() == reqwest::StatusCode::UNAUTHORIZED) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the WebDAV server exited before answering: {status}\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the WebDAV server did not answer within 30 s\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("dav.log")).unwrap_or_default()
}

impl Drop for DavServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
