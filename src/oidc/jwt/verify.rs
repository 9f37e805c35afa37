//! Verification: the header, signature and issuer of every token of ours, then what each kind
//! must carry (an access token's `typ`, an ID token's claims).

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{AccessTokenClaims, JwtError, ACCESS_TOKEN_TYPE};
use crate::clock::UnixTime;
use crate::keys::KeySet;

/// What an `id_token_hint` tells, once its signature and issuer are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdTokenHint {
    pub sub: String,
    pub aud: Vec<String>,
    pub sid: Option<String>,
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
pub(super) fn signed_access_token(
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

pub(super) fn unexpired(
    claims: AccessTokenClaims,
    now: UnixTime,
) -> Result<AccessTokenClaims, JwtError> {
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
    use crate::oidc::jwt::sign;
    use crate::oidc::jwt::testing::access_claims;

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
        let token = sign(keys, 1_000, typ, claims).unwrap();
        verify_id_token_hint(keys, "https://sso.example.com", &token, 1_100)
    }

    #[test]
    fn only_an_id_token_is_taken_as_id_token_hint() {
        let keys = KeySet::generate(1_000, 60).unwrap();
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
}
