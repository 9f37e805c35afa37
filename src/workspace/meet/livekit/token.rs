//! LiveKit access tokens: HS256 JWTs signed with the API secret, `iss` = the API key, and a
//! `video` grant whose fields are camelCase (livekit/protocol `auth/grants.go`, REFERENCE.md).
//! The same format serves three purposes: the join token a participant connects with, the
//! short-lived token that signs each server-API call, and the token LiveKit signs its webhooks
//! with (which carries the body's `sha256`).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

/// LiveKit verifies `exp` and `nbf` with a minute of leeway (livekit/protocol `auth/verifier.go`);
/// so do we, for its webhooks.
pub const LEEWAY_SECONDS: i64 = 60;

/// The grants of a token, as LiveKit names them. Absent fields are left out of the JSON: LiveKit
/// reads a missing `canPublish`, `canSubscribe` or `canPublishData` as allowed, every other
/// missing grant as not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VideoGrant {
    #[serde(skip_serializing_if = "is_false")]
    pub room_create: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub room_list: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub room_record: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub room_admin: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub room_join: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_publish: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_subscribe: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_publish_data: Option<bool>,
    #[serde(skip_serializing_if = "is_false")]
    pub hidden: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl VideoGrant {
    /// What a participant joining `room` may do; a host also administers and records it.
    pub fn join(room: &str, role: Role) -> Self {
        let host = role == Role::Host;
        Self {
            room_join: true,
            room: Some(room.to_owned()),
            can_publish: Some(true),
            can_subscribe: Some(true),
            can_publish_data: Some(true),
            room_admin: host,
            room_record: host,
            ..Self::default()
        }
    }
}

/// Whether a participant hosts the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Host,
    Participant,
}

/// The claims of a LiveKit token (livekit/protocol `auth.ClaimGrants` with the JWT's own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The participant's identity; empty (left out) in server and webhook tokens.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub nbf: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    #[serde(default)]
    pub video: VideoGrant,
    /// Webhooks only: the base64 SHA-256 of the request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The API key and secret every token is signed with. `Debug` shows the key only.
#[derive(Clone)]
pub struct ApiKey {
    pub key: String,
    pub secret: SecretString,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("key", &self.key)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// Why a token was not accepted. Never carries the token itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("not a JWT signed with the API secret: {0}")]
    Invalid(String),
    #[error("issued by `{0}`, not by our API key")]
    WrongIssuer(String),
    #[error("expired")]
    Expired,
    #[error("not valid yet")]
    NotYetValid,
}

impl ApiKey {
    /// Signs `claims` with HS256 (the only algorithm LiveKit accepts). `iss` is set to the key.
    pub fn sign(&self, mut claims: Claims) -> anyhow::Result<String> {
        claims.iss = self.key.clone();
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.secret.expose_secret().as_bytes()),
        )
        .map_err(|e| anyhow::anyhow!("signing a LiveKit token: {e}"))
    }

    /// Checks a token as LiveKit does: HS256 with our secret, `iss` our key, `exp` required and
    /// not passed, `nbf` reached, each with [`LEEWAY_SECONDS`]. Times are checked against `now`.
    pub fn verify(&self, token: &str, now: UnixTime) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Time is passed in (checked below), and LiveKit's tokens carry no audience.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss"]);
        let data = jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(self.secret.expose_secret().as_bytes()),
            &validation,
        )
        .map_err(|e| TokenError::Invalid(e.kind_description()))?;
        let claims = data.claims;
        if claims.iss != self.key {
            return Err(TokenError::WrongIssuer(claims.iss));
        }
        if claims.exp + LEEWAY_SECONDS < now {
            return Err(TokenError::Expired);
        }
        if claims.nbf - LEEWAY_SECONDS > now {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

/// A short description of a jsonwebtoken error, without the input.
trait KindDescription {
    fn kind_description(&self) -> String;
}

impl KindDescription for jsonwebtoken::errors::Error {
    fn kind_description(&self) -> String {
        use jsonwebtoken::errors::ErrorKind;
        match self.kind() {
            ErrorKind::InvalidSignature => "bad signature".into(),
            ErrorKind::InvalidAlgorithm => "not HS256".into(),
            ErrorKind::MissingRequiredClaim(c) => format!("no `{c}` claim"),
            ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                "malformed".into()
            }
            ErrorKind::Json(_) => "claims of the wrong shape".into(),
            other => format!("{other:?}"),
        }
    }
}

/// The participant a join token is for.
#[derive(Clone, Debug)]
pub struct Participant<'a> {
    /// LiveKit's `identity`: unique in the room (the user's `sub`).
    pub identity: &'a str,
    /// The name other participants see.
    pub name: &'a str,
    pub metadata: Option<&'a str>,
    pub role: Role,
}

/// A join token for `participant` in `room`, valid from `now` for `ttl_seconds`.
pub fn join_token(
    api: &ApiKey,
    room: &str,
    participant: &Participant<'_>,
    now: UnixTime,
    ttl_seconds: u64,
) -> anyhow::Result<String> {
    api.sign(Claims {
        iss: String::new(),
        sub: participant.identity.to_owned(),
        name: Some(participant.name.to_owned()),
        nbf: now,
        exp: now.saturating_add(i64::try_from(ttl_seconds).unwrap_or(i64::MAX)),
        metadata: participant.metadata.map(str::to_owned),
        video: VideoGrant::join(room, participant.role),
        sha256: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> ApiKey {
        ApiKey {
            key: "APIunit".into(),
            secret: "unit-test-secret-unit-test-secret".to_owned().into(),
        }
    }

    fn alice(role: Role) -> Participant<'static> {
        Participant {
            identity: "user-1",
            name: "Alice",
            metadata: None,
            role,
        }
    }

    #[test]
    fn join_token_carries_livekits_claims_in_camel_case() {
        let token = join_token(&api(), "bhm-abc-xyz", &alice(Role::Participant), 1000, 60).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        use base64::Engine;
        let json: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(json["iss"], "APIunit");
        assert_eq!(json["sub"], "user-1");
        assert_eq!(json["nbf"], 1000);
        assert_eq!(json["exp"], 1060);
        assert_eq!(
            json["video"],
            serde_json::json!({"roomJoin": true, "room": "bhm-abc-xyz", "canPublish": true,
                "canSubscribe": true, "canPublishData": true})
        );
        assert!(json.get("metadata").is_none());
        let host = join_token(&api(), "r", &alice(Role::Host), 1000, 60).unwrap();
        let claims = api().verify(&host, 1000).unwrap();
        assert!(claims.video.room_admin && claims.video.room_record);
    }

    #[test]
    fn verify_refuses_other_secrets_issuers_and_times() {
        let token = join_token(&api(), "r", &alice(Role::Participant), 1000, 60).unwrap();
        assert!(api().verify(&token, 1000).is_ok());
        assert_eq!(
            api().verify(&token, 1060 + 60).map(|_| ()),
            Ok(()),
            "leeway"
        );
        assert_eq!(api().verify(&token, 1121), Err(TokenError::Expired));
        assert_eq!(
            api().verify(&token, 1000 - 61),
            Err(TokenError::NotYetValid)
        );
        let other = ApiKey {
            key: "APIunit".into(),
            secret: "another-secret-another-secret!!".to_owned().into(),
        };
        assert!(matches!(
            other.verify(&token, 1000),
            Err(TokenError::Invalid(_))
        ));
        let other_key = ApiKey {
            key: "APIother".into(),
            secret: api().secret,
        };
        assert_eq!(
            other_key.verify(&token, 1000),
            Err(TokenError::WrongIssuer("APIunit".into()))
        );
        let debug = format!("{:?}", api());
        assert!(!debug.contains("unit-test-secret"), "{debug}");
    }
}
