//! The ERP's copy of the documents uploaded through Bheem Docs (`[erp_sync]`, `dms.documents`),
//! driven through the store's entry points as the docs area calls them after Nextcloud said yes,
//! and through the outbox that copies them into a real PostgreSQL ERP made for each test. The
//! app's store runs on SQLite and on PostgreSQL.

mod copies;
mod isolation;
mod jobs;

use std::time::Duration;

use bheem_sso::clock::{Clock, UnixTime};
use bheem_sso::provisioning::erp_sync::erp_document_id;
use bheem_sso::store::docs_documents::{Document, UploadedDocument};
use bheem_sso::store::Db;
use sqlx::{Connection, Executor, PgConnection, Row};
use uuid::Uuid;

use crate::support::{Backend, Harness, TestApp, TestConfig, TestDb, ACME};

pub const KIND: &str = "erp_sync_docs_document";
/// The directory's ids of two uploaders.
pub const ALICE: &str = "a11ce000-0000-4000-8000-000000000001";
pub const BOB: &str = "b0b00000-0000-4000-8000-000000000002";

/// The document table as the ERP has it.
pub const DMS: &str = "CREATE SCHEMA dms;
     CREATE TABLE dms.documents (
         id UUID PRIMARY KEY,
         title VARCHAR(255) NOT NULL,
         file_name VARCHAR(255) NOT NULL,
         storage_path TEXT NOT NULL,
         company_id UUID NOT NULL,
         created_by UUID NOT NULL
     );";

/// A row of the ERP's document table, ids as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErpRow {
    pub id: String,
    pub title: String,
    pub file_name: String,
    pub storage_path: String,
    pub company_id: String,
    pub created_by: String,
}

impl ErpRow {
    /// The row the ERP should hold for `file_id` of `company` at `path` of `nc_uid`'s tree.
    pub fn expected(company: &str, file_id: &str, by: &str, nc_uid: &str, path: &str) -> Self {
        let file_name = path.rsplit('/').next().unwrap().to_owned();
        let title = match file_name.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem.to_owned(),
            _ => file_name.clone(),
        };
        Self {
            id: erp_document_id(Uuid::parse_str(company).unwrap(), file_id).to_string(),
            title,
            file_name,
            storage_path: format!("/remote.php/dav/files/{nc_uid}{path}"),
            company_id: company.to_owned(),
            created_by: by.to_owned(),
        }
    }
}

/// The app with `[erp_sync]` on an ERP database of the test's, its clock the test's.
pub struct DocsErp {
    pub h: Harness,
    pub erp: TestDb,
}

impl DocsErp {
    /// On `backend`, copying into a fresh ERP with `dms.documents`.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, DMS, |_, _| {}).await
    }

    /// On `backend`, with the ERP's tables made by `erp_schema` and the configuration edited
    /// by `edit` (which may point `erp_sync.url` elsewhere).
    pub async fn start_with(
        backend: Backend,
        erp_schema: &str,
        edit: impl FnOnce(&mut TestConfig, &str),
    ) -> Option<Self> {
        let erp = TestDb::postgres().await?;
        let mut conn = PgConnection::connect(&erp.url).await.unwrap();
        conn.execute(erp_schema).await.unwrap();
        let h = TestApp::builder()
            .backend(backend)
            // Retries are due when the test moves the clock, not before.
            .clock(Clock::manual(
                time::OffsetDateTime::now_utc().unix_timestamp(),
            ))
            .config(|c| {
                c.set("erp_sync.url", erp.url.as_str())
                    .set("outbox.poll_interval_ms", 25)
                    .set("outbox.retry_base_seconds", 1)
                    .set("outbox.retry_max_seconds", 1)
                    .set("outbox.max_attempts", 1000)
                    .set("outbox.request_timeout_seconds", 2);
                edit(c, &erp.url);
            })
            .start()
            .await?;
        Some(Self { h, erp })
    }

    pub fn db(&self) -> &Db {
        &self.h.app.state.db
    }

    pub fn now(&self) -> UnixTime {
        self.h.app.state.clock.now()
    }

    /// `file_id` uploaded by `by` (`nc_uid` in Nextcloud) to `path`, in Acme.
    pub async fn upload(&self, file_id: &str, by: &str, nc_uid: &str, path: &str) {
        self.upload_in(ACME, file_id, by, nc_uid, path, self.now())
            .await;
    }

    /// As [`Self::upload`], in `company`, at `now`.
    pub async fn upload_in(
        &self,
        company: &str,
        file_id: &str,
        by: &str,
        nc_uid: &str,
        path: &str,
        now: UnixTime,
    ) {
        let doc = UploadedDocument {
            company_id: Uuid::parse_str(company).unwrap(),
            file_id,
            owner_user_id: by,
            nc_uid,
            path,
        };
        self.db().record_document_upload(&doc, now).await.unwrap();
    }

    /// `from` moved to `to` in Acme's `nc_uid`'s tree; how many documents changed.
    pub async fn moved(&self, nc_uid: &str, from: &str, to: &str) -> u64 {
        let acme = Uuid::parse_str(ACME).unwrap();
        self.db()
            .record_documents_moved(acme, nc_uid, from, to, self.now())
            .await
            .unwrap()
    }

    /// `path` deleted in Acme's `nc_uid`'s tree; how many documents changed.
    pub async fn deleted(&self, nc_uid: &str, path: &str) -> u64 {
        let acme = Uuid::parse_str(ACME).unwrap();
        self.db()
            .record_documents_deleted(acme, nc_uid, path, self.now())
            .await
            .unwrap()
    }

    /// Acme's record of `file_id`.
    pub async fn document(&self, file_id: &str) -> Document {
        let acme = Uuid::parse_str(ACME).unwrap();
        self.db()
            .docs_document(acme, file_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no document {file_id}"))
    }

    /// Waits (probing) until every document job is done; a job that failed for good fails the
    /// test with its error.
    pub async fn settled(&self) {
        let mut open = Vec::new();
        for _ in 0..400 {
            let jobs = self.db().job_statuses().await.unwrap();
            open = jobs
                .into_iter()
                .filter(|job| job.kind == KIND && job.state != "done")
                .collect();
            if let Some(failed) = open.iter().find(|job| job.state == "failed") {
                panic!("{} failed: {:?}", failed.dedupe_key, failed.last_error);
            }
            if open.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("document jobs not done within 10 s: {open:#?}");
    }

    /// Waits (probing) until a document job has failed at least once.
    pub async fn wait_for_failed_attempt(&self) {
        for _ in 0..400 {
            let jobs = self.db().job_statuses().await.unwrap();
            if jobs
                .iter()
                .any(|job| job.kind == KIND && job.last_error.is_some())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no {KIND} job failed within 10 s");
    }

    /// The ERP's document rows, by storage path.
    pub async fn rows(&self) -> Vec<ErpRow> {
        erp_rows(&self.erp.url, "dms.documents").await
    }
}

/// The rows of the ERP's document table `table` with the default column names, by storage
/// path and company (sorted here: the database's collation is not byte order).
pub async fn erp_rows(url: &str, table: &str) -> Vec<ErpRow> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let mut rows: Vec<ErpRow> = sqlx::query(&format!(
        "SELECT id::text AS id, title, file_name, storage_path, company_id::text AS company, \
                created_by::text AS by FROM {table}"
    ))
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|r| ErpRow {
        id: r.get("id"),
        title: r.get("title"),
        file_name: r.get("file_name"),
        storage_path: r.get("storage_path"),
        company_id: r.get("company"),
        created_by: r.get("by"),
    })
    .collect();
    rows.sort_by(|a, b| (&a.storage_path, &a.company_id).cmp(&(&b.storage_path, &b.company_id)));
    rows
}
