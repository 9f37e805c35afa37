//! Registered clients are kept in the database as the config file declares them, so operators
//! and other nodes see the same registry; the config stays the source.

use anyhow::Context;

use super::Db;
use crate::clock::UnixTime;
use crate::oidc::client::Clients;

impl Db {
    /// Makes the `clients` table equal to the configured clients.
    pub async fn sync_clients(&self, clients: &Clients, now: UnixTime) -> anyhow::Result<()> {
        let mut tx = self.pool().begin().await.context("beginning client sync")?;
        let json = |v: &Vec<String>| serde_json::to_string(v).expect("strings serialise");
        let mut ids = Vec::new();
        for c in clients.iter() {
            ids.push(c.id.clone());
            sqlx::query("DELETE FROM clients WHERE client_id = $1")
                .bind(c.id.clone())
                .execute(&mut *tx)
                .await
                .with_context(|| format!("syncing client {}", c.id))?;
            sqlx::query(
                "INSERT INTO clients (client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, \
                 backchannel_logout_uri, token_endpoint_auth_method, grant_types, skip_consent, require_pkce, \
                 allowed_company_ids, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(c.id.clone())
            .bind(c.name.clone())
            .bind(c.secret_hash_hex())
            .bind(json(&c.redirect_uris))
            .bind(json(&c.post_logout_redirect_uris))
            .bind(c.backchannel_logout_uri.clone())
            .bind(c.auth_method.as_str().to_owned())
            .bind(serde_json::to_string(&c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>())?)
            .bind(i64::from(c.skip_consent))
            .bind(i64::from(c.require_pkce))
            .bind(serde_json::to_string(&c.allowed_company_ids)?)
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
