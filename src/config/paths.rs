//! Relative paths in a configuration file are relative to the file.
//!
//! `keys_dir = "keys"` in `/etc/bheem-sso/bheem-sso.toml` means `/etc/bheem-sso/keys` whether the
//! service is started from `/`, from a systemd unit's `WorkingDirectory` or from an operator's
//! home: otherwise `bheem-sso users add` run from another folder would open (and create) a
//! database of its own beside the operator. Only the file's values are resolved so: the built-in
//! defaults (no file) and `BHEEM_SSO_*` overrides stay relative to the current directory, as a
//! shell user expects of a path typed at the prompt. Absolute paths and in-memory SQLite
//! databases are left as they are.

use std::path::{Path, PathBuf};

use super::RawConfig;

/// Rewrites the relative `keys_dir`, SQLite `database_url` and `[mail] tls_ca_file` of `raw`, as read from the file
/// at `file`, against the file's folder.
pub(super) fn resolve_against(raw: &mut RawConfig, file: &Path) {
    let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) else {
        // A file in the current directory: its folder is the current directory already.
        return;
    };
    if let Some(keys_dir) = raw.keys_dir.as_mut() {
        if keys_dir.is_relative() && !keys_dir.as_os_str().is_empty() {
            *keys_dir = dir.join(&*keys_dir);
        }
    }
    if let Some(ca) = raw.mail.as_mut().and_then(|m| m.tls_ca_file.as_mut()) {
        if ca.is_relative() && !ca.as_os_str().is_empty() {
            *ca = dir.join(&*ca);
        }
    }
    if let Some(url) = raw.database_url.as_mut() {
        if let Some(resolved) = sqlite_url_against(url, dir) {
            *url = resolved;
        }
    }
}

/// `sqlite://data/x.db` or `sqlite:data/x.db` (with any `?query`) as `sqlite://<dir>/data/x.db`;
/// `None` for anything that is not a relative SQLite file.
fn sqlite_url_against(url: &str, dir: &Path) -> Option<String> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.is_empty() || path.starts_with(':') || Path::new(path).is_absolute() {
        return None;
    }
    if query.is_some_and(|q| q.contains("mode=memory")) {
        return None;
    }
    let joined: PathBuf = dir.join(path);
    Some(match query {
        Some(query) => format!("sqlite://{}?{query}", joined.display()),
        None => format!("sqlite://{}", joined.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sqlite_files_are_taken_from_the_folder() {
        let dir = Path::new("/etc/bheem-sso");
        for (url, expected) in [
            (
                "sqlite://data/x.db",
                Some("sqlite:///etc/bheem-sso/data/x.db"),
            ),
            (
                "sqlite:data/x.db",
                Some("sqlite:///etc/bheem-sso/data/x.db"),
            ),
            (
                "sqlite://data/x.db?mode=rwc",
                Some("sqlite:///etc/bheem-sso/data/x.db?mode=rwc"),
            ),
            ("sqlite:///var/lib/x.db", None),
            ("sqlite::memory:", None),
            ("sqlite://x.db?mode=memory", None),
            ("postgres://u@h/db", None),
        ] {
            assert_eq!(sqlite_url_against(url, dir).as_deref(), expected, "{url}");
        }
    }
}
