//! Signing keys: one deployment-wide set, kept in the database (encrypted under the
//! key-encryption key, [`kek`]) so that every node signs with the same key and publishes the
//! same JWKS. This module is the keys themselves and their schedule; reading and writing the
//! table is `crate::store::signing_keys`, and the start-up, refresh and rotation that join the
//! two are `crate::app::keys`.
//!
//! The schedule is two-stage: a rotated-in key is published at once but signs only from its
//! `signs_from`, once relying parties' cached copies of the JWKS (at most
//! [`JWKS_MAX_AGE_SECONDS`] old) have it; a rotated-out key stays published until its
//! successor's `signs_from` plus `key_grace_seconds`, so tokens it signed keep verifying.
//!
//! The `kid` is the key's RFC 7638 thumbprint, the same on every node and after every restart.

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, SecretDocument};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock::{format_time, UnixTime};

pub mod kek;
pub mod legacy;
mod ring;
mod schedule;

pub use kek::{Kek, KekSource};
pub use ring::KeyRing;

/// How long relying parties may cache the JWKS; defined with the configuration, which checks
/// `key_refresh_seconds` against it.
pub use crate::config::JWKS_MAX_AGE_SECONDS;
pub use schedule::{key_state, KeyState};

/// Size of generated RSA keys; relying parties such as Nextcloud refuse fewer than 2048 bits.
pub const RSA_BITS: usize = 2048;

/// Slack for clocks and for the nodes' own refresh on top of the JWKS cache lifetime.
pub const ROTATION_MARGIN_SECONDS: u64 = 60;

/// From when a key added by a two-stage rotation at `now` signs.
pub fn two_stage_signs_from(now: UnixTime) -> UnixTime {
    now.saturating_add((JWKS_MAX_AGE_SECONDS + ROTATION_MARGIN_SECONDS) as i64)
}

/// A checked RSA private key (PKCS#8 DER, wiped from memory when dropped) and its public numbers,
/// not yet given a place in the schedule.
pub struct PrivateKey {
    der: SecretDocument,
    kid: String,
    bits: usize,
    n: String,
    e: String,
}

impl PrivateKey {
    pub fn generate() -> anyhow::Result<Self> {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
            .context("generating an RSA key")?;
        Self::from_rsa(private, "the new key")
    }

    /// PKCS#8 as generated here, or PKCS#1 as `openssl genrsa` writes it; `what` names the key
    /// in errors (a file, a kid).
    pub fn from_pem(pem: &str, what: &str) -> anyhow::Result<Self> {
        let private = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{what} is not a valid RSA private key in PEM form"))?;
        Self::from_rsa(private, what)
    }

    pub fn from_pkcs8_der(der: &[u8], what: &str) -> anyhow::Result<Self> {
        let private = RsaPrivateKey::from_pkcs8_der(der)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{what} is not a valid RSA private key"))?;
        Self::from_rsa(private, what)
    }

    fn from_rsa(private: RsaPrivateKey, what: &str) -> anyhow::Result<Self> {
        let bits = private.size() * 8;
        if bits < RSA_BITS {
            bail!("{what} has {bits} bits; at least {RSA_BITS} are required");
        }
        let n = B64URL.encode(private.n().to_bytes_be());
        let e = B64URL.encode(private.e().to_bytes_be());
        let der = private
            .to_pkcs8_der()
            .with_context(|| format!("{what} cannot be encoded as PKCS#8"))?;
        Ok(Self {
            der,
            kid: thumbprint(&n, &e),
            bits,
            n,
            e,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The PKCS#8 DER form, for encryption; never to be logged or written in the clear.
    pub fn der(&self) -> &[u8] {
        self.der.as_bytes()
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Where a key stands in the set: its generation and its times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPlace {
    pub generation: i64,
    pub created_at: UnixTime,
    pub signs_from: UnixTime,
}

#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub generation: i64,
    pub created_at: UnixTime,
    pub signs_from: UnixTime,
    pub bits: usize,
    /// Parsed once: parsing and checking an RSA private key costs about a third of a signature.
    signer: PKey<Private>,
    decoding: DecodingKey,
    jwk: Jwk,
}

impl SigningKey {
    pub fn new(key: &PrivateKey, place: KeyPlace) -> anyhow::Result<Self> {
        let signer = PKey::private_key_from_der(key.der())
            .with_context(|| format!("signing key {} cannot be used for RS256", key.kid))?;
        let decoding = DecodingKey::from_rsa_components(&key.n, &key.e)
            .with_context(|| format!("public part of signing key {}", key.kid))?;
        Ok(Self {
            kid: key.kid.clone(),
            alg: Algorithm::RS256,
            generation: place.generation,
            created_at: place.created_at,
            signs_from: place.signs_from,
            bits: key.bits,
            signer,
            decoding,
            jwk: Jwk {
                kty: "RSA",
                use_: "sig",
                alg: "RS256",
                kid: key.kid.clone(),
                n: key.n.clone(),
                e: key.e.clone(),
            },
        })
    }

    /// An RS256 signature (RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256) of `message`.
    pub fn sign_rs256(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        // PKCS#1 v1.5 is the padding of a fresh RSA signer.
        openssl::sign::Signer::new(MessageDigest::sha256(), &self.signer)
            .and_then(|mut signer| signer.sign_oneshot_to_vec(message))
            .with_context(|| format!("RSA signing with key {}", self.kid))
    }

    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("generation", &self.generation)
            .field("created_at", &self.created_at)
            .field("signs_from", &self.signs_from)
            .finish_non_exhaustive()
    }
}

/// A public key as published in the JWKS (RFC 7517).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Jwk {
    pub kty: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
    pub kid: String,
    pub n: String,
    pub e: String,
}

/// Every key of the deployment, oldest generation first.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<SigningKey>,
    grace_seconds: u64,
}

impl KeySet {
    pub fn new(mut keys: Vec<SigningKey>, grace_seconds: u64) -> Self {
        keys.sort_by_key(|k| k.generation);
        Self {
            keys,
            grace_seconds,
        }
    }

    /// For tests: a set of one new key, generation 1, created and signing from `now`.
    #[cfg(test)]
    pub fn generate(now: UnixTime, grace_seconds: u64) -> anyhow::Result<Self> {
        Self::new(Vec::new(), grace_seconds).with_new_key(now, now)
    }

    /// For tests: this set and a new key after its newest, created at `now`.
    #[cfg(test)]
    pub fn with_new_key(&self, now: UnixTime, signs_from: UnixTime) -> anyhow::Result<Self> {
        let place = KeyPlace {
            generation: self.keys.last().map_or(1, |k| k.generation + 1),
            created_at: now,
            signs_from,
        };
        let mut keys = self.keys.clone();
        keys.push(SigningKey::new(&PrivateKey::generate()?, place)?);
        Ok(Self::new(keys, self.grace_seconds))
    }

    /// The key that signs at `now`: the newest whose `signs_from` has come. Should no key's have
    /// come (a node whose clock is behind), the oldest signs.
    pub fn signing(&self, now: UnixTime) -> &SigningKey {
        let index = schedule::signing_index(&self.signs_from(), now);
        &self.keys[index]
    }

    /// The key added last, whether or not it signs yet.
    pub fn newest(&self) -> &SigningKey {
        self.keys
            .last()
            .expect("a loaded key set has at least one key")
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn all(&self) -> &[SigningKey] {
        &self.keys
    }

    pub fn grace_seconds(&self) -> u64 {
        self.grace_seconds
    }

    fn signs_from(&self) -> Vec<UnixTime> {
        self.keys.iter().map(|k| k.signs_from).collect()
    }

    pub fn state(&self, index: usize, now: UnixTime) -> KeyState {
        key_state(&self.signs_from(), index, self.grace_seconds, now)
    }

    /// Keys whose signatures are valid: the next one, the signing one and those in their grace
    /// period.
    pub fn published(&self, now: UnixTime) -> impl Iterator<Item = &SigningKey> {
        let signs_from = self.signs_from();
        self.keys
            .iter()
            .enumerate()
            .filter(move |(i, _)| {
                key_state(&signs_from, *i, self.grace_seconds, now) != KeyState::Retired
            })
            .map(|(_, k)| k)
    }

    pub fn find_published(&self, kid: &str, now: UnixTime) -> Option<&SigningKey> {
        self.published(now).find(|k| k.kid == kid)
    }

    /// The JWKS document, newest key first.
    pub fn jwks(&self, now: UnixTime) -> serde_json::Value {
        let mut keys: Vec<&Jwk> = self.published(now).map(|k| &k.jwk).collect();
        keys.reverse();
        serde_json::json!({ "keys": keys })
    }
}

impl std::fmt::Display for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyState::Next { signs_from } => {
                write!(f, "next: signs from {}", format_time(*signs_from))
            }
            KeyState::Signing => f.write_str("signing"),
            KeyState::Grace { until } => write!(f, "published until {}", format_time(*until)),
            KeyState::Retired => f.write_str("retired"),
        }
    }
}

/// RFC 7638 §3: SHA-256 over the required members in lexicographic order, no white space.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    B64URL.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    fn key(generation: i64, created_at: UnixTime, signs_from: UnixTime) -> SigningKey {
        let private = PrivateKey::generate().unwrap();
        SigningKey::new(
            &private,
            KeyPlace {
                generation,
                created_at,
                signs_from,
            },
        )
        .unwrap()
    }

    #[test]
    fn a_generated_key_keeps_its_kid_through_its_der_form() {
        let private = PrivateKey::generate().unwrap();
        assert!(private.bits() >= 2048);
        let again = PrivateKey::from_pkcs8_der(private.der(), "the copy").unwrap();
        assert_eq!(again.kid(), private.kid());
    }

    #[test]
    fn a_two_stage_rotation_publishes_first_signs_later_and_retires_the_old_key() {
        // Generation 1 from 1 000; generation 2 added at 2 000, signing from 2 360; grace 3 600.
        let set = KeySet::new(vec![key(2, 2_000, 2_360), key(1, 1_000, 1_000)], 3_600);
        let (old, new) = (set.all()[0].kid.clone(), set.all()[1].kid.clone());
        let kids = |now| {
            set.published(now)
                .map(|k| k.kid.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(set.signing(2_000).kid, old);
        assert_eq!(set.signing(2_359).kid, old);
        assert_eq!(kids(2_000), vec![old.clone(), new.clone()]);
        assert_eq!(set.signing(2_360).kid, new);
        assert_eq!(kids(2_360 + 3_599), vec![old.clone(), new.clone()]);
        assert_eq!(kids(2_360 + 3_600), vec![new.clone()]);
        let jwks = set.jwks(2_500);
        assert_eq!(jwks["keys"][0]["kid"], new);
        assert_eq!(jwks["keys"][1]["kid"], old);
        assert_eq!(set.newest().kid, new);
    }

    #[test]
    fn weak_keys_are_refused_with_the_key_named() {
        let weak = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let der = weak.to_pkcs8_der().unwrap();
        let err = format!(
            "{:#}",
            PrivateKey::from_pkcs8_der(der.as_bytes(), "key k1").unwrap_err()
        );
        assert!(err.contains("key k1 has 1024 bits"), "{err}");
    }
}
