//! The hash formats: argon2id made here, and what an ERP is likely to hold (bcrypt, passlib's
//! and Django's pbkdf2, any argon2).

use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use subtle::ConstantTimeEq;

use super::HashFormatError;

pub(super) fn hash_with(params: &Params, password: &[u8]) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

/// `Ok(Some(needs_rehash))` on a match, `Ok(None)` on a mismatch. `memory` is an argon2 work area
/// to reuse, resized to what the hash needs (any empty `Vec` will do).
pub fn verify_hash(
    password: &[u8],
    stored: &str,
    current: &Params,
    memory: &mut Vec<Block>,
) -> Result<Option<bool>, HashFormatError> {
    let stored = stored.trim();
    if stored.starts_with("$argon2") {
        verify_argon2(password, stored, current, memory)
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
    memory: &mut Vec<Block>,
) -> Result<Option<bool>, HashFormatError> {
    let corrupt = |_: argon2::password_hash::Error| HashFormatError::Corrupt("argon2");
    let hash = PasswordHash::new(stored).map_err(corrupt)?;
    let algorithm = Algorithm::try_from(hash.algorithm).map_err(corrupt)?;
    let version = hash
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .map_err(|_| HashFormatError::Corrupt("argon2"))?;
    let params = Params::try_from(&hash).map_err(corrupt)?;
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return Err(HashFormatError::Corrupt("argon2"));
    };
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).map_err(corrupt)?;
    let weaker = algorithm != Algorithm::Argon2id
        || params.m_cost() < current.m_cost()
        || params.t_cost() < current.t_cost();
    // The same computation as `Argon2::verify_password`, in a work area that outlives it.
    if memory.len() != params.block_count() {
        *memory = vec![Block::default(); params.block_count()];
    }
    let mut derived = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut derived, &mut memory[..])
        .map_err(|_| HashFormatError::Corrupt("argon2"))?;
    Ok(bool::from(derived.ct_eq(expected.as_bytes())).then_some(weaker))
}

/// Whether `stored` is an argon2id hash made with `params`, so its check costs what a check
/// of a hash made here costs.
pub(super) fn has_params(stored: &str, params: &Params) -> bool {
    PasswordHash::new(stored.trim()).is_ok_and(|hash| {
        Algorithm::try_from(hash.algorithm) == Ok(Algorithm::Argon2id)
            && Params::try_from(&hash).is_ok_and(|p| {
                (p.m_cost(), p.t_cost(), p.p_cost())
                    == (params.m_cost(), params.t_cost(), params.p_cost())
            })
    })
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
pub(super) mod tests {
    use super::*;

    fn params() -> Params {
        Params::new(8 * 1024, 1, 1, None).unwrap()
    }

    fn check(stored: &str, password: &str) -> Result<Option<bool>, HashFormatError> {
        verify_hash(password.as_bytes(), stored, &params(), &mut Vec::new())
    }

    // Vectors made by Python's passlib 1.7 and bcrypt 4, not by this code.
    pub(in crate::password) const PASSLIB_PBKDF2: &str =
        "$pbkdf2-sha256$1000$kjJmbI0xhhAC4PxfSwkBwA$yVsSrURvV9B3iMY1x51AhjCpOoFpKoJJE1rqRH3os2A";
    pub(in crate::password) const DJANGO_PBKDF2: &str =
        "pbkdf2_sha256$1000$MNNPNMiVw5mk$1bgZfplmHOnucjlsmU8eCuoDbUfwdHKXpXjzn0P/QqI=";
    pub(in crate::password) const BCRYPT_2A: &str =
        "$2a$04$cvq90/JR5kRh/fY0PfEx1On8UBH5xiQ3yEzACqVllXbfoRnsxvSUS";

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
        assert_eq!(
            verify_hash(b"s3cret", &hash, &stronger, &mut Vec::new()),
            Ok(Some(true))
        );
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

    // Made by the reference C implementation (node `argon2` 0.45), not by this code.
    const REFERENCE_ARGON2: [&str; 4] = [
        "$argon2id$v=19$m=8192,p=1,t=1$H5GU16dHj6Dm/7Z0Hj8oDw$UJ0/ZVDFNaq3a+fC9OoZZwvkvLCiXklApJzEvK3NI/w",
        "$argon2i$v=19$m=8192,p=1,t=1$zymHPzDIYLTnU1NW/R2q4Q$mHN8BIZWPQzTTyQQZEWoKf3X10DNmwOl+F5KTZt6deY",
        "$argon2d$v=19$m=8192,p=1,t=1$S9/IdB6JgVcWN+LvDjVotg$svbUtEOzZxswxVoVkzL88SjgPgGqKlUZacwQFxHBteE",
        "$argon2id$v=19$m=4096,p=2,t=3$wSt3Xo3464D2Z7m5kNagOg$wKpvdlShskQUma9YVr5JBLfQvAnU4JSN",
    ];

    #[test]
    fn reference_argon2_hashes_verify_in_one_reused_work_area() {
        let mut memory = Vec::new();
        for stored in REFERENCE_ARGON2 {
            let current = params();
            let ok = verify_hash(b"correct horse", stored, &current, &mut memory);
            // argon2i/argon2d, and fewer passes or less memory than configured, want a rehash.
            let weaker = !stored.starts_with("$argon2id$v=19$m=8192");
            assert_eq!(ok, Ok(Some(weaker)), "{stored}");
            assert_eq!(
                verify_hash(b"correct horsE", stored, &current, &mut memory),
                Ok(None),
                "{stored}"
            );
        }
        // The work area was resized for the last hash's parameters, not kept at the first's.
        assert_eq!(
            memory.len(),
            Params::new(4096, 3, 2, None).unwrap().block_count()
        );
    }
}
