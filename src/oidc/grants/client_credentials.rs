//! The client credentials grant (RFC 6749 §4.4): a token for the client itself, no user.

use super::GrantError;
use crate::oidc::claims::ClaimsRequest;
use crate::oidc::client::Client;
use crate::oidc::scope::Scope;
use crate::oidc::tokens::{Grant, TokenIssuer, TokenResponse};
use crate::store::grants::Spends;

pub(super) async fn exchange(
    tokens: &TokenIssuer,
    client: &Client,
    scope: Option<&str>,
) -> Result<TokenResponse, GrantError> {
    // No user, so nothing of OpenID Connect and nothing to refresh.
    let scope = Scope::parse(scope.unwrap_or(""))
        .map_err(GrantError::InvalidScope)?
        .supported(&[])
        .without("openid")
        .without("offline_access");
    Ok(tokens
        .issue(Grant {
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
        })
        .await?)
}
