//! The signing keys of releases before the database held them: `*.pem` files in `keys_dir`,
//! read once, when a deployment's database has no key yet, to be imported with their kid and
//! creation time, so that tokens already issued keep verifying and relying parties see no new
//! key.
//!
//! A file is named `key-<created unix seconds>-<random>.pem`; a PEM an operator dropped in under
//! another name counts as created at its modification time.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::kek::warn_if_readable_by_others;
use super::PrivateKey;
use crate::clock::UnixTime;

#[derive(Debug)]
pub struct LegacyKey {
    pub key: PrivateKey,
    pub created_at: UnixTime,
    pub path: PathBuf,
}

/// Every `*.pem` in `dir`, oldest first, each kid once. An unreadable or corrupt file is an
/// error naming it; a missing folder holds no keys.
pub fn read_dir(dir: &Path) -> anyhow::Result<Vec<LegacyKey>> {
    let mut keys = Vec::new();
    if !dir.exists() {
        return Ok(keys);
    }
    let entries =
        fs::read_dir(dir).with_context(|| format!("reading keys_dir {}", dir.display()))?;
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading keys_dir {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "pem") {
            keys.push(read_file(&path)?);
        }
    }
    keys.sort_by(|a, b| (a.created_at, a.key.kid()).cmp(&(b.created_at, b.key.kid())));
    keys.dedup_by(|a, b| a.key.kid() == b.key.kid());
    Ok(keys)
}

fn read_file(path: &Path) -> anyhow::Result<LegacyKey> {
    let pem = fs::read_to_string(path)
        .with_context(|| format!("cannot read signing key {}", path.display()))?;
    let key = PrivateKey::from_pem(&pem, &format!("signing key {}", path.display()))?;
    warn_if_readable_by_others(path);
    Ok(LegacyKey {
        key,
        created_at: created_at(path)?,
        path: path.to_owned(),
    })
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

#[cfg(test)]
mod tests {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    use rsa::RsaPrivateKey;

    use super::*;

    #[test]
    fn pem_files_are_read_with_their_kid_and_creation_time_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let older = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let newer = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let older_pem = older.to_pkcs8_pem(LineEnding::LF).unwrap();
        fs::write(
            dir.path().join("key-2000-0000abcd.pem"),
            older_pem.as_bytes(),
        )
        .unwrap();
        // PKCS#1, as `openssl genrsa` writes it, under a name of the operator's.
        let newer_pem = newer.to_pkcs1_pem(LineEnding::LF).unwrap();
        fs::write(dir.path().join("imported.pem"), newer_pem.as_bytes()).unwrap();
        fs::write(dir.path().join("README.md"), "keys live here").unwrap();
        fs::write(dir.path().join("encryption.key"), "not a pem").unwrap();

        let keys = read_dir(dir.path()).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].created_at, 2_000);
        assert!(keys[1].created_at > 2_000, "mtime of imported.pem");
        let expected =
            PrivateKey::from_pkcs8_der(older.to_pkcs8_der().unwrap().as_bytes(), "older").unwrap();
        assert_eq!(keys[0].key.kid(), expected.kid());
        assert!(keys[1].path.ends_with("imported.pem"));
    }

    #[test]
    fn a_corrupt_or_weak_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.pem");
        // PEM armor around text that is not base64: no key at all, only its label.
        let label = "PRIVATE KEY";
        fs::write(
            &path,
            format!("-----BEGIN {label}-----\nnot base64\n-----END {label}-----\n"),
        )
        .unwrap();
        let err = format!("{:#}", read_dir(dir.path()).unwrap_err());
        assert!(err.contains("broken.pem"), "{err}");

        let weak = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        fs::write(&path, weak.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
        let err = format!("{:#}", read_dir(dir.path()).unwrap_err());
        assert!(err.contains("1024 bits"), "{err}");
    }

    #[test]
    fn no_folder_no_keys() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_dir(&dir.path().join("absent")).unwrap().is_empty());
    }
}
