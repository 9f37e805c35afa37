//! Health endpoints for load balancers and orchestrators:
//!
//! - `/health/live`: the process answers. No I/O, so a database outage never gets the process
//!   restarted (which would not bring the database back).
//! - `/health/ready`: the provider can serve logins: the database and the user directory answer,
//!   a signing key is loaded, and every migration embedded in the binary is applied. A load
//!   balancer sends no traffic to a node that is not ready.
//! - `/health`: the database and the directory, as it always was, for what already polls it.
//!
//! The directory is `error`, with a `reason`, when it answers but its table is not what the
//! configuration says (a column missing, a grant missing): every login would fail with a 500
//! while it looked `ok`. The reason names configuration keys, tables and columns, never a host
//! or a user, so it is shown; other causes are only logged.

use std::future::Future;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::directory::PingError;
use crate::http::AppState;
use crate::oidc::paths;
use crate::store::migrations::MigrationStatus;

/// How long each check may take before it counts as failed.
const LIMIT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::HEALTH, get(health))
        .route(paths::HEALTH_LIVE, get(live))
        .route(paths::HEALTH_READY, get(ready))
}

/// The outcome of one check against something outside the process.
enum Check<T> {
    Ok(T),
    Unavailable,
    Timeout,
    /// It answers, but not as the configuration says; the reason is safe to show.
    Misconfigured(String),
}

impl<T> Check<T> {
    /// Runs `probe` within [`LIMIT`]; a failure is logged with its cause, which the body leaves
    /// out (it may name hosts and users).
    async fn run(what: &str, probe: impl Future<Output = anyhow::Result<T>>) -> Self {
        match tokio::time::timeout(LIMIT, probe).await {
            Ok(Ok(value)) => Check::Ok(value),
            Ok(Err(e)) => {
                tracing::warn!(
                    check = what,
                    error = format!("{e:#}"),
                    "health check failed"
                );
                Check::Unavailable
            }
            Err(_) => {
                tracing::warn!(check = what, limit = ?LIMIT, "health check timed out");
                Check::Timeout
            }
        }
    }

    fn word(&self) -> &'static str {
        match self {
            Check::Ok(_) => "ok",
            Check::Unavailable => "unavailable",
            Check::Timeout => "timeout",
            Check::Misconfigured(_) => "error",
        }
    }
}

/// The directory's check, told apart from a directory that does not answer.
async fn directory_check(state: &AppState) -> Check<()> {
    let probe = async {
        match state.directory.ping().await {
            Ok(()) => Ok(Ok(())),
            Err(PingError::Misconfigured(reason)) => Ok(Err(reason)),
            Err(PingError::Unavailable(e)) => Err(e),
        }
    };
    match Check::run("directory", probe).await {
        Check::Ok(Ok(())) => Check::Ok(()),
        Check::Ok(Err(reason)) => {
            tracing::error!(check = "directory", %reason, "health check failed");
            Check::Misconfigured(reason)
        }
        Check::Unavailable => Check::Unavailable,
        Check::Timeout => Check::Timeout,
        Check::Misconfigured(reason) => Check::Misconfigured(reason),
    }
}

/// `{"kind": …, "status": …}`, and the `reason` when the directory is misconfigured.
fn directory_body(state: &AppState, check: &Check<()>) -> Value {
    let mut body = json!({ "kind": state.directory.kind(), "status": check.word() });
    if let Check::Misconfigured(reason) = check {
        body["reason"] = json!(reason);
    }
    body
}

fn no_store(code: StatusCode, body: Value) -> impl IntoResponse {
    (code, [(header::CACHE_CONTROL, "no-store")], Json(body))
}

fn status_code(healthy: bool) -> StatusCode {
    if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn live() -> impl IntoResponse {
    no_store(StatusCode::OK, json!({ "status": "ok" }))
}

/// 200 while the provider's database and the user directory answer, 503 while either does not.
/// The pools reconnect by themselves when the database returns.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let (database, directory) = tokio::join!(
        Check::run("database", state.db.ping()),
        directory_check(&state),
    );
    let healthy = matches!((&database, &directory), (Check::Ok(()), Check::Ok(())));
    no_store(
        status_code(healthy),
        json!({
            "status": if healthy { "ok" } else { "unavailable" },
            "database": database.word(),
            "directory": directory_body(&state, &directory),
        }),
    )
}

/// 200 when every check passes; otherwise 503, with `not_ready` naming the checks that failed.
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let (database, directory, migrations) = tokio::join!(
        Check::run("database", state.db.ping()),
        directory_check(&state),
        Check::run("migrations", state.db.migration_status()),
    );
    // The ring never holds an empty set (a reload that finds no key keeps the old one); checked
    // all the same, since signing is what the provider is for.
    let keys_loaded = !state.keys().is_empty();
    let mut not_ready = Vec::new();
    if !matches!(database, Check::Ok(())) {
        not_ready.push("database");
    }
    if !matches!(directory, Check::Ok(())) {
        not_ready.push("directory");
    }
    if !keys_loaded {
        not_ready.push("keys");
    }
    let migrations = match &migrations {
        Check::Ok(status) => {
            if !status.is_complete() {
                not_ready.push("migrations");
            }
            migration_body(status)
        }
        failed => {
            not_ready.push("migrations");
            json!({ "status": failed.word() })
        }
    };
    let ready = not_ready.is_empty();
    no_store(
        status_code(ready),
        json!({
            "status": if ready { "ready" } else { "not_ready" },
            "not_ready": not_ready,
            "database": database.word(),
            "directory": directory_body(&state, &directory),
            "keys": if keys_loaded { "ok" } else { "none" },
            "migrations": migrations,
        }),
    )
}

fn migration_body(status: &MigrationStatus) -> Value {
    json!({
        "status": if status.is_complete() { "ok" } else { "incomplete" },
        "missing": status.missing,
        "failed": status.failed,
        "changed": status.changed,
        "unknown": status.unknown,
    })
}
