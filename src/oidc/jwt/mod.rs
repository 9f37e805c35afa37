//! Signing and verifying this provider's JWTs: access tokens (RFC 9068), ID tokens, and
//! ID tokens presented back as `id_token_hint`.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

mod sign;
mod verified_tokens;
mod verify;

pub use sign::{at_hash, sign};
pub use verified_tokens::{VerifiedAccessTokens, VERIFIED_ACCESS_TOKENS};
pub use verify::{
    verify_access_token, verify_access_token_signature, verify_id_token_hint, verify_typed,
    IdTokenHint,
};

/// RFC 9068 §2.1.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub iat: UnixTime,
    pub exp: UnixTime,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<UnixTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("token signed with an unknown key")]
    UnknownKey,
    #[error("bad signature or issuer")]
    Invalid,
    #[error("wrong token type")]
    WrongType,
    #[error("token expired")]
    Expired,
}

/// What the tests of signing, verifying and the verified-token cache all sign.
#[cfg(test)]
mod testing {
    use super::*;

    pub(super) fn access_claims(exp: UnixTime) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://sso.example.com".into(),
            sub: "u1".into(),
            aud: "rp".into(),
            client_id: "rp".into(),
            scope: "openid".into(),
            iat: 1_000,
            exp,
            jti: "j1".into(),
            company_id: Some("c1".into()),
            sid: None,
            auth_time: None,
        }
    }

    pub(super) fn with_a_flipped_signature_bit(token: &str) -> String {
        let mut forged = token.as_bytes().to_vec();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        String::from_utf8(forged).unwrap()
    }
}
