//! The UserInfo endpoint (OIDC Core §5.3): GET or POST, Bearer header or form body.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::app::AppState;
use crate::http::error::{no_store, BearerError};
use crate::oidc::claims::{user_claims, ClaimsRequest, Release, Target};
use crate::oidc::paths;
use crate::oidc::scope::Scope;
use crate::oidc::tokens::check_access_token;

pub fn router() -> Router<AppState> {
    Router::new().route(paths::USERINFO, get(userinfo).post(userinfo))
}

/// The Bearer token from the header (RFC 6750 §2.1) or a form body (§2.2), not both.
///
/// An empty Authorization header, or one of another scheme, carries no Bearer token: like no
/// header at all it gets the bare challenge (§3.1: a request "attempted using an unsupported
/// authentication method" is one that lacks authentication information).
pub fn bearer_token(headers: &HeaderMap, form_body: &[u8]) -> Result<String, BearerError> {
    let from_header = match headers.get(header::AUTHORIZATION) {
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| BearerError::InvalidRequest("malformed Authorization header"))?
                .trim();
            let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
            match scheme {
                "" => None,
                scheme if !scheme.eq_ignore_ascii_case("bearer") => None,
                _ if token.trim().is_empty() => {
                    return Err(BearerError::InvalidRequest(
                        "the Authorization header has no Bearer token",
                    ))
                }
                _ => Some(token.trim().to_owned()),
            }
        }
        None => None,
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let from_body = if is_form {
        url::form_urlencoded::parse(form_body)
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    } else {
        None
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(BearerError::InvalidRequest("send the access token once")),
        (Some(token), None) | (None, Some(token)) => Ok(token),
        (None, None) => Err(BearerError::Missing),
    }
}

async fn userinfo(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, BearerError> {
    // Only a POST body may carry the token, never a query string (RFC 6750 §2.3 is not offered).
    let token = bearer_token(&headers, if method == Method::POST { &body } else { &[] })?;
    let valid = check_access_token(&state, &token)
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
    let user = match valid.user(&state).await? {
        Some(user) if user.active => user,
        _ => return Err(BearerError::InvalidToken("the user can no longer log in")),
    };
    let request = ClaimsRequest::from_json(valid.registry.claims.as_deref());
    let client = state.clients.get(&valid.registry.client_id);
    let mut claims = client
        .as_deref()
        .map(|c| c.claims_for(&user))
        .unwrap_or_default();
    let release = Release::for_client(
        client.as_deref(),
        state.config.provisioning.instance_admin_roles(),
    );
    claims.extend(user_claims(
        &user,
        &scope,
        &request,
        Target::Userinfo,
        &release,
    ));
    if let Some(client) = &client {
        crate::provisioning::mailcow::email_from_mailbox(&state, client, &user, &mut claims)
            .await?;
    }
    claims.insert("sub".into(), Value::from(user.id.clone()));
    Ok(no_store(Json(claims)))
}
