//! Password hashing and verification.
//!
//! New hashes are argon2id. Verification also accepts what an ERP is likely to hold: bcrypt
//! (`$2a$`, `$2b$`, `$2y$`), passlib's `$pbkdf2-sha256$`/`$pbkdf2-sha512$`, Django's
//! `pbkdf2_sha256$`, and any argon2 PHC string. Hashing runs on the blocking pool, at most
//! `max_concurrent` at once, so a burst of logins cannot starve the async runtime or the memory.

use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::config::PasswordConfig;

/// What checking a password against a stored hash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password is right; `needs_rehash` when the hash is legacy or weaker than configured.
    Match {
        needs_rehash: bool,
    },
    Mismatch,
    /// The stored hash is of an unknown format or corrupt: a failed login, never a server error.
    Unusable,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashFormatError {
    #[error("unknown password hash format")]
    UnknownFormat,
    #[error("corrupt {0} hash")]
    Corrupt(&'static str),
}

#[derive(Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    /// Verified against when the user does not exist, so that costs what a real check costs.
    dummy_hash: Arc<str>,
}

impl Passwords {
    pub fn new(config: &PasswordConfig) -> anyhow::Result<Self> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let permits = match config.max_concurrent {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let dummy_hash =
            hash_with(&params, b"a password nobody has").context("computing the dummy hash")?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(permits)),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// A new argon2id hash in PHC form.
    pub async fn hash(&self, password: &SecretString) -> anyhow::Result<String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .context("password hashing pool closed")?;
        let params = self.params.clone();
        let password = password.clone();
        tokio::task::spawn_blocking(move || hash_with(&params, password.expose_secret().as_bytes()))
            .await
            .context("password hashing task")?
    }

    /// Checks `password` against `stored`; with `None` (no such user) it checks against a dummy
    /// hash and reports a mismatch, taking the same time as a real check.
    pub async fn verify(&self, password: &SecretString, stored: Option<&str>) -> Verification {
        let Ok(_permit) = self.permits.acquire().await else {
            return Verification::Unusable;
        };
        let params = self.params.clone();
        let password = password.clone();
        let (stored, real) = match stored {
            Some(s) => (s.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        let outcome = tokio::task::spawn_blocking(move || {
            verify_hash(password.expose_secret().as_bytes(), &stored, &params)
        })
        .await;
        match outcome {
            Ok(Ok(Some(needs_rehash))) if real => Verification::Match { needs_rehash },
            Ok(Ok(_)) => Verification::Mismatch,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "stored password hash cannot be used; login refused");
                Verification::Unusable
            }
            Err(e) => {
                tracing::error!(error = %e, "password verification task failed");
                Verification::Unusable
            }
        }
    }
}

fn hash_with(params: &Params, password: &[u8]) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

/// `Ok(Some(needs_rehash))` on a match, `Ok(None)` on a mismatch.
pub fn verify_hash(
    password: &[u8],
    stored: &str,
    current: &Params,
) -> Result<Option<bool>, HashFormatError> {
    let stored = stored.trim();
    if stored.starts_with("$argon2") {
        verify_argon2(password, stored, current)
    } else if ["$2a$", "$2b$", "$2y$", "$2x$"]
        .iter()
        .any(|p| stored.starts_with(p))
    {
        bcrypt::verify(password, stored)
            .map(|ok| ok.then_some(true))
            .map_err(|_| HashFormatError::Corrupt("bcrypt"))
    } else if let Some(rest) = stored.strip_prefix("$pbkdf2-sha256$") {
        verify_passlib_pbkdf2(password, rest, Sha::Sha256)
    } else if let Some(rest) = stored.strip_prefix("$pbkdf2-sha512$") {
        verify_passlib_pbkdf2(password, rest, Sha::Sha512)
    } else if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        verify_django_pbkdf2(password, rest)
    } else {
        Err(HashFormatError::UnknownFormat)
    }
}

fn verify_argon2(
    password: &[u8],
    stored: &str,
    current: &Params,
) -> Result<Option<bool>, HashFormatError> {
    let hash = PasswordHash::new(stored).map_err(|_| HashFormatError::Corrupt("argon2"))?;
    let params = Params::try_from(&hash).map_err(|_| HashFormatError::Corrupt("argon2"))?;
    let weaker = hash.algorithm.as_str() != "argon2id"
        || params.m_cost() < current.m_cost()
        || params.t_cost() < current.t_cost();
    match Argon2::default().verify_password(password, &hash) {
        Ok(()) => Ok(Some(weaker)),
        Err(argon2::password_hash::Error::Password) => Ok(None),
        Err(_) => Err(HashFormatError::Corrupt("argon2")),
    }
}

/// passlib: `$pbkdf2-sha256$<rounds>$<salt>$<checksum>`, salt and checksum in passlib's
/// "adapted base64" (`.` for `+`, no padding).
fn verify_passlib_pbkdf2(
    password: &[u8],
    rest: &str,
    sha: Sha,
) -> Result<Option<bool>, HashFormatError> {
    let corrupt = || HashFormatError::Corrupt("pbkdf2");
    let mut parts = rest.split('$');
    let (Some(rounds), Some(salt), Some(checksum), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt());
    };
    let rounds: u32 = rounds.parse().map_err(|_| corrupt())?;
    let ab64 = |s: &str| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(s.replace('.', "+"))
            .map_err(|_| corrupt())
    };
    let salt = ab64(salt)?;
    let expected = ab64(checksum)?;
    if rounds == 0 || expected.len() != sha.output_len() {
        return Err(corrupt());
    }
    let mut derived = vec![0u8; expected.len()];
    match sha {
        Sha::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &salt, rounds, &mut derived),
        Sha::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, &salt, rounds, &mut derived),
    }
    Ok(bool::from(derived.ct_eq(&expected)).then_some(true))
}

/// Django: `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`, the salt used as its text.
fn verify_django_pbkdf2(password: &[u8], rest: &str) -> Result<Option<bool>, HashFormatError> {
    let corrupt = || HashFormatError::Corrupt("pbkdf2");
    let mut parts = rest.split('$');
    let (Some(rounds), Some(salt), Some(checksum), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt());
    };
    let rounds: u32 = rounds.parse().map_err(|_| corrupt())?;
    let expected = base64::engine::general_purpose::STANDARD
        .decode(checksum)
        .map_err(|_| corrupt())?;
    if rounds == 0 || expected.len() != 32 {
        return Err(corrupt());
    }
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt.as_bytes(), rounds, &mut derived);
    Ok(bool::from(derived.ct_eq(&expected[..])).then_some(true))
}

#[derive(Clone, Copy)]
enum Sha {
    Sha256,
    Sha512,
}

impl Sha {
    fn output_len(self) -> usize {
        match self {
            Sha::Sha256 => 32,
            Sha::Sha512 => 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::new(8 * 1024, 1, 1, None).unwrap()
    }

    fn check(stored: &str, password: &str) -> Result<Option<bool>, HashFormatError> {
        verify_hash(password.as_bytes(), stored, &params())
    }

    // Vectors made by Python's passlib 1.7 and bcrypt 4, not by this code.
    const PASSLIB_PBKDF2: &str =
        "$pbkdf2-sha256$1000$kjJmbI0xhhAC4PxfSwkBwA$yVsSrURvV9B3iMY1x51AhjCpOoFpKoJJE1rqRH3os2A";
    const DJANGO_PBKDF2: &str =
        "pbkdf2_sha256$1000$MNNPNMiVw5mk$1bgZfplmHOnucjlsmU8eCuoDbUfwdHKXpXjzn0P/QqI=";
    const BCRYPT_2A: &str = "$2a$04$cvq90/JR5kRh/fY0PfEx1On8UBH5xiQ3yEzACqVllXbfoRnsxvSUS";

    #[test]
    fn passlib_pbkdf2_sha256_verifies() {
        assert_eq!(check(PASSLIB_PBKDF2, "correct horse"), Ok(Some(true)));
        assert_eq!(check(PASSLIB_PBKDF2, "wrong horse"), Ok(None));
    }

    #[test]
    fn django_pbkdf2_sha256_verifies() {
        assert_eq!(check(DJANGO_PBKDF2, "correct horse"), Ok(Some(true)));
        assert_eq!(check(DJANGO_PBKDF2, "Correct horse"), Ok(None));
    }

    #[test]
    fn bcrypt_variants_verify() {
        assert_eq!(check(BCRYPT_2A, "correct horse"), Ok(Some(true)));
        assert_eq!(
            check(&BCRYPT_2A.replacen("$2a$", "$2y$", 1), "correct horse"),
            Ok(Some(true))
        );
        assert_eq!(
            check(&BCRYPT_2A.replacen("$2a$", "$2b$", 1), "correct horse"),
            Ok(Some(true))
        );
        assert_eq!(check(BCRYPT_2A, "correct hors"), Ok(None));
    }

    #[test]
    fn argon2id_with_current_params_needs_no_rehash() {
        let hash = hash_with(&params(), b"s3cret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert_eq!(check(&hash, "s3cret"), Ok(Some(false)));
        assert_eq!(check(&hash, "s3cret!"), Ok(None));
        let stronger = Params::new(16 * 1024, 2, 1, None).unwrap();
        assert_eq!(verify_hash(b"s3cret", &hash, &stronger), Ok(Some(true)));
    }

    #[test]
    fn corrupt_and_unknown_hashes_are_errors_not_panics() {
        assert_eq!(
            check("plaintext", "plaintext"),
            Err(HashFormatError::UnknownFormat)
        );
        assert_eq!(check("", ""), Err(HashFormatError::UnknownFormat));
        assert!(check("$2b$04$short", "x").is_err());
        assert!(check("$argon2id$v=19$m=abc", "x").is_err());
        assert!(check("$pbkdf2-sha256$notanumber$abc$def", "x").is_err());
        assert!(check("$pbkdf2-sha256$1000$!!!$def", "x").is_err());
        assert!(check("$pbkdf2-sha256$1000$kjJmbI0xhhAC4PxfSwkBwA$c2hvcnQ", "x").is_err());
    }

    #[tokio::test]
    async fn unknown_user_is_a_mismatch_after_a_real_check() {
        let config = PasswordConfig {
            memory_kib: 8 * 1024,
            iterations: 1,
            ..Default::default()
        };
        let passwords = Passwords::new(&config).unwrap();
        let secret = SecretString::from("a password nobody has");
        assert_eq!(
            passwords.verify(&secret, None).await,
            Verification::Mismatch
        );
        let hash = passwords.hash(&secret).await.unwrap();
        assert_eq!(
            passwords.verify(&secret, Some(&hash)).await,
            Verification::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            passwords.verify(&secret, Some("garbage")).await,
            Verification::Unusable
        );
    }
}
