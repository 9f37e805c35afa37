//! The tests' half of the leak check: with `BHEEM_TEST_LOG` set, every log line of the servers
//! the tests start in this process is written there at `trace`, as JSON; with
//! `BHEEM_TEST_SECRETS` set, every secret the harness uses or is given (passwords, client
//! secrets, codes, tokens, cookies) is added to that file, one per line. `scripts/test` sets both
//! for the whole run, then `scripts/check-logs-for-secrets` fails when any of those secrets, or
//! anything shaped like a JWT, is in the log.

use std::io::Write;
use std::sync::{Arc, Mutex, Once};

use bheem_sso::config::LogFormat;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Shorter strings would match by chance; every secret the tests use is longer.
const SHORTEST: usize = 12;

/// Installs the process's one logger, once: with `BHEEM_TEST_LOG` set, every line at `trace`
/// to that file; and each line to the [`super::logs::Logs`] capturing the thread it is written
/// on, if one does (at `info` when no file is asked for).
pub fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let file = std::env::var_os("BHEEM_TEST_LOG").map(|path| {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("opening BHEEM_TEST_LOG {path:?}: {e}"));
            Arc::new(file)
        });
        // Everything, except the cookie jar of the tests' own HTTP clients (reqwest's `cookies`
        // feature, a dev-dependency only), which logs each cookie it is given: that is the
        // browser's side, not the server's. Likewise async-imap (a dev-dependency only, the
        // mail servers' self-tests speak IMAP with it), which traces every command it sends,
        // LOGIN with its password: that is the mail client's side.
        let level = if file.is_some() { "trace" } else { "info" };
        bheem_sso::logging::install(
            LogFormat::Json,
            EnvFilter::new(format!("{level},cookie_store=off,async_imap=off")),
            BoxMakeWriter::new(Lines { file }),
            false,
        );
    });
}

/// Where the process's logger writes: the leak check's file, if any, and the capture of the
/// writing thread, if any.
struct Lines {
    file: Option<Arc<std::fs::File>>,
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            file: self.file.clone(),
            capture: super::logs::this_threads_capture(),
        }
    }
}

/// One line's destinations, taken on the thread writing it.
struct Line {
    file: Option<Arc<std::fs::File>>,
    capture: Option<Arc<Mutex<Vec<u8>>>>,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Some(capture) = &self.capture {
            capture.lock().unwrap().extend_from_slice(bytes);
        }
        if let Some(file) = &self.file {
            // One write per line: lines from parallel tests do not interleave (O_APPEND).
            (&**file).write_all(bytes)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Notes a secret the log must never contain.
pub fn remember(secret: &str) {
    if secret.len() < SHORTEST || secret.contains('\n') {
        return;
    }
    let Some(path) = std::env::var_os("BHEEM_TEST_SECRETS") else {
        return;
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("opening BHEEM_TEST_SECRETS {path:?}: {e}"));
    // One write per line: lines from parallel tests do not interleave (O_APPEND).
    file.write_all(format!("{secret}\n").as_bytes())
        .expect("writing BHEEM_TEST_SECRETS");
}

/// Notes the value of each cookie a response sets.
pub(super) fn remember_cookies(response: &reqwest::Response) {
    for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
        if let Some(cookie) = value.to_str().ok().and_then(|v| v.split(';').next()) {
            if let Some((_, value)) = cookie.split_once('=') {
                remember(value);
            }
        }
    }
}
