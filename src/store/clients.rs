//! Registered clients are kept in the database as the config file declares them, so operators
//! and other nodes see the same registry; the config stays the source.

use anyhow::Context;
use uuid::Uuid;

use super::Db;
use crate::clock::UnixTime;
use crate::config::{GrantType, TokenEndpointAuthMethod};

/// A client as the `clients` table records it.
#[derive(Debug, Clone)]
pub struct RegisteredClient<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// The SHA-256 of its secret, in hex; `None` for a public client.
    pub secret_hash: Option<String>,
    pub redirect_uris: &'a [String],
    pub post_logout_redirect_uris: &'a [String],
    pub backchannel_logout_uri: Option<&'a str>,
    pub auth_method: TokenEndpointAuthMethod,
    pub grant_types: &'a [GrantType],
    pub skip_consent: bool,
    pub require_pkce: bool,
    pub allowed_company_ids: &'a [Uuid],
}

impl Db {
    /// Makes the `clients` table equal to the configured clients.
    pub async fn sync_clients(
        &self,
        clients: &[RegisteredClient<'_>],
        now: UnixTime,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool().begin().await.context("beginning client sync")?;
        let json = |v: &[String]| serde_json::to_string(v).expect("strings serialise");
        let mut ids = Vec::new();
        for c in clients {
            ids.push(c.id.to_owned());
            sqlx::query("DELETE FROM clients WHERE client_id = $1")
                .bind(c.id.to_owned())
                .execute(&mut *tx)
                .await
                .with_context(|| format!("syncing client {}", c.id))?;
            sqlx::query(
                "INSERT INTO clients (client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, \
                 backchannel_logout_uri, token_endpoint_auth_method, grant_types, skip_consent, require_pkce, \
                 allowed_company_ids, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(c.id.to_owned())
            .bind(c.name.to_owned())
            .bind(c.secret_hash.clone())
            .bind(json(c.redirect_uris))
            .bind(json(c.post_logout_redirect_uris))
            .bind(c.backchannel_logout_uri.map(str::to_owned))
            .bind(c.auth_method.as_str().to_owned())
            .bind(serde_json::to_string(&c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>())?)
            .bind(i64::from(c.skip_consent))
            .bind(i64::from(c.require_pkce))
            .bind(serde_json::to_string(c.allowed_company_ids)?)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("syncing client {}", c.id))?;
        }
        let existing: Vec<String> = sqlx::query_scalar("SELECT client_id FROM clients")
            .fetch_all(&mut *tx)
            .await
            .context("listing stored clients")?;
        for gone in existing.into_iter().filter(|id| !ids.contains(id)) {
            sqlx::query("DELETE FROM clients WHERE client_id = $1")
                .bind(gone.clone())
                .execute(&mut *tx)
                .await
                .with_context(|| format!("removing client {gone}"))?;
        }
        tx.commit().await.context("committing client sync")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseUrl;

    fn client<'a>(id: &'a str, uris: &'a [String]) -> RegisteredClient<'a> {
        RegisteredClient {
            id,
            name: "Docs",
            secret_hash: Some("ab".repeat(32)),
            redirect_uris: uris,
            post_logout_redirect_uris: &[],
            backchannel_logout_uri: None,
            auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            grant_types: &[GrantType::AuthorizationCode, GrantType::RefreshToken],
            skip_consent: false,
            require_pkce: true,
            allowed_company_ids: &[],
        }
    }

    #[tokio::test]
    async fn the_table_holds_the_configured_clients_and_no_others() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("clients.db").display());
        let db = Db::connect(&DatabaseUrl::parse(&url).unwrap())
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let uris = vec!["https://docs.example.com/cb".to_owned()];
        db.sync_clients(&[client("docs", &uris), client("mail", &uris)], 1)
            .await
            .unwrap();
        db.sync_clients(&[client("docs", &uris)], 2).await.unwrap();
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT client_id, redirect_uris, token_endpoint_auth_method, grant_types FROM clients",
        )
        .fetch_all(db.pool())
        .await
        .unwrap();
        assert_eq!(
            rows,
            [(
                "docs".to_owned(),
                r#"["https://docs.example.com/cb"]"#.to_owned(),
                "client_secret_basic".to_owned(),
                r#"["authorization_code","refresh_token"]"#.to_owned(),
            )]
        );
        db.close().await;
    }
}
