//! The log lines a test's own server writes, read back by the test: what a refusal logs, and
//! that it logs no secret.
//!
//! A `#[tokio::test]` runs on one thread, the server it starts too, so a logger scoped to that
//! thread sees every line written while a request is served (not the password-hashing threads'
//! lines, which no assertion here needs). The lines also go to the leak check's file, as the
//! process-wide logger of [`super::leaks::capture_logs`] would have written them.

use std::io::Write;
use std::sync::{Arc, Mutex};

use bheem_sso::config::LogFormat;
use serde_json::Value;
use tracing::dispatcher::DefaultGuard;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::EnvFilter;

/// What the server logged on this thread since [`Logs::capture`], until dropped.
pub struct Logs {
    written: Arc<Mutex<Vec<u8>>>,
    _scope: DefaultGuard,
}

impl Logs {
    /// Starts capturing this thread's log lines, as JSON at `trace`.
    #[must_use]
    pub fn capture() -> Self {
        let written = Arc::new(Mutex::new(Vec::new()));
        let leak_log = std::env::var_os("BHEEM_TEST_LOG").map(|path| {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("opening BHEEM_TEST_LOG {path:?}: {e}"));
            Arc::new(file)
        });
        let sink = Sink {
            written: written.clone(),
            leak_log,
        };
        let logger = bheem_sso::logging::logger(
            LogFormat::Json,
            // As the leak check's own: the test client's cookie jar is not the server's.
            EnvFilter::new("trace,cookie_store=off"),
            BoxMakeWriter::new(move || sink.clone()),
            false,
        );
        Self {
            written,
            _scope: tracing::dispatcher::set_default(&logger),
        }
    }

    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.written.lock().unwrap()).into_owned()
    }

    /// The lines whose `message` starts with `message`.
    pub fn with_message_starting(&self, message: &str) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .filter(|line: &Value| {
                line["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(message))
            })
            .collect()
    }

    /// Fails when `secret` is anywhere in what was written; the suite's leak check looks for it
    /// too.
    pub fn assert_absent(&self, what: &str, secret: &str) {
        assert!(!secret.is_empty());
        super::leaks::remember(secret);
        let text = self.text();
        assert!(
            !text.contains(secret),
            "the {what} {secret:?} is in the log:\n{text}"
        );
    }
}

/// Each line to the test's buffer and, when the run checks for leaks, to that file.
#[derive(Clone)]
struct Sink {
    written: Arc<Mutex<Vec<u8>>>,
    leak_log: Option<Arc<std::fs::File>>,
}

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.written.lock().unwrap().extend_from_slice(bytes);
        if let Some(file) = &self.leak_log {
            // One write per line: lines from parallel tests do not interleave (O_APPEND).
            (&**file).write_all(bytes)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
