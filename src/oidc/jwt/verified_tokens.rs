//! The access tokens whose signature checked out lately, so a token presented again and again
//! costs one RSA verification, not one per request.

use sha2::{Digest, Sha256};

use super::verify::{signed_access_token, unexpired};
use super::{AccessTokenClaims, JwtError};
use crate::clock::UnixTime;
use crate::keys::KeySet;

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

    /// [`verify_access_token`](super::verify_access_token), remembering tokens that pass.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::jwt::testing::{access_claims, with_a_flipped_signature_bit};
    use crate::oidc::jwt::{sign, ACCESS_TOKEN_TYPE};

    /// A fresh key set (created at 1,000 with a grace of 60 s) and an access token it signed.
    fn keys_and_token(exp: UnixTime) -> (KeySet, String) {
        let keys = KeySet::generate(1_000, 60).unwrap();
        let token = sign(&keys, 1_000, Some(ACCESS_TOKEN_TYPE), &access_claims(exp)).unwrap();
        (keys, token)
    }

    #[test]
    fn a_remembered_token_still_expires_and_a_forged_one_is_not_taken_for_it() {
        let (keys, token) = keys_and_token(1_600);
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
        let id_token = sign(&keys, 1_000, None, &access_claims(1_600)).unwrap();
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
        let (keys, token) = keys_and_token(9_000);
        let cache = VerifiedAccessTokens::new(16);
        let issuer = "https://sso.example.com";
        assert!(cache.verify(&keys, issuer, &token, 1_100).is_ok());
        let rotated = keys.with_new_key(2_000, 2_000).unwrap();
        // In the grace period the old key is still published, so the token still verifies.
        assert!(cache.verify(&rotated, issuer, &token, 2_030).is_ok());
        assert_eq!(
            cache.verify(&rotated, issuer, &token, 2_100),
            Err(JwtError::UnknownKey)
        );
    }
}
