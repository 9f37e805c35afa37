//! The first-party JSON login kept for the existing workspace SPA. Same directory, same rate
//! limits, same token formats as the OIDC endpoints.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};

use super::bearer::bearer_token;
use super::client_addr::ClientAddr;
use super::device_cookie;
use super::error::{no_store, BearerError, TokenError};
use super::AppState;
use crate::directory::User;
use crate::login::{LoginFrom, PasswordLogin};
use crate::oidc::claims::ClaimsRequest;
use crate::oidc::grants::{self, GrantError};
use crate::oidc::paths;
use crate::oidc::scope::Scope;
use crate::oidc::tokens::{Grant, TokenResponse};
use crate::store::grants::Spends;
use crate::telemetry::LoginVia;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::API_LOGIN, post(login))
        .route(paths::API_REFRESH, post(refresh))
        .route(paths::API_ME, get(me))
}

/// The workspace SPA is the whole workspace: besides who the user is, its tokens open every
/// area's API (`meet docs calendar mail`, `crate::config::AREA_SCOPES`).
const FIRST_PARTY_SCOPE: &str =
    "openid profile email company offline_access meet docs calendar mail";

fn api_error(status: StatusCode, error: &str, description: &str) -> Response {
    no_store((
        status,
        Json(json!({ "error": error, "error_description": description })),
    ))
}

/// An error the client may retry after `seconds` (at least one), said in `Retry-After`.
fn come_back_later(status: StatusCode, error: &str, description: &str, seconds: u64) -> Response {
    let mut response = api_error(status, error, description);
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(seconds.max(1)),
    );
    response
}

fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "username": user.username,
        "name": user.name,
        "company_id": user.company_id.to_string(),
        "role": user.role,
    })
}

fn with_user(tokens: TokenResponse, user: &User) -> Response {
    let mut body = serde_json::to_value(&tokens).expect("token response serialises");
    body.as_object_mut()
        .expect("object")
        .insert("user".into(), user_json(user));
    no_store(Json(body))
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Response, TokenError> {
    let Ok(Json(body)) = body else {
        return Ok(api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send JSON {\"username\": …, \"password\": …}",
        ));
    };
    // The SPA served from this site sends the device cookie along like the login page does.
    let device = device_cookie::presented(&state, &headers);
    let from = LoginFrom {
        ip,
        device: device.as_ref().map(device_cookie::Device::known),
        via: LoginVia::Api,
    };
    let password = SecretString::from(body.password);
    let outcome = state
        .logins
        .with_password(&from, &body.username, &password, None, None)
        .await?;
    let (user, session, credential) = match outcome {
        PasswordLogin::LoggedIn {
            user,
            session,
            credential,
        } => (user, session, credential),
        PasswordLogin::Limited(limited) => {
            return Ok(come_back_later(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many login attempts; try again later",
                limited.retry_after.as_secs(),
            ));
        }
        PasswordLogin::Busy => {
            return Ok(come_back_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "too many logins at once; try again in a moment",
                1,
            ));
        }
        PasswordLogin::Refused(_) => {
            return Ok(api_error(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong username or password",
            ));
        }
    };
    let client = state.first_party.clone();
    let tokens = state
        .tokens
        .issue(Grant {
            client: &client,
            user: Some(&user),
            scope: Scope::parse(FIRST_PARTY_SCOPE).expect("valid scope"),
            session_id: Some(&session.id),
            auth_time: Some(session.auth_time),
            nonce: None,
            claims: ClaimsRequest::default(),
            code_hash: None,
            spends: Spends::Nothing,
            family: None,
            issue_refresh: true,
        })
        .await
        .map_err(GrantError::from)?;
    let mut response = with_user(tokens, &user);
    response.headers_mut().append(
        header::SET_COOKIE,
        device_cookie::issue(&state, &user.id, &credential)?,
    );
    Ok(response)
}

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    body: Result<Json<RefreshRequest>, JsonRejection>,
) -> Result<Response, TokenError> {
    let Ok(Json(body)) = body else {
        return Ok(api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send JSON {\"refresh_token\": …}",
        ));
    };
    let client = state.first_party.clone();
    let (tokens, user) = grants::refresh(&state.tokens, &client, &body.refresh_token, None).await?;
    Ok(with_user(tokens, &user))
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, BearerError> {
    let token = bearer_token(&headers, &[])?;
    let valid = state
        .tokens
        .check_access_token(&token)
        .await?
        .map_err(BearerError::InvalidToken)?;
    // This API belongs to the workspace SPA alone: a relying party's access token is meant for
    // that party (RFC 9068 §4: a resource server checks the token was issued for it).
    if valid.claims.client_id != state.first_party.id {
        return Err(BearerError::InvalidToken(
            "the access token was not issued to the workspace",
        ));
    }
    if valid.registry.user_id.is_none() {
        return Err(BearerError::InvalidToken(
            "the access token does not belong to a user",
        ));
    }
    match valid.user(state.directory.as_ref()).await? {
        Some(user) if user.active => Ok(no_store(Json(user_json(&user)))),
        _ => Err(BearerError::InvalidToken("the user can no longer log in")),
    }
}
