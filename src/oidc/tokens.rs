//! Issuing tokens: the one place access tokens, ID tokens and refresh tokens are made.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::claims::{user_claims, ClaimsRequest, Target};
use super::client::Client;
use super::jwt::{self, AccessTokenClaims, ACCESS_TOKEN_TYPE};
use super::scope::Scope;
use crate::app::AppState;
use crate::clock::UnixTime;
use crate::directory::User;
use crate::store::sso::{NewAccessToken, NewRefreshToken};

/// A random secret of 256 bits, base64url: codes, refresh tokens, session ids.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Secrets are stored and looked up only by this hash.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a grant gives: who, to whom, for what.
pub struct Grant<'a> {
    pub client: &'a Client,
    /// `None` for `client_credentials`.
    pub user: Option<&'a User>,
    pub scope: Scope,
    pub session_id: Option<&'a str>,
    pub auth_time: Option<UnixTime>,
    pub nonce: Option<&'a str>,
    pub claims: ClaimsRequest,
    pub code_hash: Option<&'a str>,
    /// A rotated refresh token keeps its family.
    pub family_id: Option<&'a str>,
    pub issue_refresh: bool,
    /// `aud` and `client_id` when it is not the client's id (first-party API).
    pub audience: Option<&'a str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

pub async fn issue(state: &AppState, grant: Grant<'_>) -> anyhow::Result<TokenResponse> {
    let now = state.clock.now();
    let lifetimes = &state.config.tokens;
    let issuer = state.config.issuer.as_str();
    let keys = state.keys();
    let audience = grant.audience.unwrap_or(&grant.client.id);
    let scope = grant.scope.to_string();
    let claims_json = (grant.claims != ClaimsRequest::default()).then(|| grant.claims.to_json());

    let access = AccessTokenClaims {
        iss: issuer.to_owned(),
        sub: grant
            .user
            .map_or_else(|| grant.client.id.clone(), |u| u.id.clone()),
        aud: audience.to_owned(),
        client_id: audience.to_owned(),
        scope: scope.clone(),
        iat: now,
        exp: now + lifetimes.access_token_seconds as i64,
        jti: uuid::Uuid::new_v4().to_string(),
        company_id: grant.user.map(|u| u.company_id.to_string()),
        sid: grant.session_id.map(str::to_owned),
        auth_time: grant.auth_time,
    };
    let access_token = jwt::sign(&keys, Some(ACCESS_TOKEN_TYPE), &access)?;

    let (refresh_token, family_id) = match (grant.issue_refresh, grant.user) {
        (true, Some(user)) => {
            let token = new_secret();
            let family = grant
                .family_id
                .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
            state
                .db
                .insert_refresh_token(&NewRefreshToken {
                    token_hash: &hash_secret(&token),
                    family_id: &family,
                    client_id: audience,
                    user_id: &user.id,
                    session_id: grant.session_id,
                    code_hash: grant.code_hash,
                    scope: &scope,
                    claims: claims_json.as_deref(),
                    auth_time: grant.auth_time,
                    created_at: now,
                    expires_at: now + lifetimes.refresh_token_seconds as i64,
                })
                .await?;
            (Some(token), Some(family))
        }
        _ => (None, grant.family_id.map(str::to_owned)),
    };

    state
        .db
        .insert_access_token(&NewAccessToken {
            jti: &access.jti,
            client_id: audience,
            user_id: grant.user.map(|u| u.id.as_str()),
            session_id: grant.session_id,
            code_hash: grant.code_hash,
            family_id: family_id.as_deref(),
            scope: &scope,
            claims: claims_json.as_deref(),
            expires_at: access.exp,
        })
        .await?;

    let id_token = match grant.user {
        Some(user) if grant.scope.contains("openid") => {
            let mut claims: Map<String, Value> = grant.client.claims_for(user);
            claims.extend(user_claims(
                user,
                &grant.scope,
                &grant.claims,
                Target::IdToken,
            ));
            let standard = serde_json::json!({
                "iss": issuer,
                "sub": user.id,
                "aud": audience,
                "azp": audience,
                "iat": now,
                "exp": now + lifetimes.id_token_seconds as i64,
                "at_hash": jwt::at_hash(&access_token),
            });
            claims.extend(standard.as_object().expect("object").clone());
            if let Some(auth_time) = grant.auth_time {
                claims.insert("auth_time".into(), auth_time.into());
            }
            if let Some(sid) = grant.session_id {
                claims.insert("sid".into(), sid.into());
            }
            if let Some(nonce) = grant.nonce {
                claims.insert("nonce".into(), nonce.into());
            }
            Some(jwt::sign(&keys, None, &claims)?)
        }
        _ => None,
    };

    if let Some(sid) = grant.session_id {
        state.db.add_session_client(sid, audience, now).await?;
    }

    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: lifetimes.access_token_seconds,
        refresh_token,
        id_token,
        scope,
    })
}

/// A presented access token that checks out: signature, issuer, type, expiry, and the registry
/// (not revoked, session not ended).
pub struct ValidAccessToken {
    pub claims: AccessTokenClaims,
    pub registry: crate::store::sso::AccessRow,
}

/// `Ok(Err(reason))` for a token that is not (or no longer) good.
pub async fn check_access_token(
    state: &AppState,
    token: &str,
) -> anyhow::Result<Result<ValidAccessToken, &'static str>> {
    let now = state.clock.now();
    let claims =
        match jwt::verify_access_token(&state.keys(), state.config.issuer.as_str(), token, now) {
            Ok(claims) => claims,
            Err(jwt::JwtError::Expired) => return Ok(Err("the access token expired")),
            Err(_) => return Ok(Err("the access token is not valid")),
        };
    let Some(registry) = state.db.access_token(&claims.jti).await? else {
        return Ok(Err("the access token is not known"));
    };
    if registry.revoked_at.is_some() {
        return Ok(Err("the access token was revoked"));
    }
    if registry.session_ended_at.is_some() {
        return Ok(Err("the login session has ended"));
    }
    Ok(Ok(ValidAccessToken { claims, registry }))
}
