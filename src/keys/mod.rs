//! Signing keys: PEM files in `keys_dir`, one active, rotated-out ones still published in the
//! JWKS for a grace period so that tokens signed with them keep verifying.
//!
//! A key file is named `key-<created unix seconds>-<random>.pem`; a PEM dropped in by an operator
//! under another name counts as created at its modification time. The `kid` is the key's
//! RFC 7638 thumbprint, so it is the same after every restart and on every node.
//!
//! Just over 400 lines, one file: loading, generating and publishing share the key file's
//! format and the `kid`, and the tests (the RFC's vector among them) check them together.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock::UnixTime;

mod ring;
pub use ring::KeyRing;

/// Size of generated RSA keys; relying parties such as Nextcloud refuse fewer than 2048 bits.
pub const RSA_BITS: usize = 2048;

pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub created_at: UnixTime,
    pub path: PathBuf,
    pub bits: usize,
    /// Parsed once: parsing and checking an RSA private key costs about a third of a signature.
    signer: PKey<Private>,
    decoding: DecodingKey,
    jwk: Jwk,
}

impl SigningKey {
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
            .field("created_at", &self.created_at)
            .field("path", &self.path)
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs new tokens.
    Active,
    /// Rotated out, still published until the given time.
    Grace { until: UnixTime },
    /// No longer published; kept on disk for the operator to remove.
    Retired,
}

impl std::fmt::Display for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyState::Active => f.write_str("active"),
            KeyState::Grace { until } => {
                write!(f, "published until {}", crate::clock::format_time(*until))
            }
            KeyState::Retired => f.write_str("retired"),
        }
    }
}

/// All keys in `keys_dir`, oldest first; the newest is the active one.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<SigningKey>,
    grace_seconds: u64,
}

impl KeySet {
    /// Loads every key in `dir`, generating the first one when there is none.
    pub fn load_or_generate(dir: &Path, grace_seconds: u64, now: UnixTime) -> anyhow::Result<Self> {
        let set = Self::load(dir, grace_seconds)?;
        if !set.keys.is_empty() {
            return Ok(set);
        }
        let key = generate(dir, now)?;
        tracing::info!(kid = %key.kid, path = %key.path.display(), "generated the first signing key");
        Self::load(dir, grace_seconds)
    }

    /// Loads every `*.pem` in `dir`. An unreadable or corrupt file is an error naming it.
    pub fn load(dir: &Path, grace_seconds: u64) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        if dir.exists() {
            let entries =
                fs::read_dir(dir).with_context(|| format!("reading keys_dir {}", dir.display()))?;
            for entry in entries {
                let path = entry
                    .with_context(|| format!("reading keys_dir {}", dir.display()))?
                    .path();
                if path.extension().is_some_and(|e| e == "pem") {
                    keys.push(load_key(&path)?);
                }
            }
        }
        keys.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        keys.dedup_by(|a, b| a.kid == b.kid);
        Ok(Self {
            keys,
            grace_seconds,
        })
    }

    /// Writes a new key, which becomes the active one; the previous one enters its grace period.
    pub fn rotate(dir: &Path, now: UnixTime) -> anyhow::Result<String> {
        Ok(generate(dir, now)?.kid)
    }

    pub fn active(&self) -> &SigningKey {
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

    pub fn state(&self, index: usize, now: UnixTime) -> KeyState {
        match self.keys.get(index + 1) {
            None => KeyState::Active,
            Some(next) => {
                let until = next.created_at.saturating_add(self.grace_seconds as i64);
                if now < until {
                    KeyState::Grace { until }
                } else {
                    KeyState::Retired
                }
            }
        }
    }

    /// Keys whose signatures are still valid: the active one and those in their grace period.
    pub fn published(&self, now: UnixTime) -> impl Iterator<Item = &SigningKey> {
        self.keys
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.state(*i, now) != KeyState::Retired)
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

fn load_key(path: &Path) -> anyhow::Result<SigningKey> {
    let pem = fs::read_to_string(path)
        .with_context(|| format!("cannot read signing key {}", path.display()))?;
    // PKCS#8 as generated here, or PKCS#1 as `openssl genrsa` writes it.
    let private = RsaPrivateKey::from_pkcs8_pem(&pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&pem))
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "signing key {} is not a valid RSA private key in PEM form",
                path.display()
            )
        })?;
    let bits = private.size() * 8;
    if bits < RSA_BITS {
        bail!(
            "signing key {} has {bits} bits; at least {RSA_BITS} are required",
            path.display()
        );
    }
    warn_if_readable_by_others(path);
    let n = B64URL.encode(private.n().to_bytes_be());
    let e = B64URL.encode(private.e().to_bytes_be());
    let kid = thumbprint(&n, &e);
    let pkcs8 = private
        .to_pkcs8_der()
        .with_context(|| format!("signing key {} cannot be used for RS256", path.display()))?;
    let signer = PKey::private_key_from_der(pkcs8.as_bytes())
        .with_context(|| format!("signing key {} cannot be used for RS256", path.display()))?;
    let decoding = DecodingKey::from_rsa_components(&n, &e)
        .with_context(|| format!("public part of signing key {}", path.display()))?;
    Ok(SigningKey {
        created_at: created_at(path)?,
        path: path.to_owned(),
        alg: Algorithm::RS256,
        bits,
        signer,
        decoding,
        jwk: Jwk {
            kty: "RSA",
            use_: "sig",
            alg: "RS256",
            kid: kid.clone(),
            n,
            e,
        },
        kid,
    })
}

/// RFC 7638 §3: SHA-256 over the required members in lexicographic order, no white space.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    B64URL.encode(Sha256::digest(canonical.as_bytes()))
}

fn created_at(path: &Path) -> anyhow::Result<UnixTime> {
    let from_name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.strip_prefix("key-"))
        .and_then(|s| s.split('-').next())
        .and_then(|s| s.parse::<UnixTime>().ok());
    if let Some(t) = from_name {
        return Ok(t);
    }
    let modified = fs::metadata(path)
        .and_then(|m| m.modified())
        .with_context(|| format!("reading the modification time of {}", path.display()))?;
    Ok(modified
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as UnixTime))
}

fn generate(dir: &Path, now: UnixTime) -> anyhow::Result<SigningKey> {
    fs::create_dir_all(dir).with_context(|| format!("creating keys_dir {}", dir.display()))?;
    let private =
        RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS).context("generating an RSA key")?;
    let pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the new key as PEM")?;
    let suffix: u32 = rand::random();
    let path = dir.join(format!("key-{now}-{suffix:08x}.pem"));
    let tmp = dir.join(format!(".key-{now}-{suffix:08x}.tmp"));
    // Written under a temporary name and renamed, so a crash never leaves a half-written key.
    let mut file = private_file(&tmp)?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    load_key(&path)
}

#[cfg(unix)]
fn private_file(path: &Path) -> anyhow::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> anyhow::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "signing key is readable by other users; chmod 600 it");
            }
        }
    }
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

    #[test]
    fn first_load_generates_a_private_key_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = KeySet::load_or_generate(dir.path(), 3600, 1_000).unwrap();
        assert_eq!(first.all().len(), 1);
        let key = first.active();
        assert!(key.bits >= 2048);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&key.path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let again = KeySet::load_or_generate(dir.path(), 3600, 2_000).unwrap();
        assert_eq!(again.all().len(), 1);
        assert_eq!(again.active().kid, key.kid);
        assert_eq!(again.active().created_at, 1_000);
    }

    #[test]
    fn rotation_keeps_the_old_key_published_for_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let old = KeySet::load_or_generate(dir.path(), 3600, 1_000)
            .unwrap()
            .active()
            .kid
            .clone();
        let new = KeySet::rotate(dir.path(), 2_000).unwrap();
        let set = KeySet::load(dir.path(), 3600).unwrap();
        assert_eq!(set.active().kid, new);
        let kids = |now| {
            set.published(now)
                .map(|k| k.kid.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(kids(2_500), vec![old.clone(), new.clone()]);
        assert_eq!(set.state(0, 2_500), KeyState::Grace { until: 5_600 });
        assert_eq!(kids(5_600), vec![new.clone()]);
        assert_eq!(set.state(0, 5_600), KeyState::Retired);
        let jwks = set.jwks(2_500);
        assert_eq!(jwks["keys"][0]["kid"], new);
        assert_eq!(jwks["keys"][1]["kid"], old);
    }

    #[test]
    fn corrupt_or_weak_key_files_stop_loading_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.pem");
        // PEM armor around text that is not base64: no key at all, only its label.
        let label = "PRIVATE KEY";
        fs::write(
            &path,
            format!("-----BEGIN {label}-----\nnot base64\n-----END {label}-----\n"),
        )
        .unwrap();
        let err = format!("{:#}", KeySet::load(dir.path(), 60).unwrap_err());
        assert!(err.contains("broken.pem"), "{err}");

        let weak = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        fs::write(&path, weak.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
        let err = format!("{:#}", KeySet::load(dir.path(), 60).unwrap_err());
        assert!(err.contains("1024 bits"), "{err}");
    }

    #[test]
    fn other_files_in_the_folder_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("README.md"), "keys live here").unwrap();
        fs::write(dir.path().join(".gitignore"), "*").unwrap();
        assert!(KeySet::load(dir.path(), 60).unwrap().is_empty());
    }
}
