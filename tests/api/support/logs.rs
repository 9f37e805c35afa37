//! The log lines a test's own server writes, read back by the test: what a refusal logs, and
//! that it logs no secret.
//!
//! A `#[tokio::test]` runs on one thread, the server it starts too, so the lines written on that
//! thread while a request is served are the ones a test reads (not the password-hashing threads'
//! lines, which no assertion here needs). They are taken from the one process-wide logger of
//! [`super::leaks::capture_logs`], which hands each line to the capture of the thread writing it.
//! Not a logger scoped to the thread: a span of such a logger, carried by sqlx to its SQLite
//! worker thread and entered there, is closed on exit through that thread's logger, the
//! process-wide one, which knows no such span and panics (`tracing-subscriber`'s registry closes
//! through the default dispatcher), killing the worker.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use serde_json::Value;

thread_local! {
    /// Where the lines written on this thread go besides the leak check's file, if anywhere.
    static CAPTURE: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
}

/// The capture of the thread a line is written on, for the process-wide logger's writer.
pub(super) fn this_threads_capture() -> Option<Arc<Mutex<Vec<u8>>>> {
    CAPTURE.with(|capture| capture.borrow().clone())
}

/// What the server logged on this thread since [`Logs::capture`], until dropped.
pub struct Logs {
    written: Arc<Mutex<Vec<u8>>>,
    /// The capture this one replaced on the thread, put back when it is dropped.
    outer: Option<Arc<Mutex<Vec<u8>>>>,
}

impl Logs {
    /// Starts capturing this thread's log lines, as JSON: at `trace` when the run checks for
    /// leaks, at `info` otherwise.
    #[must_use]
    pub fn capture() -> Self {
        super::leaks::capture_logs();
        let written = Arc::new(Mutex::new(Vec::new()));
        let outer = CAPTURE.with(|capture| capture.borrow_mut().replace(written.clone()));
        Self { written, outer }
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

impl Drop for Logs {
    fn drop(&mut self) {
        let outer = self.outer.take();
        CAPTURE.with(|capture| *capture.borrow_mut() = outer);
    }
}
