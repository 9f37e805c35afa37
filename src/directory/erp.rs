use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Row};
use uuid::Uuid;

use super::erp_check::{self, is_schema_mismatch};
use super::{Credentials, Directory, FoundLogin, PingError, User};
use crate::config::{ConfigError, DirectoryConfig};

/// The ERP's users table in PostgreSQL. Read-only unless the operator enables rehashing.
///
/// Column values are cast to text (and the active flag to boolean) in SQL, so the ERP may use
/// UUID, integer or text ids and company ids alike.
#[derive(Clone)]
pub struct ErpDirectory {
    pool: PgPool,
    select: String,
    by_id: String,
    update_hash: String,
    /// Every configured column, no row: what `ping` asks, so that a wrong column or a missing
    /// grant shows in `/health` and not only as failed logins.
    probe: String,
    config: DirectoryConfig,
    rehash: bool,
}

impl ErpDirectory {
    /// Connects lazily: an ERP database that is down makes logins fail, not start-up. (An ERP
    /// that answers with a table unlike the configuration does stop start-up:
    /// [`ErpDirectory::schema_problems`], called by `app::build_state`.)
    pub fn connect(config: &DirectoryConfig) -> anyhow::Result<Self> {
        let options: sqlx::postgres::PgConnectOptions = config
            .url
            .expose()
            .parse()
            .with_context(|| format!("parsing directory.url {}", config.url.redacted()))?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy_with(options.disable_statement_logging());
        Ok(Self::with_pool(pool, config))
    }

    pub fn with_pool(pool: PgPool, config: &DirectoryConfig) -> Self {
        let c = &config.columns;
        // Identifiers were checked to be plain at config time; quoting keeps their case.
        let q = |name: &str| format!("\"{name}\"");
        let optional = |name: &str, fallback: &str| {
            if name.is_empty() {
                fallback.to_owned()
            } else {
                format!("{}::text", q(name))
            }
        };
        let table = format!("{}.{}", q(&config.schema), q(&config.table));
        let columns = format!(
            "{id}::text AS id, {email}::text AS email, {username} AS username, {name} AS name, \
             {company}::text AS company_id, {role} AS role, {active}::boolean AS active, \
             {hash}::text AS password_hash",
            id = q(&c.id),
            email = q(&c.email),
            username = optional(&c.username, "NULL::text"),
            name = optional(&c.name, "NULL::text"),
            company = q(&c.company_id),
            role = optional(&c.role, "NULL::text"),
            active = q(&c.active),
            hash = q(&c.password_hash),
        );
        let probe = format!(
            "SELECT {} FROM {table} LIMIT 0",
            c.named()
                .iter()
                .filter(|(_, name)| !name.is_empty())
                .map(|(_, name)| q(name))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let username_match = if c.username.is_empty() {
            String::new()
        } else {
            format!(" OR lower({}::text) = lower($1)", q(&c.username))
        };
        Self {
            pool,
            select: format!(
                "SELECT {columns} FROM {table} WHERE lower({email}::text) = lower($1){username_match} \
                 ORDER BY (lower({email}::text) = lower($1)) DESC LIMIT 1",
                email = q(&c.email),
            ),
            by_id: format!("SELECT {columns} FROM {table} WHERE {}::text = $1", q(&c.id)),
            update_hash: format!(
                "UPDATE {table} SET {} = $1 WHERE {}::text = $2",
                q(&c.password_hash),
                q(&c.id)
            ),
            probe,
            config: config.clone(),
            rehash: config.rehash,
        }
    }

    /// How the ERP's table differs from the configuration (see [`erp_check`]); `Err` when the
    /// ERP does not answer.
    pub async fn schema_problems(&self) -> anyhow::Result<Vec<ConfigError>> {
        erp_check::schema_problems(&self.pool, &self.config)
            .await
            .context("checking the ERP directory's table")
    }

    /// The account a row holds, with its password hash; or, when it has no valid company, its
    /// id alone: tokens are company-scoped, so such an account cannot be given one.
    fn user_from(
        row: &sqlx::postgres::PgRow,
    ) -> anyhow::Result<Result<(User, Option<String>), String>> {
        let id: String = row.try_get("id")?;
        let company: Option<String> = row.try_get("company_id")?;
        let Some(company_id) = company.as_deref().and_then(|c| Uuid::parse_str(c).ok()) else {
            return Ok(Err(id));
        };
        let email: String = row.try_get("email")?;
        let username: Option<String> = row.try_get("username")?;
        let name: Option<String> = row.try_get("name")?;
        let role: Option<String> = row.try_get("role")?;
        let active: Option<bool> = row.try_get("active")?;
        let user = User {
            name: name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| email.clone()),
            id,
            email,
            username,
            company_id,
            role: role.unwrap_or_else(|| "member".to_owned()),
            active: active.unwrap_or(false),
        };
        Ok(Ok((user, row.try_get("password_hash")?)))
    }
}

#[async_trait]
impl Directory for ErpDirectory {
    async fn find_by_login(&self, login: &str) -> anyhow::Result<FoundLogin> {
        let row = sqlx::query(&self.select)
            .bind(login.trim())
            .fetch_optional(&self.pool)
            .await
            .context("looking up a user in the ERP directory")?;
        let Some(row) = row else {
            return Ok(FoundLogin::Nobody);
        };
        // An account without a company: `Logins` says so in its refusal line.
        Ok(match Self::user_from(&row)? {
            Ok((user, password_hash)) => FoundLogin::Account(Credentials {
                user,
                password_hash,
            }),
            Err(user_id) => FoundLogin::NoCompany { user_id },
        })
    }

    async fn find_by_id(&self, id: &str) -> anyhow::Result<Option<User>> {
        let row = sqlx::query(&self.by_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .with_context(|| format!("loading ERP user {id}"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(match Self::user_from(&row)? {
            Ok((user, _)) => Some(user),
            Err(user_id) => {
                tracing::warn!(%user_id, "ERP user has no valid company id; treated as unknown");
                None
            }
        })
    }

    async fn replace_password_hash(&self, id: &str, hash: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.rehash,
            "rehashing is not enabled for the ERP directory"
        );
        sqlx::query(&self.update_hash)
            .bind(hash)
            .bind(id)
            .execute(&self.pool)
            .await
            .with_context(|| format!("rehashing the password of ERP user {id}"))?;
        Ok(())
    }

    fn rehash_enabled(&self) -> bool {
        self.rehash
    }

    fn kind(&self) -> &'static str {
        "erp"
    }

    async fn ping(&self) -> Result<(), PingError> {
        let error = match sqlx::query(&self.probe).execute(&self.pool).await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if !is_schema_mismatch(&error) {
            return Err(PingError::Unavailable(
                anyhow::Error::new(error).context("ERP database ping"),
            ));
        }
        // Only on failure: which key is wrong takes a few catalogue queries.
        let problems = self.schema_problems().await?;
        Err(PingError::Misconfigured(if problems.is_empty() {
            // The catalogue sees nothing wrong (a policy, a changed grant since): say what
            // PostgreSQL said, which names the table or column and no host or user.
            error
                .as_database_error()
                .map_or_else(|| error.to_string(), |db| db.message().to_owned())
        } else {
            erp_check::reason(&problems)
        }))
    }
}
