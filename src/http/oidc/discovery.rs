use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::http::AppState;
use crate::oidc::paths;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::DISCOVERY, get(discovery))
        .route(paths::AUTHORIZATION_SERVER_METADATA, get(discovery))
        .route(paths::JWKS, get(jwks))
}

/// The metadata never changes while the process runs, so its body is built once at start.
async fn discovery(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        state.discovery_body.clone(),
    )
}

/// Short-lived caching: a rotated key must reach relying parties well within the grace period.
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let body = state.keys().jwks(state.clock.now()).to_string();
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
}
