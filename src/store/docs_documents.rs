//! Bheem Docs' record of the documents uploaded through the API, kept for the ERP's copy of them
//! (`[erp_sync]`, `dms.documents`): which file (Nextcloud's file id), whose, and where it is now.
//! Uploads, moves and deletes made through the API change it, each with an outbox job per changed
//! document in the same transaction. Every query takes the company: another company's document
//! at the same path, or with the same file id, is another row and is never touched.
//!
//! Paths are a user's, as the docs area normalised them: `/Reports/q1.pdf`, from the user's
//! root, no trailing slash, no `.` or `..`, not percent-encoded.

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

use super::outbox::{enqueue, Job};
use super::Db;
use crate::clock::UnixTime;

/// A file that was just uploaded through the API, as Nextcloud answered for it.
#[derive(Debug, Clone, Copy)]
pub struct UploadedDocument<'a> {
    pub company_id: Uuid,
    /// Nextcloud's file id (`oc:fileid`).
    pub file_id: &'a str,
    /// The directory's id of the user who uploaded it.
    pub owner_user_id: &'a str,
    /// The user's Nextcloud user id: whose tree `path` is in.
    pub nc_uid: &'a str,
    pub path: &'a str,
}

/// A document as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub company_id: Uuid,
    pub file_id: String,
    /// Who uploaded it first (the ERP's `created_by`); uploading it again does not change it.
    pub owner_user_id: String,
    pub nc_uid: String,
    pub path: String,
    pub version: i64,
    /// When it was deleted (through the API, or replaced at its path); `None` while it is there.
    pub deleted_at: Option<UnixTime>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

impl Document {
    /// Its name: the last part of its path.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

const COLUMNS: &str =
    "company_id, file_id, owner_user_id, nc_uid, path, version, deleted_at, created_at, updated_at";

fn document_from(row: &AnyRow) -> anyhow::Result<Document> {
    let company: String = row.try_get("company_id")?;
    Ok(Document {
        company_id: Uuid::parse_str(&company)
            .with_context(|| format!("a docs document with the company id {company:?}"))?,
        file_id: row.try_get("file_id")?,
        owner_user_id: row.try_get("owner_user_id")?,
        nc_uid: row.try_get("nc_uid")?,
        path: row.try_get("path")?,
        version: row.try_get("version")?,
        deleted_at: row.try_get("deleted_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// SQL true for a `path` at `{at}` or under it (`{under}` holds the same path and a slash).
/// Not `LIKE`: SQLite's ignores the case of ASCII letters (`/reports/x` is not under
/// `/Reports`), and a name with `%`, `_` or `\` would need escaping. Comparing the first
/// characters is exact on both backends.
fn at_or_under(at: &str, under: &str) -> String {
    format!("(path = {at} OR substr(path, 1, length({under})) = {under})")
}

/// A path as the docs area hands them over: from the root, without a trailing slash, and not the
/// root itself (which is no document and holds all of them).
fn check_path(path: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        path.len() > 1 && path.starts_with('/') && !path.ends_with('/'),
        "{path:?} is not a document path (/folder/name, not the root)"
    );
    Ok(())
}

impl Db {
    /// Records (or re-records: a file uploaded again over itself keeps its file id) the
    /// document, bumps its version and enqueues its ERP copy, in one transaction. Another file
    /// recorded at the same path of the same tree is gone from there (deleted or moved outside
    /// the API, then this one uploaded in its place): it is marked deleted, with its own job.
    /// For `[erp_sync]` only: the jobs need it.
    pub async fn record_document_upload(
        &self,
        doc: &UploadedDocument<'_>,
        now: UnixTime,
    ) -> anyhow::Result<()> {
        check_path(doc.path)?;
        let company = doc.company_id.to_string();
        let mut tx = self
            .pool()
            .begin()
            .await
            .context("beginning a document upload")?;
        let replaced = sqlx::query(
            "UPDATE docs_documents SET deleted_at = $1, updated_at = $1, version = version + 1 \
             WHERE company_id = $2 AND nc_uid = $3 AND path = $4 AND file_id <> $5 \
             AND deleted_at IS NULL RETURNING file_id, version",
        )
        .bind(now)
        .bind(company.clone())
        .bind(doc.nc_uid.to_owned())
        .bind(doc.path.to_owned())
        .bind(doc.file_id.to_owned())
        .fetch_all(&mut *tx)
        .await
        .with_context(|| format!("replacing the document at {}", doc.path))?;
        // The first uploader stays its owner; a deleted document uploaded again is a new one.
        let version: i64 = sqlx::query_scalar(&format!(
            "INSERT INTO docs_documents ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, 1, NULL, $6, $6) \
             ON CONFLICT (company_id, file_id) DO UPDATE SET \
             owner_user_id = CASE WHEN docs_documents.deleted_at IS NULL \
             THEN docs_documents.owner_user_id ELSE excluded.owner_user_id END, \
             nc_uid = excluded.nc_uid, path = excluded.path, \
             version = docs_documents.version + 1, deleted_at = NULL, \
             updated_at = excluded.updated_at \
             RETURNING version"
        ))
        .bind(company.clone())
        .bind(doc.file_id.to_owned())
        .bind(doc.owner_user_id.to_owned())
        .bind(doc.nc_uid.to_owned())
        .bind(doc.path.to_owned())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .with_context(|| format!("recording the document {}", doc.file_id))?;
        let mut changed = changed_documents(&replaced)?;
        changed.push((doc.file_id.to_owned(), version));
        queue_copies(&mut tx, &company, &changed, now).await?;
        tx.commit().await.context("committing a document upload")
    }

    /// `from` (a file or a folder) moved to `to` in `nc_uid`'s tree: every recorded document at
    /// `from` or under `from/` takes the new prefix; one ERP job per changed document. What was
    /// recorded at or under `to` before was replaced (a move with overwrite) and is marked
    /// deleted, with its job. Returns how many documents changed, both kinds.
    pub async fn record_documents_moved(
        &self,
        company_id: Uuid,
        nc_uid: &str,
        from: &str,
        to: &str,
        now: UnixTime,
    ) -> anyhow::Result<u64> {
        check_path(from)?;
        check_path(to)?;
        if from == to {
            return Ok(0);
        }
        let company = company_id.to_string();
        let mut tx = self
            .pool()
            .begin()
            .await
            .context("beginning a document move")?;
        let replaced = sqlx::query(&format!(
            "UPDATE docs_documents SET deleted_at = $1, updated_at = $1, version = version + 1 \
             WHERE company_id = $2 AND nc_uid = $3 AND deleted_at IS NULL AND {} AND NOT {} \
             RETURNING file_id, version",
            at_or_under("$4", "$5"),
            at_or_under("$6", "$7"),
        ))
        .bind(now)
        .bind(company.clone())
        .bind(nc_uid.to_owned())
        .bind(to.to_owned())
        .bind(format!("{to}/"))
        .bind(from.to_owned())
        .bind(format!("{from}/"))
        .fetch_all(&mut *tx)
        .await
        .with_context(|| format!("replacing the documents at {to}"))?;
        let moved = sqlx::query(&format!(
            "UPDATE docs_documents SET path = $1 || substr(path, length($2) + 1), \
             updated_at = $3, version = version + 1 \
             WHERE company_id = $4 AND nc_uid = $5 AND deleted_at IS NULL AND {} \
             RETURNING file_id, version",
            at_or_under("$2", "$6"),
        ))
        .bind(to.to_owned())
        .bind(from.to_owned())
        .bind(now)
        .bind(company.clone())
        .bind(nc_uid.to_owned())
        .bind(format!("{from}/"))
        .fetch_all(&mut *tx)
        .await
        .with_context(|| format!("moving the documents at {from} to {to}"))?;
        let mut changed = changed_documents(&replaced)?;
        changed.extend(changed_documents(&moved)?);
        queue_copies(&mut tx, &company, &changed, now).await?;
        tx.commit().await.context("committing a document move")?;
        Ok(changed.len() as u64)
    }

    /// `path` (file or folder) deleted: every recorded document at or under it is marked
    /// deleted; one ERP job per changed document. Returns how many.
    pub async fn record_documents_deleted(
        &self,
        company_id: Uuid,
        nc_uid: &str,
        path: &str,
        now: UnixTime,
    ) -> anyhow::Result<u64> {
        check_path(path)?;
        let company = company_id.to_string();
        let mut tx = self
            .pool()
            .begin()
            .await
            .context("beginning a document delete")?;
        let deleted = sqlx::query(&format!(
            "UPDATE docs_documents SET deleted_at = $1, updated_at = $1, version = version + 1 \
             WHERE company_id = $2 AND nc_uid = $3 AND deleted_at IS NULL AND {} \
             RETURNING file_id, version",
            at_or_under("$4", "$5"),
        ))
        .bind(now)
        .bind(company.clone())
        .bind(nc_uid.to_owned())
        .bind(path.to_owned())
        .bind(format!("{path}/"))
        .fetch_all(&mut *tx)
        .await
        .with_context(|| format!("deleting the documents at {path}"))?;
        let changed = changed_documents(&deleted)?;
        queue_copies(&mut tx, &company, &changed, now).await?;
        tx.commit().await.context("committing a document delete")?;
        Ok(changed.len() as u64)
    }

    /// The document `file_id` of `company_id`, deleted or not: what the ERP-sync job copies.
    pub async fn docs_document(
        &self,
        company_id: Uuid,
        file_id: &str,
    ) -> anyhow::Result<Option<Document>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM docs_documents WHERE company_id = $1 AND file_id = $2"
        ))
        .bind(company_id.to_string())
        .bind(file_id.to_owned())
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("loading docs document {file_id}"))?;
        row.as_ref().map(document_from).transpose()
    }
}

/// The file id and new version of each row an `UPDATE … RETURNING file_id, version` changed.
fn changed_documents(rows: &[AnyRow]) -> anyhow::Result<Vec<(String, i64)>> {
    rows.iter()
        .map(|row| Ok((row.try_get("file_id")?, row.try_get("version")?)))
        .collect()
}

/// One ERP-sync job for each changed document, at its new version.
async fn queue_copies(
    tx: &mut Transaction<'_, Any>,
    company: &str,
    changed: &[(String, i64)],
    now: UnixTime,
) -> anyhow::Result<()> {
    for (file_id, version) in changed {
        enqueue(
            tx,
            &Job::sync_docs_document(company, file_id, *version),
            now,
        )
        .await?;
    }
    Ok(())
}
