//! Token revocation (RFC 7009) and introspection (RFC 7662).

use std::collections::HashMap;

use axum::extract::{RawForm, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use crate::http::client_auth::authenticate_client;
use crate::http::error::{no_store, TokenError};
use crate::http::form::form_params;
use crate::http::AppState;
use crate::oidc::error::OAuthError;
use crate::oidc::paths;
use crate::oidc::revocation;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::REVOKE, post(revoke))
        .route(paths::INTROSPECT, post(introspect))
}

fn token_param(form: &HashMap<String, String>) -> Result<&str, OAuthError> {
    form.get("token")
        .map(String::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))
}

/// RFC 7009 §2.2: 200 whether or not the token was known; a token of another client is left
/// alone, and so is one that is not ours.
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawForm(raw): RawForm,
) -> Result<Response, TokenError> {
    let form = form_params(&raw)?;
    let client = authenticate_client(&state, &headers, &form, true)?;
    let token = token_param(&form)?;
    revocation::revoke(&state.tokens, &client, token).await?;
    Ok(no_store(().into_response()))
}

async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawForm(raw): RawForm,
) -> Result<Response, TokenError> {
    let form = form_params(&raw)?;
    let _caller = authenticate_client(&state, &headers, &form, false)?;
    let token = token_param(&form)?;
    let body = revocation::introspect(&state.tokens, token)
        .await?
        .unwrap_or_else(|| json!({ "active": false }));
    Ok(no_store(Json(body)))
}
