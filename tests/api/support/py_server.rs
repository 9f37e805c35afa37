//! A server the tests run as a Python script (the WebDAV and CalDAV servers laid out as
//! Nextcloud's): started, awaited and stopped the same way for each.
//!
//! The script binds a free port itself and says which on its first line of output
//! (`listening on 127.0.0.1:PORT`), so no port is released and taken again; it is then probed
//! until it answers, has a temporary folder of its own (its data, its log) and is killed when
//! dropped (and exits by itself if the test process dies first: its standard input closes).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PyServer {
    child: Child,
    /// Held open for the server's life: it exits when this closes, even if the test process
    /// dies without dropping it.
    _stdin: ChildStdin,
    url: String,
    dir: tempfile::TempDir,
    /// The log file's name in `dir`.
    log_name: &'static str,
    /// What the server is, for the messages ("the WebDAV server").
    what: &'static str,
}

impl PyServer {
    /// Runs `command` (the script and its arguments; its log goes to `log_name` in `dir`) and
    /// waits for its announcement, then until `GET {url}{probe}` answers `expected`.
    pub async fn start(
        mut command: Command,
        dir: tempfile::TempDir,
        log_name: &'static str,
        what: &'static str,
        probe: &str,
        expected: reqwest::StatusCode,
    ) -> Self {
        command
            // Its modules are imported from the source tree, which gets no __pycache__.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
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
                "{what} did not start ({line:?}); its log:\n{}",
                log_of(dir.path(), log_name)
            );
        };
        let mut server = Self {
            child,
            _stdin: stdin,
            url: format!("http://127.0.0.1:{port}"),
            dir,
            log_name,
            what,
        };
        server.wait_until_up(probe, expected).await;
        server
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's temporary folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the server logged (requests, refusals; never tokens), for a failing test.
    pub fn log(&self) -> String {
        log_of(self.dir.path(), self.log_name)
    }

    async fn wait_until_up(&mut self, probe: &str, expected: reqwest::StatusCode) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let what = self.what;
        loop {
            let answer = http.get(format!("{}{probe}", self.url)).send().await;
            if answer.is_ok_and(|r| r.status() == expected) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{what} exited before answering: {status}\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not answer within 30 s\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn log_of(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
