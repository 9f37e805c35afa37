//! The UserInfo endpoint (OIDC Core §5.3): GET or POST, Bearer header or form body.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::http::bearer::bearer_token;
use crate::http::error::{no_store, BearerError};
use crate::http::AppState;
use crate::oidc::claims::{ClaimsRequest, Target};
use crate::oidc::paths;
use crate::oidc::scope::Scope;

pub fn router() -> Router<AppState> {
    Router::new().route(paths::USERINFO, get(userinfo).post(userinfo))
}

async fn userinfo(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, BearerError> {
    // Only a POST body may carry the token, never a query string (RFC 6750 §2.3 is not offered).
    let token = bearer_token(&headers, if method == Method::POST { &body } else { &[] })?;
    let valid = state
        .tokens
        .check_access_token(&token)
        .await?
        .map_err(BearerError::InvalidToken)?;
    if valid.registry.user_id.is_none() {
        return Err(BearerError::InvalidToken(
            "the access token does not belong to a user",
        ));
    }
    let scope = Scope::parse(&valid.claims.scope).unwrap_or_default();
    if !scope.contains("openid") {
        return Err(BearerError::InvalidToken(
            "the access token was not issued with the openid scope",
        ));
    }
    let user = match valid.user(state.directory.as_ref()).await? {
        Some(user) if user.active => user,
        _ => return Err(BearerError::InvalidToken("the user can no longer log in")),
    };
    let request = ClaimsRequest::from_json(valid.registry.claims.as_deref());
    let client = state.clients.get(&valid.registry.client_id);
    let mut claims = state
        .tokens
        .user_claims(client.as_deref(), &user, &scope, &request, Target::Userinfo)
        .await?;
    claims.insert("sub".into(), Value::from(user.id.clone()));
    Ok(no_store(Json(claims)))
}
