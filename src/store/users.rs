//! Users of the embedded directory (`LocalDirectory`), kept in the provider's own database.

use std::borrow::Cow;

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::{is_unique_violation, Db};
use crate::clock::UnixTime;
use crate::domain::{normalize_login, Email};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    pub id: Uuid,
    pub email: Email,
    pub username: Option<String>,
    pub display_name: String,
    pub company_id: Uuid,
    pub role: String,
    pub active: bool,
    pub password_hash: String,
    pub created_at: UnixTime,
}

/// The user a look-up of a token or code brought along from this database's own `users` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserLookup {
    /// It was not asked to: the users live in another directory, not in this database.
    NotAsked,
    /// It was asked, and there is no such user: the row has none, or the user is gone.
    Gone,
    Found(LocalUser),
}

#[derive(Debug, thiserror::Error)]
pub enum AddUserError {
    #[error("a user with this email or username already exists")]
    Exists,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

const COLUMNS: &str =
    "id, email, username, display_name, company_id, role, active, password_hash, created_at";

/// [`COLUMNS`] of the table under `alias`, each named `{alias}_{column}`, for a query that joins
/// a user to a row of another table; [`joined_from_row`] reads them back.
pub(super) fn columns_of(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c} AS {alias}_{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn from_row(row: &AnyRow) -> anyhow::Result<LocalUser> {
    read(row, |c| c.into())
}

/// The user that [`columns_of`]`(alias)` selected, [`UserLookup::Gone`] when the join found none.
pub(super) fn joined_from_row(row: &AnyRow, alias: &str) -> anyhow::Result<UserLookup> {
    if row
        .try_get::<Option<String>, _>(format!("{alias}_id").as_str())?
        .is_none()
    {
        return Ok(UserLookup::Gone);
    }
    read(row, |c| format!("{alias}_{c}").into()).map(UserLookup::Found)
}

fn read(
    row: &AnyRow,
    name: impl Fn(&'static str) -> Cow<'static, str>,
) -> anyhow::Result<LocalUser> {
    let get_text = |c| row.try_get::<String, _>(name(c).as_ref());
    let id = get_text("id")?;
    let company_id = get_text("company_id")?;
    let email = get_text("email")?;
    Ok(LocalUser {
        id: Uuid::parse_str(&id).with_context(|| format!("user id {id:?} is not a UUID"))?,
        email: Email::parse(&email).map_err(|e| anyhow::anyhow!("user {id}: stored email: {e}"))?,
        username: row.try_get(name("username").as_ref())?,
        display_name: get_text("display_name")?,
        company_id: Uuid::parse_str(&company_id)
            .with_context(|| format!("user {id}: company id {company_id:?} is not a UUID"))?,
        role: get_text("role")?,
        active: row.try_get::<i64, _>(name("active").as_ref())? != 0,
        password_hash: get_text("password_hash")?,
        created_at: row.try_get(name("created_at").as_ref())?,
    })
}

impl Db {
    pub async fn insert_user(&self, user: &LocalUser) -> Result<(), AddUserError> {
        let result = sqlx::query(
            "INSERT INTO users (id, email, email_normalized, username, username_normalized, \
             display_name, company_id, role, active, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(user.id.to_string())
        .bind(user.email.as_str().to_owned())
        .bind(user.email.normalized())
        .bind(user.username.clone())
        .bind(user.username.as_deref().map(normalize_login))
        .bind(user.display_name.clone())
        .bind(user.company_id.to_string())
        .bind(user.role.clone())
        .bind(i64::from(user.active))
        .bind(user.password_hash.clone())
        .bind(user.created_at)
        .bind(user.created_at)
        .execute(self.pool())
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(AddUserError::Exists),
            Err(e) => Err(AddUserError::Other(
                anyhow::Error::new(e).context("inserting a user"),
            )),
        }
    }

    /// By email or username, case-insensitively; an email match wins over a username match.
    pub async fn find_user_by_login(&self, login: &str) -> anyhow::Result<Option<LocalUser>> {
        let login = normalize_login(login);
        let sql = format!(
            "SELECT {COLUMNS} FROM users WHERE email_normalized = $1 OR username_normalized = $2 \
             ORDER BY CASE WHEN email_normalized = $3 THEN 0 ELSE 1 END LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(login.clone())
            .bind(login.clone())
            .bind(login)
            .fetch_optional(self.pool())
            .await
            .context("looking up a user by login")?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn find_user_by_id(&self, id: &str) -> anyhow::Result<Option<LocalUser>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(self.pool())
            .await
            .with_context(|| format!("loading user {id}"))?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn list_users(&self) -> anyhow::Result<Vec<LocalUser>> {
        let sql = format!("SELECT {COLUMNS} FROM users ORDER BY email_normalized");
        let rows = sqlx::query(&sql)
            .fetch_all(self.pool())
            .await
            .context("listing users")?;
        rows.iter().map(from_row).collect()
    }

    /// Returns whether a user was changed.
    pub async fn set_user_active(
        &self,
        id: &str,
        active: bool,
        now: UnixTime,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query("UPDATE users SET active = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(active))
            .bind(now)
            .bind(id.to_owned())
            .execute(self.pool())
            .await
            .with_context(|| format!("setting user {id} active={active}"))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_user_password_hash(
        &self,
        id: &str,
        hash: &str,
        now: UnixTime,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash.to_owned())
            .bind(now)
            .bind(id.to_owned())
            .execute(self.pool())
            .await
            .with_context(|| format!("replacing the password hash of user {id}"))?;
        Ok(())
    }
}
