//! The token endpoint (RFC 6749 §3.2): authorization_code, refresh_token, client_credentials.

use axum::extract::{RawForm, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use crate::http::client_auth::authenticate_client;
use crate::http::error::{no_store, TokenError};
use crate::http::form::form_params;
use crate::http::AppState;
use crate::oidc::grants;
use crate::oidc::paths;

pub fn router() -> Router<AppState> {
    Router::new().route(paths::TOKEN, post(token).options(options))
}

/// Mailcow's "test connection" sends OPTIONS and expects 200.
async fn options() -> impl IntoResponse {
    (StatusCode::OK, [(header::ALLOW, "POST, OPTIONS")])
}

async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawForm(raw): RawForm,
) -> Result<Response, TokenError> {
    let form = form_params(&raw)?;
    let client = authenticate_client(&state, &headers, &form, true)?;
    let response = grants::exchange(&state.tokens, &client, &form).await?;
    Ok(no_store(Json(response)))
}
