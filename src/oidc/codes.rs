//! Issuing an authorization code (RFC 6749 §4.1.2) once the request has a login and a consent.

use super::authorize::{redirect_url, AuthorizationRequest};
use super::tokens::TokenIssuer;
use crate::secrets::{hash_secret, new_secret};
use crate::store::codes::NewCode;
use crate::store::sessions::SsoSession;

/// Records a code for `request` in `session` and returns the redirect back at the client that
/// carries it (with `state`, and `iss` per RFC 9207).
pub async fn issue_code(
    tokens: &TokenIssuer,
    request: &AuthorizationRequest,
    session: &SsoSession,
) -> anyhow::Result<String> {
    let now = tokens.clock.now();
    let code = new_secret();
    tokens
        .db
        .insert_code(&NewCode {
            code_hash: &hash_secret(&code),
            client_id: &request.client_id,
            user_id: &session.user_id,
            session_id: Some(&session.id),
            redirect_uri: &request.redirect_uri,
            scope: &request.scope,
            nonce: request.nonce.as_deref(),
            code_challenge: request.code_challenge.as_deref(),
            claims: request.claims.as_deref(),
            auth_time: session.auth_time,
            created_at: now,
            expires_at: now + tokens.config.tokens.authorization_code_seconds as i64,
        })
        .await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = request.state.as_deref() {
        params.push(("state", s));
    }
    Ok(redirect_url(
        &request.redirect_uri,
        &params,
        tokens.config.issuer.as_str(),
    ))
}
