//! The ERP's copy of the documents uploaded through Bheem Docs: one row per file in
//! `dms.documents`, keyed by a UUID made from the company and Nextcloud's file id, so a repeated
//! or retried job updates that row instead of adding one. A move updates the row, a delete
//! takes it out.

use uuid::Uuid;

use super::{outcome_of, ErpSync};
use crate::config::ErpSyncConfig;
use crate::provisioning::{Outcome, Provisioning};
use crate::store::docs_documents::Document;
use crate::store::outbox::DocsDocumentSync;

/// The namespace of the ERP ids of documents: `Uuid::new_v5(DOCUMENTS, "{company}/{file id}")`.
const DOCUMENTS: Uuid = Uuid::from_u128(0x7183_dad3_4c9e_4014_a91f_b853_a825_e673);

/// The ERP's id of the document `file_id` of `company_id`. File ids are unique within one
/// Nextcloud only, so the company is part of the name.
pub fn erp_document_id(company_id: Uuid, file_id: &str) -> Uuid {
    Uuid::new_v5(&DOCUMENTS, format!("{company_id}/{file_id}").as_bytes())
}

/// `file_name` without its extension: `q1.pdf` is `q1`, `a.tar.gz` is `a.tar`; a name that
/// only starts with a dot (`.env`) has none.
pub fn title_of(file_name: &str) -> &str {
    match file_name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => file_name,
    }
}

/// Where the file is, as Nextcloud's WebDAV addresses it (not percent-encoded, like `path`).
pub fn storage_path(nc_uid: &str, path: &str) -> String {
    format!("/remote.php/dav/files/{nc_uid}{path}")
}

/// The statements that write documents, with the configured names.
#[derive(Clone, Debug)]
pub(super) struct DocumentSql {
    /// `$1` the ERP id, `$2` the title, `$3` the file name, `$4` the storage path, `$5` the
    /// company, `$6` who uploaded it.
    upsert: String,
    /// `$1` the ERP id.
    delete: String,
    table: String,
}

impl DocumentSql {
    /// `INSERT … ON CONFLICT (id) DO UPDATE` and `DELETE`. Ids are given as text and cast, so the
    /// ERP's columns may be `uuid` or text.
    pub(super) fn new(config: &ErpSyncConfig) -> Self {
        // Identifiers were checked to be plain at config time; quoting keeps their case.
        let q = |name: &str| format!("\"{name}\"");
        let c = &config.document_columns;
        let table = format!(
            "{}.{}",
            q(&config.documents.schema),
            q(&config.documents.table)
        );
        let updated = [
            &c.title,
            &c.file_name,
            &c.storage_path,
            &c.company_id,
            &c.created_by,
        ]
        .map(|column| format!("{0} = EXCLUDED.{0}", q(column)))
        .join(", ");
        let upsert = format!(
            "INSERT INTO {table} ({id}, {title}, {file_name}, {storage_path}, {company}, {by}) \
             VALUES ($1::uuid, $2, $3, $4, $5::uuid, $6::uuid) \
             ON CONFLICT ({id}) DO UPDATE SET {updated}",
            id = q(&c.id),
            title = q(&c.title),
            file_name = q(&c.file_name),
            storage_path = q(&c.storage_path),
            company = q(&c.company_id),
            by = q(&c.created_by),
        );
        let delete = format!("DELETE FROM {table} WHERE {} = $1::uuid", q(&c.id));
        Self {
            upsert,
            delete,
            table: config.documents.to_string(),
        }
    }
}

/// What went wrong with one attempt at a document's copy.
enum Failed {
    Erp(sqlx::Error),
    Local(anyhow::Error),
    Gone,
}

impl ErpSync {
    /// Writes the document `file_id` as it is now: its row upserted, or deleted with it.
    ///
    /// Two jobs of one document may run at once (a retried one and a newer one, on two workers):
    /// each reads the document and then writes, and the older read could land last. So the read
    /// and the write happen under a transaction-scoped advisory lock on the document's ERP id:
    /// whichever job writes last read the document after every earlier write, and so writes
    /// what is newest.
    async fn copy_document(
        &self,
        provisioning: &Provisioning,
        company_id: Uuid,
        file_id: &str,
    ) -> Result<(), Failed> {
        let id = erp_document_id(company_id, file_id);
        let mut tx = self.pool.begin().await.map_err(Failed::Erp)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(document_lock_key(id))
            .execute(&mut *tx)
            .await
            .map_err(Failed::Erp)?;
        let doc = provisioning
            .db
            .docs_document(company_id, file_id)
            .await
            .map_err(Failed::Local)?
            .ok_or(Failed::Gone)?;
        let sql = &self.documents;
        if doc.deleted_at.is_some() {
            sqlx::query(&sql.delete)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(Failed::Erp)?;
        } else {
            let row = ErpDocument::of(&doc);
            sqlx::query(&sql.upsert)
                .bind(id.to_string())
                .bind(row.title)
                .bind(row.file_name)
                .bind(row.storage_path)
                .bind(doc.company_id.to_string())
                .bind(&doc.owner_user_id)
                .execute(&mut *tx)
                .await
                .map_err(Failed::Erp)?;
        }
        tx.commit().await.map_err(Failed::Erp)
    }
}

/// The number of the ERP advisory lock a job holds while it copies the document with ERP id
/// `id`: the first half of that id. Another application's lock on the same number only makes
/// one of them wait for a moment.
pub fn document_lock_key(id: Uuid) -> i64 {
    (id.as_u128() >> 64) as u64 as i64
}

/// A document's row as the ERP holds it, less the ids.
struct ErpDocument<'a> {
    title: &'a str,
    file_name: &'a str,
    storage_path: String,
}

impl<'a> ErpDocument<'a> {
    fn of(doc: &'a Document) -> Self {
        let file_name = doc.file_name();
        Self {
            title: title_of(file_name),
            file_name,
            storage_path: storage_path(&doc.nc_uid, &doc.path),
        }
    }
}

/// Copies the document as it is now (or takes it out of the ERP, deleted), unless it has
/// changed since the job was queued: then the newer change's job copies it, and this one is done.
pub async fn sync_document(provisioning: &Provisioning, sync: &DocsDocumentSync) -> Outcome {
    let Some(erp) = &provisioning.erp else {
        return Outcome::Fail("[erp_sync] is not configured (any more)".into());
    };
    let Ok(company_id) = Uuid::parse_str(&sync.company_id) else {
        return Outcome::Fail(format!("{:?} is not a company id", sync.company_id));
    };
    let gone = || {
        Outcome::Fail(format!(
            "docs document {} of company {} is gone",
            sync.file_id, sync.company_id
        ))
    };
    // A first look without the ERP: a job that has been overtaken needs no connection to it.
    match provisioning
        .db
        .docs_document(company_id, &sync.file_id)
        .await
    {
        Ok(Some(doc)) if doc.version > sync.version => {
            tracing::debug!(
                file_id = %sync.file_id,
                version = sync.version,
                now = doc.version,
                "ERP copy of an older version of the document skipped: a newer job copies it"
            );
            return Outcome::Done;
        }
        Ok(Some(_)) => {}
        Ok(None) => return gone(),
        Err(e) => return Outcome::Retry(format!("{e:#}")),
    }
    match erp
        .copy_document(provisioning, company_id, &sync.file_id)
        .await
    {
        Ok(()) => Outcome::Done,
        Err(Failed::Erp(e)) => outcome_of(&e, &erp.documents.table),
        Err(Failed::Local(e)) => Outcome::Retry(format!("{e:#}")),
        Err(Failed::Gone) => gone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_has_one_erp_id_per_company_and_file() {
        let acme = Uuid::from_u128(1);
        let globex = Uuid::from_u128(2);
        let id = erp_document_id(acme, "4711");
        assert_eq!(id, erp_document_id(acme, "4711"));
        assert_ne!(id, erp_document_id(acme, "4712"));
        assert_ne!(id, erp_document_id(globex, "4711"));
        assert_eq!(id.get_version_num(), 5);
    }

    #[test]
    fn the_title_is_the_name_without_its_last_extension() {
        assert_eq!(title_of("q1.pdf"), "q1");
        assert_eq!(title_of("backup.tar.gz"), "backup.tar");
        assert_eq!(title_of("README"), "README");
        assert_eq!(title_of(".env"), ".env");
        assert_eq!(title_of("Plan v2. Final.docx"), "Plan v2. Final");
    }

    #[test]
    fn the_storage_path_is_the_files_webdav_path() {
        assert_eq!(
            storage_path("alice", "/Reports/Q1 2026/q1.pdf"),
            "/remote.php/dav/files/alice/Reports/Q1 2026/q1.pdf"
        );
    }
}
