//! Whether the ERP's table is the one `[directory]` describes, and whether the provider's role
//! may read it (and write the hash column when `rehash` is on).
//!
//! A wrong column name or a missing grant does not show at start-up by itself: the pool connects
//! lazily and the first login then fails with a 500, as does every one after it. These checks
//! name the configuration key to fix instead. They read PostgreSQL's own catalogue
//! (`pg_class`, `pg_attribute`) rather than `information_schema.columns`, which shows only the
//! columns the role already has a privilege on, and so would report a missing grant as a
//! missing column; privileges come from `has_schema_privilege` and `has_column_privilege`
//! (true for a table-wide grant too).

use sqlx::postgres::PgPool;
use sqlx::Row;

use crate::config::{ConfigError, DirectoryConfig};

/// Every way the ERP's table differs from the configuration, each naming its key; empty when
/// none. `Err` only when the ERP could not be asked (down, refused, timed out).
pub async fn schema_problems(
    pool: &PgPool,
    config: &DirectoryConfig,
) -> anyhow::Result<Vec<ConfigError>> {
    let mut conn = pool.acquire().await?;
    let role: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *conn)
        .await?;
    let table = format!("{}.{}", config.schema, config.table);
    let found: Option<(i64, bool)> = sqlx::query_as(
        "SELECT c.oid::bigint, has_schema_privilege(n.oid, 'USAGE') \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'v', 'm', 'p', 'f')",
    )
    .bind(&config.schema)
    .bind(&config.table)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((oid, schema_usage)) = found else {
        return Ok(vec![ConfigError::new(
            "directory.table",
            format!("table {table} does not exist"),
        )]);
    };
    let mut problems = Vec::new();
    if !schema_usage {
        problems.push(ConfigError::new(
            "directory.table",
            format!(
                "role {role} may not use schema {schema} (GRANT USAGE ON SCHEMA {schema} TO {role})",
                schema = config.schema
            ),
        ));
    }
    let columns: Vec<(String, bool, bool)> = sqlx::query(
        "SELECT attname::text, \
                has_column_privilege($1::bigint::oid, attnum, 'SELECT'), \
                has_column_privilege($1::bigint::oid, attnum, 'UPDATE') \
         FROM pg_catalog.pg_attribute WHERE attrelid = $1::bigint::oid AND attnum > 0 \
         AND NOT attisdropped",
    )
    .bind(oid)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
    .collect::<Result<_, sqlx::Error>>()?;
    let configured: Vec<(&str, &str)> = config
        .columns
        .named()
        .into_iter()
        .filter(|(_, name)| !name.is_empty())
        .collect();
    let mut unreadable = Vec::new();
    for (key, name) in &configured {
        match columns.iter().find(|(column, _, _)| column == name) {
            None => problems.push(ConfigError::new(
                *key,
                format!("column {table}.{name} does not exist"),
            )),
            Some((_, false, _)) => unreadable.push((*key, *name)),
            Some(_) => {}
        }
    }
    let existing = configured
        .iter()
        .filter(|(_, name)| columns.iter().any(|(c, _, _)| c == name))
        .count();
    if !unreadable.is_empty() && unreadable.len() == existing {
        // Nothing readable at all: one grant is missing, not one per column.
        problems.push(ConfigError::new(
            "directory.table",
            format!("role {role} has no SELECT permission on {table} (GRANT SELECT ON {table} TO {role})"),
        ));
    } else {
        for (key, name) in unreadable {
            problems.push(ConfigError::new(
                key,
                format!("role {role} may not SELECT column {table}.{name}"),
            ));
        }
    }
    if config.rehash {
        let hash = &config.columns.password_hash;
        let writable = columns
            .iter()
            .any(|(column, _, update)| column == hash && *update);
        if columns.iter().any(|(column, _, _)| column == hash) && !writable {
            problems.push(ConfigError::new(
                "directory.rehash",
                format!(
                    "role {role} may not UPDATE column {table}.{hash}, which rehash = true writes \
                     (GRANT UPDATE ({hash}) ON {table} TO {role}, or set rehash = false)"
                ),
            ));
        }
    }
    Ok(problems)
}

/// Whether a failed query was the ERP answering "no such table/column" or "permission denied"
/// (the table is not what the configuration says) rather than the ERP not answering at all.
pub(super) fn is_schema_mismatch(error: &sqlx::Error) -> bool {
    let Some(db) = error.as_database_error() else {
        return false;
    };
    // PostgreSQL SQLSTATEs: undefined_table, undefined_column, insufficient_privilege,
    // invalid_schema_name.
    matches!(
        db.code().as_deref(),
        Some("42P01" | "42703" | "42501" | "3F000")
    )
}

/// The problems as one line for `/health` and a log line: `column auth.users.mail does not
/// exist (directory.columns.email); …`.
pub fn reason(problems: &[ConfigError]) -> String {
    problems
        .iter()
        .map(|p| format!("{} ({})", p.message, p.key))
        .collect::<Vec<_>>()
        .join("; ")
}
