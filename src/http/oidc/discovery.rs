use axum::extract::State;
use std::sync::LazyLock;

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::http::AppState;
use crate::keys::JWKS_MAX_AGE_SECONDS;
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

/// How long relying parties may cache the JWKS: the same constant sets how long a rotated-in
/// key waits before it signs, so that every cache holds it by then.
static JWKS_CACHE_CONTROL: LazyLock<HeaderValue> = LazyLock::new(|| {
    HeaderValue::from_str(&format!("public, max-age={JWKS_MAX_AGE_SECONDS}"))
        .expect("a Cache-Control value of ASCII digits and letters")
});

/// Short-lived caching: a rotated key must reach relying parties well within the grace period.
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let body = state.keys().jwks(state.clock.now()).to_string();
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, JWKS_CACHE_CONTROL.clone()),
        ],
        body,
    )
}
