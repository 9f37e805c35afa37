//! The scopes a user granted a client, so the consent page is not shown again for them.

use anyhow::Context;

use super::Db;
use crate::clock::UnixTime;

impl Db {
    pub async fn consent(&self, user_id: &str, client_id: &str) -> anyhow::Result<Option<String>> {
        let scope: Option<String> =
            sqlx::query_scalar("SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id.to_owned())
                .bind(client_id.to_owned())
                .fetch_optional(self.pool())
                .await
                .context("loading a consent")?;
        Ok(scope)
    }

    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: UnixTime,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id.to_owned())
            .bind(client_id.to_owned())
            .execute(&mut *tx)
            .await
            .context("replacing a consent")?;
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id.to_owned())
        .bind(client_id.to_owned())
        .bind(scope.to_owned())
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("saving a consent")?;
        tx.commit().await.context("committing a consent")?;
        Ok(())
    }
}
