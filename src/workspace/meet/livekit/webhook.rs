//! LiveKit's webhooks, verified as LiveKit signs them (livekit/protocol `webhook/`, and
//! `WebhookReceiver` of its server SDKs): the `Authorization` header is a token (no "Bearer")
//! signed with the API secret by the API key, whose `sha256` claim is the base64 SHA-256 of the
//! body. The hash is taken over the exact bytes received, before any parsing.

use base64::Engine;
use sha2::{Digest, Sha256};

use super::token::{ApiKey, TokenError};
use super::types::WebhookEvent;
use crate::clock::UnixTime;

/// Why a webhook was not taken. Everything but [`WebhookError::BadBody`] means "not from our
/// LiveKit" (401); a body signed by it that is not a `WebhookEvent` is a 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("no Authorization header")]
    MissingAuthorization,
    #[error("the Authorization token is refused: {0}")]
    BadToken(#[from] TokenError),
    #[error("the token carries no sha256 claim")]
    NoBodyHash,
    #[error("the body is not the one signed")]
    BodyMismatch,
    #[error("the signed body is not a LiveKit webhook event: {0}")]
    BadBody(String),
}

impl WebhookError {
    /// 400 for a signed but unreadable body, 401 for everything else.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BadBody(_) => 400,
            _ => 401,
        }
    }
}

/// Verifies `authorization` (the header's value) against `body` and reads the event.
pub fn verify(
    api: &ApiKey,
    authorization: Option<&str>,
    body: &[u8],
    now: UnixTime,
) -> Result<WebhookEvent, WebhookError> {
    let token = authorization
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(WebhookError::MissingAuthorization)?;
    // LiveKit sends the bare token; a "Bearer " in front is tolerated, as its SDKs do.
    let token = token.strip_prefix("Bearer ").unwrap_or(token);
    let claims = api.verify(token, now)?;
    let signed = claims.sha256.ok_or(WebhookError::NoBodyHash)?;
    let signed = base64::engine::general_purpose::STANDARD
        .decode(signed.trim())
        .map_err(|_| WebhookError::BodyMismatch)?;
    let actual = Sha256::digest(body);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(&signed[..], &actual[..])) {
        return Err(WebhookError::BodyMismatch);
    }
    serde_json::from_slice(body).map_err(|e| WebhookError::BadBody(e.to_string()))
}

/// Signs `body` as LiveKit does, valid from `now` for five minutes (LiveKit's own notifier
/// gives its webhook tokens that lifetime). For tests and tools that play LiveKit.
pub fn sign(api: &ApiKey, body: &[u8], now: UnixTime) -> anyhow::Result<String> {
    api.sign(super::token::Claims {
        iss: String::new(),
        sub: String::new(),
        name: None,
        nbf: now,
        exp: now + 300,
        metadata: None,
        video: Default::default(),
        sha256: Some(base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> ApiKey {
        ApiKey {
            key: "APIhook".into(),
            secret: "hook-secret-hook-secret-hook".to_owned().into(),
        }
    }

    const BODY: &[u8] = br#"{"event":"room_started","room":{"sid":"RM_1","name":"bhm-a"},"id":"EV_1","createdAt":"1000"}"#;

    #[test]
    fn a_signed_body_is_read() {
        let auth = sign(&api(), BODY, 1000).unwrap();
        let event = verify(&api(), Some(&auth), BODY, 1000).unwrap();
        assert_eq!(event.event, "room_started");
        assert_eq!(event.room.unwrap().name, "bhm-a");
    }

    #[test]
    fn one_changed_byte_a_missing_header_or_a_late_token_is_refused() {
        let auth = sign(&api(), BODY, 1000).unwrap();
        let mut changed = BODY.to_vec();
        changed[12] ^= 1;
        assert_eq!(
            verify(&api(), Some(&auth), &changed, 1000),
            Err(WebhookError::BodyMismatch)
        );
        assert_eq!(
            verify(&api(), None, BODY, 1000),
            Err(WebhookError::MissingAuthorization)
        );
        assert_eq!(
            verify(&api(), Some(&auth), BODY, 1000 + 300 + 61),
            Err(WebhookError::BadToken(TokenError::Expired))
        );
    }
}
