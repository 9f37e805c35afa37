//! Values with rules of their own: the issuer and database URLs.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// The issuer URL: absolute http(s), no query, no fragment, no trailing slash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(|e| format!("not a valid URL ({e})"))?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err("must be an http:// or https:// URL".into());
        }
        if url.host_str().is_none() {
            return Err("must have a host".into());
        }
        // OpenID Connect Discovery §3: the issuer has no query or fragment components.
        if url.query().is_some() || raw.contains('?') {
            return Err("must not contain a query".into());
        }
        if url.fragment().is_some() || raw.contains('#') {
            return Err("must not contain a fragment".into());
        }
        if url.username() != "" || url.password().is_some() {
            return Err("must not contain credentials".into());
        }
        // The string is used as `iss` exactly, and endpoint URLs are built by appending paths.
        Ok(Self(raw.trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// An endpoint under the issuer: `path` starts with `/`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }
}

/// A database URL whose password never reaches `Debug` or a log line.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let backend = Backend::of(raw)?;
        if backend == Backend::Postgres {
            let url = Url::parse(raw).map_err(|e| format!("not a valid URL ({e})"))?;
            if url.host_str().is_none() && !raw.contains("host=") {
                return Err("a postgres:// URL needs a host".into());
            }
        } else if raw
            .trim_start_matches("sqlite:")
            .trim_start_matches("//")
            .is_empty()
        {
            return Err("a sqlite: URL needs a file name (or :memory:)".into());
        }
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    pub fn backend(&self) -> Backend {
        Backend::of(self.expose()).expect("checked at parse")
    }

    /// The full URL, password included: only for opening the connection.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The file of a SQLite database, as the URL names it (relative to the current directory
    /// when relative); `None` for PostgreSQL and in-memory databases.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        if self.backend() != Backend::Sqlite {
            return None;
        }
        let raw = self.expose();
        let rest = raw.trim_start_matches("sqlite:");
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() || path.starts_with(':') || query.contains("mode=memory") {
            return None;
        }
        Some(std::path::PathBuf::from(path))
    }

    /// The URL with any password replaced, for logs.
    pub fn redacted(&self) -> String {
        match Url::parse(self.expose()) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            _ => self.expose().to_owned(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn of(raw: &str) -> Result<Self, String> {
        if raw.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err("must start with sqlite: or postgres://".into())
        }
    }
}
