use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::http::AppState;
use crate::oidc::paths;

pub fn router() -> Router<AppState> {
    Router::new().route(paths::HEALTH, get(health))
}

/// Liveness and readiness: 200 while the provider's database and the user directory answer,
/// 503 while either does not. The pools reconnect by themselves when the database returns.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let limit = Duration::from_secs(2);
    let database = tokio::time::timeout(limit, state.db.ping()).await;
    let directory = tokio::time::timeout(limit, state.directory.ping()).await;
    let status = |r: &Result<anyhow::Result<()>, _>| match r {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = format!("{e:#}"), "health check failed");
            "unavailable"
        }
        Err(_) => "timeout",
    };
    let (database, directory) = (status(&database), status(&directory));
    let healthy = database == "ok" && directory == "ok";
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "status": if healthy { "ok" } else { "unavailable" },
            "database": database,
            "directory": { "kind": state.directory.kind(), "status": directory },
        })),
    )
}
