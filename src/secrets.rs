//! The random secrets the provider hands out (codes, refresh tokens, session ids, CSRF tokens)
//! and the hash they are stored and looked up by, so that a copy of the database holds nothing
//! that can be presented.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A random secret of 256 bits, base64url: codes, refresh tokens, session ids.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Secrets are stored and looked up only by this hash: SHA-256, in lowercase hex. A secret has
/// 128 random bits at least (a browser session's id; 256 for those made here), so a plain hash
/// is enough: there is nothing to guess from it.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_256_bits_of_base64url_and_never_the_same_twice() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, b);
    }

    /// FIPS 180-2, appendix B.1: the SHA-256 of "abc".
    #[test]
    fn the_hash_is_sha256_in_lowercase_hex() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
