//! The ERP's users table: where it is and what its columns are called.

use serde::Deserialize;

use super::env::secret_var;
use super::validate::Problems;
use super::{Backend, ConfigError, DatabaseUrl};

/// The ERP's users table.
#[derive(Clone, Debug)]
pub struct DirectoryConfig {
    pub url: DatabaseUrl,
    /// `schema.table`, both plain SQL identifiers.
    pub schema: String,
    pub table: String,
    pub columns: DirectoryColumns,
    /// Rewrite legacy hashes as argon2id after a successful login (writes to the ERP table).
    pub rehash: bool,
}

/// Column names in the ERP table; each a plain SQL identifier.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryColumns {
    pub id: String,
    pub email: String,
    pub username: String,
    pub name: String,
    pub company_id: String,
    pub role: String,
    pub active: String,
    pub password_hash: String,
}

impl DirectoryColumns {
    /// Each column with its configuration key (`directory.columns.email`), in the order of
    /// the struct; empty ones included.
    pub fn named(&self) -> [(&'static str, &str); 8] {
        [
            ("directory.columns.id", &self.id),
            ("directory.columns.email", &self.email),
            ("directory.columns.username", &self.username),
            ("directory.columns.name", &self.name),
            ("directory.columns.company_id", &self.company_id),
            ("directory.columns.role", &self.role),
            ("directory.columns.active", &self.active),
            ("directory.columns.password_hash", &self.password_hash),
        ]
    }

    /// Whether the column of this key may be left empty: the ERP has no such column.
    pub fn may_be_empty(key: &str) -> bool {
        matches!(
            key,
            "directory.columns.username" | "directory.columns.name" | "directory.columns.role"
        )
    }
}

impl Default for DirectoryColumns {
    fn default() -> Self {
        Self {
            id: "id".into(),
            email: "email".into(),
            username: "username".into(),
            name: "full_name".into(),
            company_id: "company_id".into(),
            role: "role".into(),
            active: "is_active".into(),
            password_hash: "hashed_password".into(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDirectory {
    pub(super) url: Option<String>,
    pub(super) url_env: Option<String>,
    pub(super) table: Option<String>,
    #[serde(default)]
    pub(super) columns: DirectoryColumns,
    #[serde(default)]
    pub(super) rehash: bool,
}

/// The `[directory]` section, or `None` with every problem it has noted.
pub(super) fn validate_directory(
    d: RawDirectory,
    env: &[(String, String)],
    problems: &mut Problems,
) -> Option<DirectoryConfig> {
    let before = problems.len();
    let url = match (d.url, &d.url_env) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "directory.url_env",
            "give either url or url_env, not both",
        )),
        (Some(url), None) => Ok(url),
        (None, Some(var)) => {
            secret_var(env, var).map_err(|m| ConfigError::new("directory.url_env", m))
        }
        (None, None) => Err(ConfigError::new("directory.url", "missing")),
    };
    let url_key = if d.url_env.is_some() {
        "directory.url_env"
    } else {
        "directory.url"
    };
    let url = problems.take(url.and_then(|url| {
        let url = DatabaseUrl::parse(&url).map_err(|m| ConfigError::new(url_key, m))?;
        if url.backend() != Backend::Postgres {
            return Err(ConfigError::new(
                url_key,
                "the ERP directory must be a postgres:// URL",
            ));
        }
        Ok(url)
    }));
    let table = d.table.unwrap_or_else(|| "auth.users".into());
    let (schema, table) = match table.split_once('.') {
        Some((schema, table)) => (schema.to_owned(), table.to_owned()),
        None => ("auth".to_owned(), table),
    };
    for part in [&schema, &table] {
        problems.take(check_identifier(part).map_err(|m| ConfigError::new("directory.table", m)));
    }
    for (key, value) in d.columns.named() {
        // An ERP without usernames, display names or roles leaves those columns empty.
        if value.is_empty() && DirectoryColumns::may_be_empty(key) {
            continue;
        }
        problems.take(check_identifier(value).map_err(|m| ConfigError::new(key, m)));
    }
    if problems.len() > before {
        return None;
    }
    Some(DirectoryConfig {
        url: url?,
        schema,
        table,
        columns: d.columns,
        rehash: d.rehash,
    })
}

/// Table and column names are put into SQL text, so only plain identifiers are allowed.
pub(super) fn check_identifier(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a plain SQL identifier (letters, digits, _)"
        ))
    }
}
