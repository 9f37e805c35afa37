//! The authorization code grant (RFC 6749 §4.1.3, OIDC Core §3.1.3.2).

use super::{wants_refresh, GrantError};
use crate::audit::{Event, Kind};
use crate::directory::user_by_id;
use crate::oidc::claims::ClaimsRequest;
use crate::oidc::client::Client;
use crate::oidc::pkce::CodeChallenge;
use crate::oidc::scope::Scope;
use crate::oidc::tokens::{Grant, IssueError, TokenIssuer, TokenResponse};
use crate::secrets::hash_secret;
use crate::store::codes::CodeLookup;
use crate::store::grants::Spends;

pub(super) async fn exchange(
    tokens: &TokenIssuer,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
) -> Result<TokenResponse, GrantError> {
    let now = tokens.clock.now();
    let code_hash = hash_secret(code);
    let CodeLookup {
        code: row,
        used,
        user: joined_user,
    } = tokens
        .db
        .code_and_user(&code_hash, tokens.directory.in_provider_database())
        .await?
        .ok_or(GrantError::InvalidGrant("unknown authorization code"))?;
    if used {
        return Err(replayed(tokens, client, &code_hash).await);
    }
    // Every check before the code is spent: a refused exchange changes nothing.
    if row.client_id != client.id {
        return Err(GrantError::InvalidGrant(
            "authorization code was issued to another client",
        ));
    }
    if row.expires_at <= now {
        return Err(GrantError::InvalidGrant("authorization code expired"));
    }
    match redirect_uri {
        Some(uri) if uri != row.redirect_uri => {
            return Err(GrantError::InvalidGrant("redirect_uri does not match"))
        }
        None if client.redirect_uris.len() > 1 => {
            return Err(GrantError::InvalidRequest("redirect_uri is missing".into()))
        }
        _ => {}
    }
    match (&row.code_challenge, code_verifier) {
        (Some(challenge), Some(verifier))
            if CodeChallenge::from_stored(challenge.clone()).verify(verifier) => {}
        (Some(_), _) => return Err(GrantError::InvalidGrant("PKCE verification failed")),
        // RFC 9700 §4.8.2: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(GrantError::InvalidGrant(
                "no code_challenge was sent for this code",
            ))
        }
        (None, None) => {}
    }
    if row.session_over {
        return Err(GrantError::InvalidGrant("the login session has ended"));
    }
    let user = match user_by_id(tokens.directory.as_ref(), joined_user, &row.user_id).await? {
        Some(user) if user.active => user,
        _ => return Err(GrantError::InvalidGrant("the user can no longer log in")),
    };
    let scope = Scope::parse(&row.scope).unwrap_or_default();
    let issue_refresh = wants_refresh(client, &scope);
    let issued = tokens
        .issue(Grant {
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
        })
        .await;
    match issued {
        Ok(issued) => Ok(issued),
        // Another request redeemed the code between the checks above and now.
        Err(IssueError::AlreadySpent) => Err(replayed(tokens, client, &code_hash).await),
        Err(IssueError::Internal(e)) => Err(e.into()),
    }
}

/// RFC 6749 §4.1.2: a code used twice revokes what it gave.
async fn replayed(tokens: &TokenIssuer, client: &Client, code_hash: &str) -> GrantError {
    tracing::warn!(client_id = %client.id, "authorization code replayed; revoking its tokens");
    match tokens
        .db
        .revoke_code_tokens(code_hash, tokens.clock.now())
        .await
    {
        Ok(()) => {
            tokens.audit.record(
                Event::new(Kind::TokenRevoked, client.id.as_str())
                    .client(client.id.as_str())
                    .detail("token_type", "code_grant")
                    .detail("reason", "authorization code replayed"),
            );
            GrantError::InvalidGrant("authorization code already used")
        }
        Err(e) => e.into(),
    }
}
