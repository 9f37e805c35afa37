//! The refresh token grant (RFC 6749 §6), with rotation and reuse detection (RFC 9700 §4.14.2).

use super::GrantError;
use crate::audit::{Event, Kind, SYSTEM};
use crate::clock::UnixTime;
use crate::directory::{user_by_id, User};
use crate::oidc::claims::ClaimsRequest;
use crate::oidc::client::Client;
use crate::oidc::scope::Scope;
use crate::oidc::tokens::{Family, Grant, IssueError, TokenIssuer, TokenResponse};
use crate::secrets::hash_secret;
use crate::store::grants::Spends;
use crate::store::refresh_tokens::{RefreshLookup, RefreshRow};
use crate::telemetry;

/// Where a refresh token stands, as the grant and introspection both see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshStanding {
    Live,
    Revoked,
    /// Rotated already: presenting it again is a reuse, which ends its family.
    Rotated,
    Expired,
    /// The login session it came from has ended.
    SessionOver,
}

pub fn standing(row: &RefreshRow, now: UnixTime) -> RefreshStanding {
    if row.revoked_at.is_some() {
        RefreshStanding::Revoked
    } else if row.rotated_at.is_some() {
        RefreshStanding::Rotated
    } else if row.expires_at <= now {
        RefreshStanding::Expired
    } else if row.session_over {
        RefreshStanding::SessionOver
    } else {
        RefreshStanding::Live
    }
}

/// `refresh_reuse_detected`: the client presented a spent token of this family, and the family is
/// revoked. The client is the actor: whoever holds the token uses it through the client.
fn reuse_detected(client: &Client, row: &RefreshRow, how: &str) -> Event {
    Event::new(Kind::RefreshReuseDetected, client.id.as_str())
        .user(row.user_id.as_str())
        .client(client.id.as_str())
        .detail("family", row.family_id.as_str())
        .detail("how", how)
}

/// Rotates `presented` and issues new tokens, narrowed to `requested_scope` if one is sent.
/// Shared by the token endpoint and the first-party API, which also wants the user.
pub async fn refresh(
    tokens: &TokenIssuer,
    client: &Client,
    presented: &str,
    requested_scope: Option<&str>,
) -> Result<(TokenResponse, User), GrantError> {
    let now = tokens.clock.now();
    let token_hash = hash_secret(presented);
    let RefreshLookup {
        token: row,
        user: joined_user,
    } = tokens
        .db
        .refresh_token_and_user(&token_hash, tokens.directory.in_provider_database())
        .await?
        .ok_or(GrantError::InvalidGrant("unknown refresh token"))?;
    if row.client_id != client.id {
        return Err(GrantError::InvalidGrant(
            "refresh token was issued to another client",
        ));
    }
    match standing(&row, now) {
        RefreshStanding::Live => {}
        RefreshStanding::Revoked => return Err(GrantError::InvalidGrant("refresh token revoked")),
        RefreshStanding::Rotated => {
            tracing::warn!(client_id = %client.id, family = %row.family_id, "rotated refresh token reused; revoking its family");
            telemetry::refresh_reuse_detected(&client.id);
            tokens.db.revoke_family(&row.family_id, now).await?;
            tokens.audit.record(reuse_detected(
                client,
                &row,
                "rotated token presented again",
            ));
            return Err(GrantError::InvalidGrant("refresh token already used"));
        }
        RefreshStanding::Expired => return Err(GrantError::InvalidGrant("refresh token expired")),
        RefreshStanding::SessionOver => {
            return Err(GrantError::InvalidGrant("the login session has ended"))
        }
    }
    let user = match user_by_id(tokens.directory.as_ref(), joined_user, &row.user_id).await? {
        Some(user) if user.active => user,
        _ => {
            tokens.db.revoke_family(&row.family_id, now).await?;
            tokens.audit.record(
                Event::new(Kind::TokenRevoked, SYSTEM)
                    .user(row.user_id.as_str())
                    .client(client.id.as_str())
                    .detail("token_type", "refresh_token")
                    .detail("family", row.family_id.as_str())
                    .detail("reason", "the user can no longer log in"),
            );
            return Err(GrantError::InvalidGrant("the user can no longer log in"));
        }
    };
    // An area the client is no longer allowed (`allowed_scopes`) is not renewed.
    let granted = Scope::parse(&row.scope)
        .unwrap_or_default()
        .within_areas(&client.allowed_scopes);
    let scope = match requested_scope {
        Some(raw) => {
            let requested = Scope::parse(raw).map_err(GrantError::InvalidScope)?;
            if !requested.is_subset(&granted) {
                return Err(GrantError::InvalidScope(
                    "a refresh may narrow the scope, never widen it".into(),
                ));
            }
            requested
        }
        None => granted,
    };
    let issued = tokens
        .issue(Grant {
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
        })
        .await;
    match issued {
        Ok(issued) => Ok((issued, user)),
        // Another request rotated it between the checks above and now: a reuse all the same.
        Err(IssueError::AlreadySpent) => {
            tracing::warn!(client_id = %client.id, family = %row.family_id, "refresh token used twice at once; revoking its family");
            telemetry::refresh_reuse_detected(&client.id);
            tokens.db.revoke_family(&row.family_id, now).await?;
            tokens
                .audit
                .record(reuse_detected(client, &row, "used twice at once"));
            Err(GrantError::InvalidGrant("refresh token already used"))
        }
        Err(IssueError::Internal(e)) => Err(e.into()),
    }
}
