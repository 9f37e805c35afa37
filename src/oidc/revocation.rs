//! Token revocation (RFC 7009) and introspection (RFC 7662), for an authenticated client.

use serde_json::{json, Value};

use super::client::Client;
use super::grants::{standing, RefreshStanding};
use super::jwt;
use super::tokens::TokenIssuer;
use crate::audit::{Event, Kind};
use crate::secrets::hash_secret;

/// Access tokens are JWTs; refresh tokens are opaque.
fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// RFC 7009 §2.2: whether or not the token was known, nothing is said; a token of another
/// client is left alone, and so is one that is not ours.
pub async fn revoke(tokens: &TokenIssuer, client: &Client, token: &str) -> anyhow::Result<()> {
    let now = tokens.clock.now();
    if looks_like_jwt(token) {
        // Only a token that verifies as ours is acted on; an expired one is revoked all the same.
        if let Ok(claims) = jwt::verify_access_token_signature(
            &tokens.keys.current(),
            tokens.config.issuer.as_str(),
            token,
            now,
        ) {
            if claims.client_id == client.id {
                tokens.db.revoke_access_token(&claims.jti, now).await?;
                let event = revoked(client, "access_token").detail("jti", claims.jti.as_str());
                // A client's own token (client_credentials) has the client as its subject.
                tokens.audit.record(match claims.company_id {
                    Some(company) => event.user(claims.sub).company(company),
                    None => event,
                });
            }
        }
    } else if let Some(row) = tokens.db.refresh_token(&hash_secret(token)).await? {
        if row.client_id == client.id {
            // §2.1: revoking a refresh token also revokes the access tokens of the same grant.
            tokens.db.revoke_family(&row.family_id, now).await?;
            tokens.audit.record(
                revoked(client, "refresh_token")
                    .user(row.user_id)
                    .detail("family", row.family_id),
            );
        }
    }
    Ok(())
}

/// `token_revoked` at the client's request; the client is the actor.
fn revoked(client: &Client, token_type: &str) -> Event {
    Event::new(Kind::TokenRevoked, client.id.as_str())
        .client(client.id.as_str())
        .detail("token_type", token_type)
        .detail("reason", "revoked by the client")
}

/// RFC 7662 §2.2: the token's description, or `None` for one that is not active (unknown,
/// expired, revoked, its session or its user gone).
pub async fn introspect(tokens: &TokenIssuer, token: &str) -> anyhow::Result<Option<Value>> {
    if looks_like_jwt(token) {
        let Ok(valid) = tokens.check_access_token(token).await? else {
            return Ok(None);
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
            if let Some(user) = valid.user(tokens.directory.as_ref()).await? {
                if !user.active {
                    return Ok(None);
                }
                extra.insert(
                    "username".into(),
                    Value::from(user.username.unwrap_or(user.email)),
                );
            }
        }
        return Ok(Some(body));
    }
    let Some(row) = tokens.db.refresh_token(&hash_secret(token)).await? else {
        return Ok(None);
    };
    if standing(&row, tokens.clock.now()) != RefreshStanding::Live {
        return Ok(None);
    }
    let Some(user) = tokens
        .directory
        .find_by_id(&row.user_id)
        .await?
        .filter(|u| u.active)
    else {
        return Ok(None);
    };
    Ok(Some(json!({
        "active": true,
        "token_type": "refresh_token",
        "scope": row.scope,
        "client_id": row.client_id,
        "sub": row.user_id,
        "username": user.username.unwrap_or(user.email),
        "company_id": user.company_id.to_string(),
        "iss": tokens.config.issuer.as_str(),
        "exp": row.expires_at,
        "iat": row.created_at,
    })))
}
