//! Token revocation (RFC 7009) and introspection (RFC 7662).

use std::collections::HashMap;

use axum::extract::{RawForm, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::token::form_params;
use crate::app::AppState;
use crate::http::client_auth::authenticate_client;
use crate::http::error::{no_store, TokenError};
use crate::oidc::error::OAuthError;
use crate::oidc::jwt;
use crate::oidc::paths;
use crate::oidc::tokens::check_access_token;
use crate::secrets::hash_secret;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::REVOKE, post(revoke))
        .route(paths::INTROSPECT, post(introspect))
}

fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
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
    let now = state.clock.now();
    if looks_like_jwt(token) {
        // Only a token that verifies as ours is acted on; an expired one is revoked all the same.
        if let Ok(claims) = jwt::verify_access_token_signature(
            &state.keys(),
            state.config.issuer.as_str(),
            token,
            now,
        ) {
            if claims.client_id == client.id {
                state.db.revoke_access_token(&claims.jti, now).await?;
            }
        }
    } else if let Some(row) = state.db.refresh_token(&hash_secret(token)).await? {
        if row.client_id == client.id {
            // §2.1: revoking a refresh token also revokes the access tokens of the same grant.
            state.db.revoke_family(&row.family_id, now).await?;
        }
    }
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
    let inactive = || no_store(Json(json!({ "active": false })));
    if looks_like_jwt(token) {
        let Ok(valid) = check_access_token(&state, token).await? else {
            return Ok(inactive());
        };
        let c = &valid.claims;
        let mut body = json!({
            "active": true,
            "token_type": "Bearer",
            "scope": c.scope,
            "client_id": c.client_id,
            "sub": c.sub,
            "aud": c.aud,
            "iss": c.iss,
            "exp": c.exp,
            "iat": c.iat,
            "jti": c.jti,
        });
        let extra = body.as_object_mut().expect("object");
        if let Some(company) = c.company_id.clone() {
            extra.insert("company_id".into(), Value::from(company));
        }
        if let Some(sid) = c.sid.clone() {
            extra.insert("sid".into(), Value::from(sid));
        }
        if valid.registry.user_id.is_some() {
            if let Some(user) = valid.user(&state).await? {
                if !user.active {
                    return Ok(inactive());
                }
                extra.insert(
                    "username".into(),
                    Value::from(user.username.unwrap_or(user.email)),
                );
            }
        }
        return Ok(no_store(Json(body)));
    }
    let now = state.clock.now();
    let Some(row) = state.db.refresh_token(&hash_secret(token)).await? else {
        return Ok(inactive());
    };
    if row.revoked_at.is_some()
        || row.rotated_at.is_some()
        || row.expires_at <= now
        || row.session_over
    {
        return Ok(inactive());
    }
    let Some(user) = state
        .directory
        .find_by_id(&row.user_id)
        .await?
        .filter(|u| u.active)
    else {
        return Ok(inactive());
    };
    Ok(no_store(Json(json!({
        "active": true,
        "token_type": "refresh_token",
        "scope": row.scope,
        "client_id": row.client_id,
        "sub": row.user_id,
        "username": user.username.unwrap_or(user.email),
        "company_id": user.company_id.to_string(),
        "iss": state.config.issuer.as_str(),
        "exp": row.expires_at,
        "iat": row.created_at,
    }))))
}
