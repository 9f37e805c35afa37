//! The token endpoint (RFC 6749 §3.2): authorization_code, refresh_token, client_credentials.

use std::collections::HashMap;

use axum::extract::{RawForm, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use crate::app::AppState;
use crate::config::GrantType;
use crate::directory::{user_by_id, User};
use crate::http::client_auth::authenticate_client;
use crate::http::error::{no_store, TokenError};
use crate::oidc::authorize::collect_params;
use crate::oidc::claims::ClaimsRequest;
use crate::oidc::client::Client;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::paths;
use crate::oidc::pkce::CodeChallenge;
use crate::oidc::scope::Scope;
use crate::oidc::tokens::{issue, AlreadySpent, Family, Grant};
use crate::secrets::hash_secret;
use crate::store::codes::CodeLookup;
use crate::store::grants::Spends;
use crate::store::refresh_tokens::RefreshLookup;

pub fn router() -> Router<AppState> {
    Router::new().route(paths::TOKEN, post(token).options(options))
}

/// Mailcow's "test connection" sends OPTIONS and expects 200.
async fn options() -> impl IntoResponse {
    (StatusCode::OK, [(header::ALLOW, "POST, OPTIONS")])
}

pub fn form_params(raw: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    collect_params(url::form_urlencoded::parse(raw).into_owned().collect())
        .map_err(OAuthError::invalid_request)
}

async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawForm(raw): RawForm,
) -> Result<Response, TokenError> {
    let form = form_params(&raw)?;
    let client = authenticate_client(&state, &headers, &form, true)?;
    let response = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => authorization_code(&state, &client, &form).await?,
        Some("refresh_token") => refresh_token(&state, &client, &form).await?,
        Some("client_credentials") => client_credentials(&state, &client, &form).await?,
        Some(_) => {
            return Err(
                OAuthError::new(ErrorCode::UnsupportedGrantType, "unsupported grant_type").into(),
            )
        }
        None => return Err(OAuthError::invalid_request("grant_type is missing").into()),
    };
    Ok(no_store(Json(response)))
}

fn require_grant(client: &Client, grant: GrantType) -> Result<(), OAuthError> {
    if client.allows_grant(grant) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use {}", grant.as_str()),
        ))
    }
}

fn wants_refresh(client: &Client, scope: &Scope) -> bool {
    client.allows_grant(GrantType::RefreshToken)
        && (scope.contains("offline_access") || client.refresh_without_offline_access)
}

async fn authorization_code(
    state: &AppState,
    client: &Client,
    form: &HashMap<String, String>,
) -> Result<crate::oidc::tokens::TokenResponse, TokenError> {
    require_grant(client, GrantType::AuthorizationCode)?;
    let code = form
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let now = state.clock.now();
    let code_hash = hash_secret(code);
    let CodeLookup {
        code: row,
        used,
        user: joined_user,
    } = state
        .db
        .code_and_user(&code_hash, state.directory.in_provider_database())
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("unknown authorization code"))?;
    if used {
        return Err(replayed(state, client, &code_hash, now).await);
    }
    // Every check before the code is spent: a refused exchange changes nothing.
    if row.client_id != client.id {
        return Err(
            OAuthError::invalid_grant("authorization code was issued to another client").into(),
        );
    }
    if row.expires_at <= now {
        return Err(OAuthError::invalid_grant("authorization code expired").into());
    }
    match form.get("redirect_uri") {
        Some(uri) if *uri != row.redirect_uri => {
            return Err(OAuthError::invalid_grant("redirect_uri does not match").into())
        }
        None if client.redirect_uris.len() > 1 => {
            return Err(OAuthError::invalid_request("redirect_uri is missing").into())
        }
        _ => {}
    }
    match (&row.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier))
            if CodeChallenge::from_stored(challenge.clone()).verify(verifier) => {}
        (Some(_), _) => return Err(OAuthError::invalid_grant("PKCE verification failed").into()),
        // RFC 9700 §4.8.2: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(
                OAuthError::invalid_grant("no code_challenge was sent for this code").into(),
            )
        }
        (None, None) => {}
    }
    if row.session_over {
        return Err(OAuthError::invalid_grant("the login session has ended").into());
    }
    let user = match user_by_id(state.directory.as_ref(), joined_user, &row.user_id).await? {
        Some(user) if user.active => user,
        _ => return Err(OAuthError::invalid_grant("the user can no longer log in").into()),
    };
    let scope = Scope::parse(&row.scope).unwrap_or_default();
    let issue_refresh = wants_refresh(client, &scope);
    let issued = issue(
        state,
        Grant {
            client,
            user: Some(&user),
            scope,
            session_id: row.session_id.as_deref(),
            auth_time: Some(row.auth_time),
            nonce: row.nonce.as_deref(),
            claims: ClaimsRequest::from_json(row.claims.as_deref()),
            code_hash: Some(&code_hash),
            spends: Spends::Code(&code_hash),
            family: None,
            issue_refresh,
            audience: None,
        },
    )
    .await;
    match issued {
        // Another request redeemed the code between the checks above and now.
        Err(e) if e.is::<AlreadySpent>() => Err(replayed(state, client, &code_hash, now).await),
        other => Ok(other?),
    }
}

/// RFC 6749 §4.1.2: a code used twice revokes what it gave.
async fn replayed(state: &AppState, client: &Client, code_hash: &str, now: i64) -> TokenError {
    tracing::warn!(client_id = %client.id, "authorization code replayed; revoking its tokens");
    match state.db.revoke_code_tokens(code_hash, now).await {
        Ok(()) => OAuthError::invalid_grant("authorization code already used").into(),
        Err(e) => e.into(),
    }
}

/// Shared with the first-party API: rotates `presented` and issues new tokens.
pub async fn refresh_grant(
    state: &AppState,
    client: &Client,
    presented: &str,
    requested_scope: Option<&str>,
    audience: Option<&str>,
) -> Result<(crate::oidc::tokens::TokenResponse, User), TokenError> {
    let now = state.clock.now();
    let token_hash = hash_secret(presented);
    let audience_id = audience.unwrap_or(&client.id);
    let RefreshLookup {
        token: row,
        user: joined_user,
    } = state
        .db
        .refresh_token_and_user(&token_hash, state.directory.in_provider_database())
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
    if row.client_id != audience_id {
        return Err(OAuthError::invalid_grant("refresh token was issued to another client").into());
    }
    if row.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant("refresh token revoked").into());
    }
    if row.rotated_at.is_some() {
        tracing::warn!(client_id = %client.id, family = %row.family_id, "rotated refresh token reused; revoking its family");
        state.db.revoke_family(&row.family_id, now).await?;
        return Err(OAuthError::invalid_grant("refresh token already used").into());
    }
    if row.expires_at <= now {
        return Err(OAuthError::invalid_grant("refresh token expired").into());
    }
    if row.session_over {
        return Err(OAuthError::invalid_grant("the login session has ended").into());
    }
    let user = match user_by_id(state.directory.as_ref(), joined_user, &row.user_id).await? {
        Some(user) if user.active => user,
        _ => {
            state.db.revoke_family(&row.family_id, now).await?;
            return Err(OAuthError::invalid_grant("the user can no longer log in").into());
        }
    };
    let granted = Scope::parse(&row.scope).unwrap_or_default();
    let scope = match requested_scope {
        Some(raw) => {
            let requested =
                Scope::parse(raw).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e))?;
            if !requested.is_subset(&granted) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "a refresh may narrow the scope, never widen it",
                )
                .into());
            }
            requested
        }
        None => granted,
    };
    let issued = issue(
        state,
        Grant {
            client,
            user: Some(&user),
            scope,
            session_id: row.session_id.as_deref(),
            auth_time: row.auth_time,
            nonce: None,
            claims: ClaimsRequest::from_json(row.claims.as_deref()),
            code_hash: row.code_hash.as_deref(),
            spends: Spends::RefreshToken(&token_hash),
            family: Some(Family {
                id: &row.family_id,
                expires_at: row.family_expires_at,
            }),
            issue_refresh: true,
            audience,
        },
    )
    .await;
    match issued {
        Ok(tokens) => Ok((tokens, user)),
        // Another request rotated it between the checks above and now: a reuse all the same.
        Err(e) if e.is::<AlreadySpent>() => {
            tracing::warn!(client_id = %client.id, family = %row.family_id, "refresh token used twice at once; revoking its family");
            state.db.revoke_family(&row.family_id, now).await?;
            Err(OAuthError::invalid_grant("refresh token already used").into())
        }
        Err(e) => Err(e.into()),
    }
}

async fn refresh_token(
    state: &AppState,
    client: &Client,
    form: &HashMap<String, String>,
) -> Result<crate::oidc::tokens::TokenResponse, TokenError> {
    require_grant(client, GrantType::RefreshToken)?;
    let presented = form
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let (tokens, _) = refresh_grant(
        state,
        client,
        presented,
        form.get("scope").map(String::as_str),
        None,
    )
    .await?;
    Ok(tokens)
}

async fn client_credentials(
    state: &AppState,
    client: &Client,
    form: &HashMap<String, String>,
) -> Result<crate::oidc::tokens::TokenResponse, TokenError> {
    if client.is_public() {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "public clients cannot use client_credentials",
        )
        .into());
    }
    require_grant(client, GrantType::ClientCredentials)?;
    let scope = Scope::parse(form.get("scope").map_or("", String::as_str))
        .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e))?
        .supported(&[])
        .without("openid")
        .without("offline_access");
    Ok(issue(
        state,
        Grant {
            client,
            user: None,
            scope,
            session_id: None,
            auth_time: None,
            nonce: None,
            claims: ClaimsRequest::default(),
            code_hash: None,
            spends: Spends::Nothing,
            family: None,
            issue_refresh: false,
            audience: None,
        },
    )
    .await?)
}
