//! The `signing_keys` table: rows in, rows out. What the private key is and how it is encrypted
//! is `crate::keys`'s business; here it is text. A row is never changed once written.

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{is_unique_violation, Db};
use crate::clock::UnixTime;

/// One key as its row holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub generation: i64,
    pub created_at: UnixTime,
    pub signs_from: UnixTime,
    pub bits: i64,
    /// base64 of the AES-GCM nonce.
    pub nonce: String,
    /// base64 of the encrypted PKCS#8 key with its tag.
    pub private_key: String,
}

/// Without the encrypted key: ciphertext is no secret, but it is no use in a log either.
impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("kid", &self.kid)
            .field("generation", &self.generation)
            .field("created_at", &self.created_at)
            .field("signs_from", &self.signs_from)
            .finish_non_exhaustive()
    }
}

/// Whether rows were added, or another writer took one of their generations (or kids) first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Added,
    TakenByAnother,
}

fn row_from(row: &AnyRow) -> Result<SigningKeyRow, sqlx::Error> {
    Ok(SigningKeyRow {
        kid: row.try_get("kid")?,
        alg: row.try_get("alg")?,
        generation: row.try_get("generation")?,
        created_at: row.try_get("created_at")?,
        signs_from: row.try_get("signs_from")?,
        bits: row.try_get("bits")?,
        nonce: row.try_get("nonce")?,
        private_key: row.try_get("private_key")?,
    })
}

impl Db {
    /// Every key, oldest generation first.
    pub async fn signing_keys(&self) -> anyhow::Result<Vec<SigningKeyRow>> {
        let rows = sqlx::query(
            "SELECT kid, alg, generation, created_at, signs_from, bits, nonce, private_key \
             FROM signing_keys ORDER BY generation",
        )
        .fetch_all(self.pool())
        .await
        .context("reading the signing keys")?;
        rows.iter()
            .map(row_from)
            .collect::<Result<_, _>>()
            .context("reading the signing keys")
    }

    /// The newest generation, 0 when there is no key: one cheap query a node asks often, to
    /// know whether the keys changed.
    pub async fn signing_keys_generation(&self) -> anyhow::Result<i64> {
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(generation) FROM signing_keys")
            .fetch_one(self.pool())
            .await
            .context("reading the newest signing key generation")?;
        Ok(newest.unwrap_or(0))
    }

    /// Adds `rows` all together or none of them. A generation or kid already there is
    /// [`Inserted::TakenByAnother`], not an error: another node or command got there first.
    pub async fn insert_signing_keys(&self, rows: &[SigningKeyRow]) -> anyhow::Result<Inserted> {
        let mut tx = self
            .pool()
            .begin()
            .await
            .context("beginning to store signing keys")?;
        for row in rows {
            let inserted = sqlx::query(
                "INSERT INTO signing_keys \
                 (kid, alg, generation, created_at, signs_from, bits, nonce, private_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&row.kid)
            .bind(&row.alg)
            .bind(row.generation)
            .bind(row.created_at)
            .bind(row.signs_from)
            .bind(row.bits)
            .bind(&row.nonce)
            .bind(&row.private_key)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Ok(Inserted::TakenByAnother),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "storing signing key {} (generation {})",
                            row.kid, row.generation
                        )
                    })
                }
            }
        }
        match tx.commit().await {
            Ok(()) => Ok(Inserted::Added),
            Err(e) if is_unique_violation(&e) => Ok(Inserted::TakenByAnother),
            Err(e) => Err(e).context("storing signing keys"),
        }
    }
}
