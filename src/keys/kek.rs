//! The key-encryption key (KEK): 32 bytes every node of a deployment holds, under which the
//! signing keys are stored in the database with AES-256-GCM. A random 96-bit nonce per key, and
//! the key's kid as associated data, so a ciphertext moved to another row does not decrypt.
//!
//! It comes from `BHEEM_SSO_KEY_ENCRYPTION_KEY` (base64) when set, else from
//! `<keys_dir>/encryption.key` (the same base64 text on one line, mode 0600), which the first
//! start on an empty database creates. It is never logged; its `Debug` names only its source.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// The environment variable that holds the KEK, base64.
pub const KEK_ENV: &str = "BHEEM_SSO_KEY_ENCRYPTION_KEY";

/// The KEK file's name in `keys_dir`.
pub const KEK_FILE: &str = "encryption.key";

const KEK_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;

/// Where a KEK came from (or would have), for messages to operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    Env,
    File(PathBuf),
}

impl fmt::Display for KekSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KekSource::Env => write!(f, "the environment variable {KEK_ENV}"),
            KekSource::File(path) => write!(f, "the file {}", path.display()),
        }
    }
}

pub struct Kek {
    /// Boxed: the expanded AES key schedule is a kilobyte, too much to move around by value.
    cipher: Box<Aes256Gcm>,
    source: KekSource,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// A private key as the database stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// base64 of the nonce.
    pub nonce: String,
    /// base64 of the ciphertext and its tag.
    pub ciphertext: String,
}

/// What [`Kek::find`] found.
#[derive(Debug)]
pub enum Found {
    Kek(Kek),
    /// No variable and no file: where the file was looked for.
    Missing(PathBuf),
}

impl Kek {
    /// From 32 bytes; `source` says where they came from.
    pub fn from_bytes(bytes: &[u8], source: KekSource) -> anyhow::Result<Self> {
        if bytes.len() != KEK_BYTES {
            bail!(
                "the key-encryption key from {source} has {} bytes; it must be {KEK_BYTES} (base64)",
                bytes.len()
            );
        }
        let cipher = Aes256Gcm::new_from_slice(bytes)
            .map_err(|_| anyhow::anyhow!("the key-encryption key from {source} is unusable"))?;
        Ok(Self {
            cipher: Box::new(cipher),
            source,
        })
    }

    /// The KEK from `env` (the value of [`KEK_ENV`], when set) or else the file in `keys_dir`.
    /// Nothing is created: see [`Kek::create_file`].
    pub fn find(env: Option<&SecretString>, keys_dir: &Path) -> anyhow::Result<Found> {
        if let Some(value) = env {
            return Self::from_base64(value.expose_secret(), KekSource::Env).map(Found::Kek);
        }
        let path = keys_dir.join(KEK_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => {
                warn_if_readable_by_others(&path);
                Self::from_base64(&text, KekSource::File(path)).map(Found::Kek)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Found::Missing(path)),
            Err(e) => Err(e)
                .with_context(|| format!("cannot read the key-encryption key {}", path.display())),
        }
    }

    fn from_base64(text: &str, source: KekSource) -> anyhow::Result<Self> {
        let bytes = B64.decode(text.trim()).map_err(|_| {
            anyhow::anyhow!("the key-encryption key from {source} is not valid base64")
        })?;
        Self::from_bytes(&bytes, source)
    }

    /// Writes a new random KEK to `<keys_dir>/encryption.key`, mode 0600. `None` when the file
    /// appeared meanwhile (another process on the same folder): the caller reads that one.
    pub fn create_file(keys_dir: &Path) -> anyhow::Result<Option<Self>> {
        fs::create_dir_all(keys_dir)
            .with_context(|| format!("creating keys_dir {}", keys_dir.display()))?;
        let mut bytes = [0u8; KEK_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let path = keys_dir.join(KEK_FILE);
        let suffix: u32 = rand::random();
        let tmp = keys_dir.join(format!(".{KEK_FILE}.{suffix:08x}.tmp"));
        // Written in full under a temporary name, then linked to its own: the link fails if the
        // file exists, so a KEK another process wrote is never replaced and never seen half-made.
        let written = private_file(&tmp).and_then(|mut file| {
            file.write_all(format!("{}\n", B64.encode(bytes)).as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", tmp.display()))
        });
        let linked = written.and_then(|()| match fs::hard_link(&tmp, &path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
        });
        let _ = fs::remove_file(&tmp);
        if !linked? {
            return Ok(None);
        }
        Self::from_bytes(&bytes, KekSource::File(path)).map(Some)
    }

    pub fn source(&self) -> &KekSource {
        &self.source
    }

    /// Encrypts a private key (its PKCS#8 DER form) for the row of `kid`.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> anyhow::Result<Sealed> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("encrypting signing key {kid}"))?;
        Ok(Sealed {
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(ciphertext),
        })
    }

    /// Decrypts the private key of the row of `kid`, wiped from memory when dropped. Fails when
    /// this is not the KEK it was sealed with (or the row was altered), naming the kid and this
    /// KEK's source.
    pub fn open(&self, kid: &str, sealed: &Sealed) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let nonce = B64
            .decode(&sealed.nonce)
            .ok()
            .filter(|n| n.len() == NONCE_BYTES)
            .with_context(|| format!("signing key {kid}: the stored nonce is malformed"))?;
        let ciphertext = B64
            .decode(&sealed.ciphertext)
            .with_context(|| format!("signing key {kid}: the stored key is not base64"))?;
        self.cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "the key-encryption key from {} does not decrypt signing key {kid}: it is \
                     not the key the database's signing keys were encrypted with",
                    self.source
                )
            })
            .map(Zeroizing::new)
    }
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

/// As for key files: a KEK others can read gives them every signing key.
pub(super) fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "key file is readable by other users; chmod 600 it");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> Kek {
        Kek::from_bytes(&[byte; KEK_BYTES], KekSource::Env).unwrap()
    }

    #[test]
    fn a_sealed_key_opens_with_its_kek_and_kid() {
        let sealed = kek(7).seal("kid-1", b"private key bytes").unwrap();
        assert_ne!(sealed.ciphertext, B64.encode(b"private key bytes"));
        assert_eq!(
            *kek(7).open("kid-1", &sealed).unwrap(),
            b"private key bytes"
        );
        // A fresh nonce each time: the same key sealed twice looks different.
        assert_ne!(kek(7).seal("kid-1", b"private key bytes").unwrap(), sealed);
    }

    #[test]
    fn another_kek_or_another_kid_is_refused_with_a_clear_error() {
        let sealed = kek(7).seal("kid-1", b"private key bytes").unwrap();
        let err = format!("{:#}", kek(8).open("kid-1", &sealed).unwrap_err());
        assert!(
            err.contains("does not decrypt signing key kid-1") && err.contains(KEK_ENV),
            "{err}"
        );
        assert!(kek(7).open("kid-2", &sealed).is_err());
    }

    #[test]
    fn the_kek_file_is_created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Kek::find(None, dir.path()).unwrap(),
            Found::Missing(_)
        ));
        let created = Kek::create_file(dir.path()).unwrap().unwrap();
        let sealed = created.seal("k", b"secret").unwrap();
        // A second creation finds the file there and leaves it alone.
        assert!(Kek::create_file(dir.path()).unwrap().is_none());
        let Found::Kek(read) = Kek::find(None, dir.path()).unwrap() else {
            panic!("the KEK file should be found");
        };
        assert_eq!(*read.open("k", &sealed).unwrap(), b"secret");
        let path = dir.path().join(KEK_FILE);
        assert_eq!(read.source(), &KekSource::File(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // Nothing else is left in the folder.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_variable_wins_over_the_file_and_must_be_32_bytes_of_base64() {
        let dir = tempfile::tempdir().unwrap();
        Kek::create_file(dir.path()).unwrap().unwrap();
        let env = SecretString::from(B64.encode([9u8; KEK_BYTES]));
        let Found::Kek(kek) = Kek::find(Some(&env), dir.path()).unwrap() else {
            panic!("the variable should be used");
        };
        assert_eq!(kek.source(), &KekSource::Env);
        let short = SecretString::from(B64.encode([9u8; 16]));
        let err = format!("{:#}", Kek::find(Some(&short), dir.path()).unwrap_err());
        assert!(err.contains("16 bytes") && err.contains(KEK_ENV), "{err}");
        let garbage = SecretString::from("not base64!".to_owned());
        let err = format!("{:#}", Kek::find(Some(&garbage), dir.path()).unwrap_err());
        assert!(err.contains("not valid base64"), "{err}");
    }
}
