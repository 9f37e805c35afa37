//! The ERP's users table: where it is and what its columns are called.

use serde::Deserialize;

use super::env::lookup;
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

pub(super) fn validate_directory(
    d: RawDirectory,
    env: &[(String, String)],
) -> Result<DirectoryConfig, ConfigError> {
    let url = match (d.url, d.url_env) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "directory.url_env",
                "give either url or url_env, not both",
            ))
        }
        (Some(url), None) => url,
        (None, Some(var)) => lookup(env, &var).ok_or_else(|| {
            ConfigError::new(
                "directory.url_env",
                format!("environment variable {var} is not set"),
            )
        })?,
        (None, None) => return Err(ConfigError::new("directory.url", "missing")),
    };
    let url = DatabaseUrl::parse(&url).map_err(|m| ConfigError::new("directory.url", m))?;
    if url.backend() != Backend::Postgres {
        return Err(ConfigError::new(
            "directory.url",
            "the ERP directory must be a postgres:// URL",
        ));
    }
    let table = d.table.unwrap_or_else(|| "auth.users".into());
    let (schema, table) = match table.split_once('.') {
        Some((schema, table)) => (schema.to_owned(), table.to_owned()),
        None => ("auth".to_owned(), table),
    };
    for part in [&schema, &table] {
        check_identifier(part).map_err(|m| ConfigError::new("directory.table", m))?;
    }
    let c = &d.columns;
    for (name, value) in [
        ("id", &c.id),
        ("email", &c.email),
        ("username", &c.username),
        ("name", &c.name),
        ("company_id", &c.company_id),
        ("role", &c.role),
        ("active", &c.active),
        ("password_hash", &c.password_hash),
    ] {
        // An ERP without usernames, display names or roles leaves those columns empty.
        if value.is_empty() && matches!(name, "username" | "name" | "role") {
            continue;
        }
        check_identifier(value)
            .map_err(|m| ConfigError::new(format!("directory.columns.{name}"), m))?;
    }
    Ok(DirectoryConfig {
        url,
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
