//! The tests' half of the leak check: with `BHEEM_TEST_LOG` set, every log line of the servers
//! the tests start in this process is written there at `trace`, as JSON; with
//! `BHEEM_TEST_SECRETS` set, every secret the harness uses or is given (passwords, client
//! secrets, codes, tokens, cookies) is added to that file, one per line. `scripts/test` sets both
//! for the whole run, then `scripts/check-logs-for-secrets` fails when any of those secrets, or
//! anything shaped like a JWT, is in the log.

use std::io::Write;
use std::sync::{Arc, Once};

use bheem_sso::config::LogFormat;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::EnvFilter;

/// Shorter strings would match by chance; every secret the tests use is longer.
const SHORTEST: usize = 12;

/// Installs the trace logger once per test process, if the run asks for one.
pub fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Some(path) = std::env::var_os("BHEEM_TEST_LOG") else {
            return;
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("opening BHEEM_TEST_LOG {path:?}: {e}"));
        // Everything at trace, except the cookie jar of the tests' own HTTP clients (reqwest's
        // `cookies` feature, a dev-dependency only), which logs each cookie it is given: that
        // is the browser's side, not the server's.
        bheem_sso::logging::install(
            LogFormat::Json,
            EnvFilter::new("trace,cookie_store=off"),
            BoxMakeWriter::new(Arc::new(file)),
            false,
        );
    });
}

/// Notes a secret the log must never contain.
pub(super) fn remember(secret: &str) {
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
