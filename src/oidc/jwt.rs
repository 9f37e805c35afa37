//! Signing and verifying this provider's JWTs: access tokens (RFC 9068), ID tokens, and
//! ID tokens presented back as `id_token_hint`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::clock::UnixTime;
use crate::keys::KeySet;

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

/// What an `id_token_hint` tells, once its signature and issuer are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdTokenHint {
    pub sub: String,
    pub aud: Vec<String>,
    pub sid: Option<String>,
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

/// Signs `claims` with the active key; `typ` goes in the header (`JWT` when `None`).
///
/// The JWS compact serialization (RFC 7515 §7.1) is assembled here rather than by
/// `jsonwebtoken::encode`, which parses the private key again for every signature and signs with
/// ring; the key's parsed OpenSSL key signs 2–3 times as fast (docs/benchmarks.md).
/// Verification stays with `jsonwebtoken`.
pub fn sign<T: Serialize>(keys: &KeySet, typ: Option<&str>, claims: &T) -> anyhow::Result<String> {
    let key = keys.active();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    header.typ = Some(typ.unwrap_or("JWT").to_owned());
    let mut token = String::with_capacity(1024);
    URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(&header)?, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims)?, &mut token);
    let signature = key.sign_rs256(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// OIDC Core §3.1.3.6: base64url of the left half of SHA-256 of the access token.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Checks header, signature and issuer; `exp` is the caller's business (it has the clock).
fn verify<T: DeserializeOwned>(
    keys: &KeySet,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<(Header, T), JwtError> {
    if token.len() > 16 * 1024 {
        return Err(JwtError::Malformed);
    }
    // An unknown `alg` (including "none") fails here: the header does not parse.
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    if header.alg != Algorithm::RS256 {
        return Err(JwtError::Invalid);
    }
    let kid = header.kid.as_deref().ok_or(JwtError::UnknownKey)?;
    let key = keys.find_published(kid, now).ok_or(JwtError::UnknownKey)?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[issuer]);
    let data = jsonwebtoken::decode::<T>(token, key.decoding_key(), &validation)
        .map_err(|_| JwtError::Invalid)?;
    Ok((data.header, data.claims))
}

/// An access token of ours, whether expired or not.
pub fn verify_access_token_signature(
    keys: &KeySet,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<AccessTokenClaims, JwtError> {
    signed_access_token(keys, issuer, token, now).map(|(_, claims)| claims)
}

pub fn verify_access_token(
    keys: &KeySet,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<AccessTokenClaims, JwtError> {
    unexpired(
        verify_access_token_signature(keys, issuer, token, now)?,
        now,
    )
}

/// [`verify`] for an access token (`typ` `at+jwt`), with the `kid` that signed it.
fn signed_access_token(
    keys: &KeySet,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<(String, AccessTokenClaims), JwtError> {
    let (header, claims): (_, AccessTokenClaims) = verify(keys, issuer, token, now)?;
    if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
        return Err(JwtError::WrongType);
    }
    // `verify` found the key by this `kid`, so it is there.
    Ok((header.kid.unwrap_or_default(), claims))
}

fn unexpired(claims: AccessTokenClaims, now: UnixTime) -> Result<AccessTokenClaims, JwtError> {
    if claims.exp <= now {
        return Err(JwtError::Expired);
    }
    Ok(claims)
}

/// A token of ours whose header `typ` is `typ`, signature and issuer checked; `exp` is the
/// caller's business.
pub fn verify_typed<T: DeserializeOwned>(
    keys: &KeySet,
    issuer: &str,
    token: &str,
    now: UnixTime,
    typ: &str,
) -> Result<T, JwtError> {
    let (header, claims) = verify(keys, issuer, token, now)?;
    if header.typ.as_deref() != Some(typ) {
        return Err(JwtError::WrongType);
    }
    Ok(claims)
}

/// How many verified access tokens [`VerifiedAccessTokens`] remembers (each about half a KiB).
pub const VERIFIED_ACCESS_TOKENS: usize = 4096;

/// Access tokens whose signature checked out lately, by the SHA-256 of the whole token, with the
/// `kid` that signed them. A relying party or resource server presents the same token at
/// userinfo or introspection many times in its lifetime; checking its RSA signature again each
/// time was a sixth of the CPU time of such a request (docs/benchmarks.md). A remembered token
/// still goes through every other check: its key must still be published, its `exp` is checked
/// against the clock, and the token registry is asked each time (revocation, ended sessions).
pub struct VerifiedAccessTokens {
    entries: std::sync::Mutex<hashlink::LruCache<[u8; 32], (String, AccessTokenClaims)>>,
}

impl VerifiedAccessTokens {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: std::sync::Mutex::new(hashlink::LruCache::new(capacity)),
        }
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.entries.lock().unwrap().len()
    }

    /// [`verify_access_token`], remembering tokens that pass.
    pub fn verify(
        &self,
        keys: &KeySet,
        issuer: &str,
        token: &str,
        now: UnixTime,
    ) -> Result<AccessTokenClaims, JwtError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let remembered = self
            .entries
            .lock()
            .expect("verified-token cache lock poisoned")
            .get(&digest)
            .cloned();
        match remembered {
            Some((kid, claims)) if keys.find_published(&kid, now).is_some() => {
                unexpired(claims, now)
            }
            _ => {
                let (kid, claims) = signed_access_token(keys, issuer, token, now)?;
                // An expired token is not kept: it would only push out live ones.
                let claims = unexpired(claims, now)?;
                self.entries
                    .lock()
                    .expect("verified-token cache lock poisoned")
                    .insert(digest, (kid, claims.clone()));
                Ok(claims)
            }
        }
    }
}

/// An ID token of ours, expired or not (OIDC RP-Initiated Logout §2).
///
/// Every token this provider signs verifies with the same keys, so the kind is checked here:
/// only an ID token may stand for the user. ID tokens go out with `typ` `JWT`; access tokens
/// carry `at+jwt` (RFC 9068 §2.1) and logout tokens `logout+jwt` with an `events` claim
/// (OIDC Back-Channel Logout §2.4, which also says a logout token must never be taken for an
/// ID token). An ID token always has `sub`, `aud`, `exp` and `iat` (OIDC Core §2).
pub fn verify_id_token_hint(
    keys: &KeySet,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<IdTokenHint, JwtError> {
    let (header, claims): (_, Map<String, Value>) = verify(keys, issuer, token, now)?;
    if !header
        .typ
        .as_deref()
        .is_none_or(|typ| typ.eq_ignore_ascii_case("JWT"))
    {
        return Err(JwtError::WrongType);
    }
    if claims.contains_key("events") {
        return Err(JwtError::WrongType);
    }
    if !["exp", "iat"]
        .iter()
        .all(|name| claims.get(*name).is_some_and(Value::is_i64))
    {
        return Err(JwtError::Malformed);
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or(JwtError::Malformed)?
        .to_owned();
    let aud = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => return Err(JwtError::Malformed),
    };
    let sid = claims.get("sid").and_then(Value::as_str).map(str::to_owned);
    Ok(IdTokenHint { sub, aud, sid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_with_jsonwebtoken_and_carry_kid_and_typ() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeySet::load_or_generate(dir.path(), 60, 1_000).unwrap();
        let claims = access_claims(1_600);
        let token = sign(&keys, Some(ACCESS_TOKEN_TYPE), &claims).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(keys.active().kid.as_str()));
        assert_eq!(
            verify_access_token(&keys, "https://sso.example.com", &token, 1_100),
            Ok(claims)
        );
        // One flipped bit in the signature and it no longer verifies.
        let forged = with_a_flipped_signature_bit(&token);
        assert_eq!(
            verify_access_token(&keys, "https://sso.example.com", &forged, 1_100),
            Err(JwtError::Invalid)
        );
    }

    fn with_a_flipped_signature_bit(token: &str) -> String {
        let mut forged = token.as_bytes().to_vec();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        String::from_utf8(forged).unwrap()
    }

    /// A fresh key set (created at 1,000 with a grace of 60 s) and an access token it signed.
    fn keys_and_token(exp: UnixTime) -> (tempfile::TempDir, KeySet, String) {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeySet::load_or_generate(dir.path(), 60, 1_000).unwrap();
        let token = sign(&keys, Some(ACCESS_TOKEN_TYPE), &access_claims(exp)).unwrap();
        (dir, keys, token)
    }

    fn access_claims(exp: UnixTime) -> AccessTokenClaims {
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

    #[test]
    fn a_remembered_token_still_expires_and_a_forged_one_is_not_taken_for_it() {
        let (_dir, keys, token) = keys_and_token(1_600);
        let cache = VerifiedAccessTokens::new(16);
        let issuer = "https://sso.example.com";
        assert_eq!(
            cache.verify(&keys, issuer, &token, 1_100),
            Ok(access_claims(1_600))
        );
        assert_eq!(
            cache.verify(&keys, issuer, &token, 1_200),
            Ok(access_claims(1_600))
        );
        assert_eq!(
            cache.verify(&keys, issuer, &token, 1_600),
            Err(JwtError::Expired)
        );
        let forged = with_a_flipped_signature_bit(&token);
        assert_eq!(
            cache.verify(&keys, issuer, &forged, 1_100),
            Err(JwtError::Invalid)
        );
        assert_eq!(cache.remembered(), 1);
        // A token first seen after its expiry is refused and not remembered.
        let late = VerifiedAccessTokens::new(16);
        assert_eq!(
            late.verify(&keys, issuer, &token, 1_700),
            Err(JwtError::Expired)
        );
        assert_eq!(late.remembered(), 0);
        // An ID token is not an access token, remembered or not.
        let id_token = sign(&keys, None, &access_claims(1_600)).unwrap();
        assert_eq!(
            cache.verify(&keys, issuer, &id_token, 1_100),
            Err(JwtError::WrongType)
        );
        assert_eq!(
            cache.verify(&keys, issuer, &id_token, 1_100),
            Err(JwtError::WrongType)
        );
        // The issuer is checked before a token is remembered.
        assert_eq!(
            VerifiedAccessTokens::new(16).verify(&keys, "https://other.example.com", &token, 1_100),
            Err(JwtError::Invalid)
        );
    }

    #[test]
    fn a_remembered_token_fails_once_its_key_is_no_longer_published() {
        let (dir, keys, token) = keys_and_token(9_000);
        let cache = VerifiedAccessTokens::new(16);
        let issuer = "https://sso.example.com";
        assert!(cache.verify(&keys, issuer, &token, 1_100).is_ok());
        KeySet::rotate(dir.path(), 2_000).unwrap();
        let rotated = KeySet::load(dir.path(), 60).unwrap();
        // In the grace period the old key is still published, so the token still verifies.
        assert!(cache.verify(&rotated, issuer, &token, 2_030).is_ok());
        assert_eq!(
            cache.verify(&rotated, issuer, &token, 2_100),
            Err(JwtError::UnknownKey)
        );
    }

    fn id_claims() -> Value {
        serde_json::json!({
            "iss": "https://sso.example.com",
            "sub": "u1",
            "aud": "rp",
            "iat": 1_000,
            "exp": 4_600,
            "sid": "s1",
        })
    }

    fn hint(keys: &KeySet, typ: Option<&str>, claims: &Value) -> Result<IdTokenHint, JwtError> {
        let token = sign(keys, typ, claims).unwrap();
        verify_id_token_hint(keys, "https://sso.example.com", &token, 1_100)
    }

    #[test]
    fn only_an_id_token_is_taken_as_id_token_hint() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeySet::load_or_generate(dir.path(), 60, 1_000).unwrap();
        let expected = IdTokenHint {
            sub: "u1".into(),
            aud: vec!["rp".into()],
            sid: Some("s1".into()),
        };
        assert_eq!(hint(&keys, None, &id_claims()), Ok(expected.clone()));
        // RFC 7515 §4.1.9: the media type is compared without regard to case.
        assert_eq!(hint(&keys, Some("jwt"), &id_claims()), Ok(expected));

        // A logout token as the back-channel sends it (OIDC Back-Channel Logout §2.4).
        let mut logout = id_claims();
        logout["events"] =
            serde_json::json!({ "http://schemas.openid.net/event/backchannel-logout": {} });
        logout["jti"] = "j1".into();
        assert_eq!(
            hint(&keys, Some("logout+jwt"), &logout),
            Err(JwtError::WrongType)
        );
        // Its `events` claim gives it away even under an ID token's `typ`.
        assert_eq!(hint(&keys, None, &logout), Err(JwtError::WrongType));
        // An access token.
        let access = serde_json::to_value(access_claims(4_600)).unwrap();
        assert_eq!(
            hint(&keys, Some(ACCESS_TOKEN_TYPE), &access),
            Err(JwtError::WrongType)
        );
        assert_eq!(
            hint(&keys, Some("application/jose"), &id_claims()),
            Err(JwtError::WrongType)
        );
        // Every claim an ID token always has must be there.
        for missing in ["sub", "aud", "exp", "iat"] {
            let mut claims = id_claims();
            claims.as_object_mut().unwrap().remove(missing);
            assert_eq!(
                hint(&keys, None, &claims),
                Err(JwtError::Malformed),
                "without {missing}"
            );
        }
        // Expired is fine (RP-Initiated Logout §2).
        let mut expired = id_claims();
        expired["exp"] = 1_050.into();
        assert!(hint(&keys, None, &expired).is_ok());
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha256_in_base64url() {
        // Computed independently with Python's hashlib and base64.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNXAoStAr"),
            "oB3PEYd1DSoHfprxvDvEyA"
        );
    }
}
