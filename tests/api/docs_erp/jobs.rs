//! The document jobs themselves: run late, retried, side by side, and while the ERP refuses
//! them. Where the order matters the test runs the job itself, with its jobs queued a minute
//! ahead of the app's clock so that the app's worker leaves them alone until the clock gets
//! there.

use bheem_sso::provisioning::erp_sync::{document_lock_key, erp_document_id, sync_document};
use bheem_sso::provisioning::{Outcome, Provisioning};
use bheem_sso::store::outbox::DocsDocumentSync;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

use super::{DocsErp, ErpRow, ALICE, DMS};
use crate::on_both_backends;
use crate::support::{Backend, ACME};

on_both_backends!(
    a_late_or_retried_job_writes_the_document_as_it_is_when_it_runs,
    a_job_that_waited_for_another_writes_what_is_newest_by_then,
    copies_made_while_the_erp_refuses_them_arrive_when_it_is_back,
);

/// Runs the job of version `version` of Acme's `file_id` now, as the worker would.
async fn run(provisioning: &Provisioning, file_id: &str, version: i64) -> Outcome {
    let sync = DocsDocumentSync {
        company_id: ACME.to_owned(),
        file_id: file_id.to_owned(),
        version,
    };
    sync_document(provisioning, &sync).await
}

fn assert_done(outcome: Outcome) {
    assert!(matches!(outcome, Outcome::Done), "{outcome:?}");
}

async fn a_late_or_retried_job_writes_the_document_as_it_is_when_it_runs(backend: Backend) {
    let Some(d) = DocsErp::start(backend).await else {
        return;
    };
    let acme = Uuid::parse_str(ACME).unwrap();
    let db = d.db();
    let provisioning = &d.h.app.state.provisioning;
    let ahead = d.now() + 60;
    let upload = bheem_sso::store::docs_documents::UploadedDocument {
        company_id: acme,
        file_id: "7",
        owner_user_id: ALICE,
        nc_uid: "alice",
        path: "/In/report.pdf",
    };
    db.record_document_upload(&upload, ahead).await.unwrap();
    assert_done(run(provisioning, "7", 1).await);
    let at_in = ErpRow::expected(ACME, "7", ALICE, "alice", "/In/report.pdf");
    assert_eq!(d.rows().await, [at_in]);

    db.record_documents_moved(acme, "alice", "/In", "/Out", ahead)
        .await
        .unwrap();
    // The first job again (a retry, or a late second worker): the document is at version 2
    // now, and version 1's job writes nothing, not even what it was queued for.
    let mut erp = PgConnection::connect(&d.erp.url).await.unwrap();
    erp.execute("UPDATE dms.documents SET storage_path = 'untouched'")
        .await
        .unwrap();
    assert_done(run(provisioning, "7", 1).await);
    assert_eq!(d.rows().await[0].storage_path, "untouched");
    assert_done(run(provisioning, "7", 2).await);
    let at_out = ErpRow::expected(ACME, "7", ALICE, "alice", "/Out/report.pdf");
    assert_eq!(d.rows().await, std::slice::from_ref(&at_out));

    db.record_documents_deleted(acme, "alice", "/Out/report.pdf", ahead)
        .await
        .unwrap();
    // Version 2's job, late: the row is not written back.
    assert_done(run(provisioning, "7", 2).await);
    assert_eq!(d.rows().await, [at_out]);
    // The delete's job, twice: gone, and still gone.
    assert_done(run(provisioning, "7", 3).await);
    assert_done(run(provisioning, "7", 3).await);
    assert!(d.rows().await.is_empty());

    // The worker, once the jobs are due, runs all three to the same end.
    d.h.app.state.clock.advance(61);
    d.settled().await;
    assert!(d.rows().await.is_empty());
    // A job for a document never recorded has nothing to copy, ever.
    let outcome = run(provisioning, "8", 1).await;
    assert!(matches!(outcome, Outcome::Fail(_)), "{outcome:?}");
}

async fn a_job_that_waited_for_another_writes_what_is_newest_by_then(backend: Backend) {
    let Some(d) = DocsErp::start(backend).await else {
        return;
    };
    let acme = Uuid::parse_str(ACME).unwrap();
    let ahead = d.now() + 60;
    d.upload_in(ACME, "7", ALICE, "alice", "/In/report.pdf", ahead)
        .await;

    // Another job of the document holds its lock (the test does, for it) while version 1's job
    // starts: it waits.
    let mut other = PgConnection::connect(&d.erp.url).await.unwrap();
    let mut held = other.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(document_lock_key(erp_document_id(acme, "7")))
        .execute(&mut *held)
        .await
        .unwrap();
    let provisioning = d.h.app.state.provisioning.clone();
    let job = tokio::spawn(async move { run(&provisioning, "7", 1).await });
    let mut probe = PgConnection::connect(&d.erp.url).await.unwrap();
    let mut waiting: i64 = 0;
    for _ in 0..400 {
        waiting = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(&mut probe)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(waiting, 1, "the job never waited for the lock");

    // Meanwhile the document moves; then the other job is done.
    d.db()
        .record_documents_moved(acme, "alice", "/In", "/Out", ahead)
        .await
        .unwrap();
    held.commit().await.unwrap();
    assert_done(job.await.unwrap());
    // It read the document once it had the lock: the move, not the upload it was queued for.
    assert_eq!(
        d.rows().await,
        [ErpRow::expected(
            ACME,
            "7",
            ALICE,
            "alice",
            "/Out/report.pdf"
        )]
    );
}

async fn copies_made_while_the_erp_refuses_them_arrive_when_it_is_back(backend: Backend) {
    // The ERP refuses the sync's role until it is made: as good as down for the sync.
    let role = format!("bheem_erp_sync_{}", Uuid::new_v4().simple());
    let Some(d) = DocsErp::start_with(backend, DMS, |c, url| {
        let url = url.replacen("postgres@", &format!("{role}@"), 1);
        assert!(
            url.contains(&role),
            "the test database's URL names the postgres role"
        );
        c.set("erp_sync.url", url.as_str());
    })
    .await
    else {
        return;
    };
    d.upload("7", ALICE, "alice", "/In/report.pdf").await;
    d.upload("8", ALICE, "alice", "/In/gone.pdf").await;
    d.moved("alice", "/In", "/Out").await;
    d.deleted("alice", "/Out/gone.pdf").await;
    d.wait_for_failed_attempt().await;
    assert!(d.rows().await.is_empty());

    let mut erp = PgConnection::connect(&d.erp.url).await.unwrap();
    erp.execute(
        format!(
            "CREATE ROLE {role} LOGIN; \
             GRANT USAGE ON SCHEMA dms TO {role}; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON dms.documents TO {role};"
        )
        .as_str(),
    )
    .await
    .unwrap();
    // The app's clock is the test's: the retries the outbox set for a second later are due now.
    d.h.app.state.clock.advance(5);
    d.settled().await;
    assert_eq!(
        d.rows().await,
        [ErpRow::expected(
            ACME,
            "7",
            ALICE,
            "alice",
            "/Out/report.pdf"
        )]
    );
    let jobs = d.db().job_statuses().await.unwrap();
    assert_eq!(jobs.len(), 5, "{jobs:#?}");
    assert!(jobs.iter().any(|job| job.attempts > 1), "{jobs:#?}");
    let DocsErp { h, erp: _erp } = d;
    h.app.stop().await;
    // Best effort: the role owns nothing, and a test run's leftovers are dropped by name.
    let _ = erp
        .execute(format!("DROP OWNED BY {role}; DROP ROLE {role};").as_str())
        .await;
}
