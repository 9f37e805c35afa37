//! Paths in a user's own Nextcloud tree, checked before anything reaches Nextcloud.
//!
//! A [`UserPath`] is a list of names below the user's root: never `.` or `..`, never empty,
//! never holding a separator (`/`, `\`, or one percent-encoded), NUL or another control
//! character. An absolute URL is not a path. Repeated and trailing slashes are folded
//! (`/a//b/` is `/a/b`), which is all the normalising done: what could mean another place is
//! refused rather than resolved, so that what the client sees is what Nextcloud is asked for.

use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Nextcloud refuses longer names (its `FilenameValidator`, and most file systems).
const MAX_NAME_BYTES: usize = 255;
/// Nextcloud's `filecache.path` holds 4000 characters.
const MAX_PATH_BYTES: usize = 4000;

/// What stays readable in a WebDAV URL: RFC 3986's unreserved characters. Everything else in a
/// name is percent-encoded, so a name is always exactly one segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `name` as one percent-encoded URL path segment (a user id in a WebDAV URL, say).
pub fn encode_name(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// A path below a user's root; the empty list is the root itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserPath(Vec<String>);

/// Why a path or a name was refused, for the client.
#[derive(Debug, PartialEq, Eq)]
pub struct BadPath(pub &'static str);

impl UserPath {
    pub fn root() -> Self {
        Self::default()
    }

    /// `raw` as the client wrote it (`/Reports/2025`, `Reports/2025/`, `/`, or empty for the
    /// root).
    pub fn parse(raw: &str) -> Result<Self, BadPath> {
        if raw.len() > MAX_PATH_BYTES {
            return Err(BadPath("is too long"));
        }
        if raw.contains("://") || raw.starts_with("//") {
            return Err(BadPath("must be a path in your files, not a URL"));
        }
        let mut names = Vec::new();
        for name in raw.split('/').filter(|n| !n.is_empty()) {
            names.push(check_name(name)?.to_owned());
        }
        Ok(Self(names))
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last name; `None` for the root.
    pub fn name(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }

    /// The folder this is in; the root is its own parent.
    pub fn parent(&self) -> Self {
        let mut names = self.0.clone();
        names.pop();
        Self(names)
    }

    /// This folder's entry `name`, which must be one name (not a path).
    pub fn join(&self, name: &str) -> Result<Self, BadPath> {
        let mut names = self.0.clone();
        names.push(check_name(name)?.to_owned());
        Ok(Self(names))
    }

    /// Whether `self` is `other` or inside it.
    pub fn starts_with(&self, other: &UserPath) -> bool {
        self.0.starts_with(&other.0)
    }

    /// The percent-encoded URL path below the user's WebDAV root, starting with `/` (`/` for
    /// the root); a folder's with a trailing slash when `folder`.
    pub fn encoded(&self, folder: bool) -> String {
        let mut out = String::new();
        for name in &self.0 {
            out.push('/');
            out.extend(utf8_percent_encode(name, SEGMENT));
        }
        if folder || out.is_empty() {
            out.push('/');
        }
        out
    }

    /// A path from a WebDAV href's part below the user's root (percent-encoded, as Nextcloud
    /// sends it); `None` when it does not decode to a path this type would accept.
    pub fn from_encoded(encoded: &str) -> Option<Self> {
        let mut names = Vec::new();
        for segment in encoded.split('/').filter(|s| !s.is_empty()) {
            let name = percent_decode_str(segment).decode_utf8().ok()?;
            names.push(check_name(&name).ok()?.to_owned());
        }
        Some(Self(names))
    }
}

impl fmt::Display for UserPath {
    /// `/Reports/q1.pdf`, `/` for the root: as the API shows paths.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for name in &self.0 {
            write!(f, "/{name}")?;
        }
        Ok(())
    }
}

/// One file or folder name.
fn check_name(name: &str) -> Result<&str, BadPath> {
    if name.is_empty() {
        return Err(BadPath("must not be empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(BadPath("has a name longer than 255 bytes"));
    }
    if name == "." || name == ".." {
        return Err(BadPath("must not contain `.` or `..`"));
    }
    if name.chars().any(char::is_control) {
        return Err(BadPath("must not contain NUL or control characters"));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(BadPath("must not contain `\\` or a `/` inside a name"));
    }
    // A name that decodes to a separator or a dot segment would mean another place to whatever
    // decodes it once more on the way.
    let decoded = percent_decode_str(name).decode_utf8_lossy();
    if decoded.contains('/') || decoded.contains('\\') || decoded == "." || decoded == ".." {
        return Err(BadPath(
            "must not contain encoded separators or dot segments",
        ));
    }
    if name.trim() != name && name.trim().is_empty() {
        return Err(BadPath("must not be blank"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_folded_and_shown_from_the_root() {
        for (raw, shown) in [
            ("", "/"),
            ("/", "/"),
            ("Reports", "/Reports"),
            ("/Reports//2025/", "/Reports/2025"),
            ("/a b/ü.pdf", "/a b/ü.pdf"),
            ("/100%.txt", "/100%.txt"),
        ] {
            assert_eq!(UserPath::parse(raw).unwrap().to_string(), shown, "{raw}");
        }
    }

    #[test]
    fn anything_that_could_mean_another_place_is_refused() {
        for raw in [
            "..",
            "/a/../b",
            "/a/./b",
            "/a/%2e%2e/b",
            "/a%2Fb",
            "/a%2fb",
            "/a%5Cb",
            "/a\\b",
            "/a\0b",
            "/a\nb",
            "/a\u{7f}b",
            "http://evil.example/x",
            "//evil.example/x",
            "/  ",
        ] {
            assert!(UserPath::parse(raw).is_err(), "{raw:?} was accepted");
        }
        assert!(UserPath::parse(&"a".repeat(256)).is_err());
        assert!(UserPath::parse(&"/a".repeat(2001)).is_err());
        assert!(UserPath::root().join("a/b").is_err());
        assert!(UserPath::root().join("..").is_err());
    }

    #[test]
    fn encoded_paths_are_one_segment_a_name() {
        let path = UserPath::parse("/Q1 report/ü#?%.pdf").unwrap();
        assert_eq!(path.encoded(false), "/Q1%20report/%C3%BC%23%3F%25.pdf");
        assert_eq!(path.parent().encoded(true), "/Q1%20report/");
        assert_eq!(UserPath::root().encoded(true), "/");
        assert_eq!(UserPath::from_encoded(&path.encoded(false)), Some(path));
        assert_eq!(UserPath::from_encoded("/a/%2e%2e"), None);
        assert_eq!(UserPath::from_encoded("/a%2Fb"), None);
    }

    #[test]
    fn names_parents_and_prefixes() {
        let path = UserPath::parse("/a/b/c.txt").unwrap();
        assert_eq!(path.name(), Some("c.txt"));
        assert_eq!(path.parent().to_string(), "/a/b");
        assert!(path.starts_with(&UserPath::parse("/a").unwrap()));
        assert!(!path.starts_with(&UserPath::parse("/a/b/c").unwrap()));
        assert!(UserPath::root().parent().is_root());
        assert_eq!(UserPath::root().name(), None);
    }
}
