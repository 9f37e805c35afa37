//! What the ERP holds after uploads, moves and deletes: one row per file, as the file is now.

use sqlx::{Connection, Executor, PgConnection};

use super::{erp_rows, DocsErp, ErpRow, ALICE, BOB};
use crate::on_both_backends;
use crate::support::{Backend, ACME};

on_both_backends!(
    an_upload_is_one_erp_row_and_uploading_it_again_keeps_that_row,
    moving_a_file_or_a_folder_moves_their_erp_rows,
    deleting_a_file_or_a_folder_takes_their_erp_rows_out,
    what_a_new_upload_or_a_move_replaces_leaves_the_erp,
    the_erp_table_and_its_columns_are_as_configured,
    a_path_that_is_no_document_is_refused,
);

async fn an_upload_is_one_erp_row_and_uploading_it_again_keeps_that_row(backend: Backend) {
    let Some(d) = DocsErp::start(backend).await else {
        return;
    };
    d.upload("101", ALICE, "alice", "/Reports/q1.pdf").await;
    d.settled().await;
    let row = ErpRow::expected(ACME, "101", ALICE, "alice", "/Reports/q1.pdf");
    assert_eq!(row.title, "q1");
    assert_eq!(d.rows().await, std::slice::from_ref(&row));
    let first = d.document("101").await;
    assert_eq!(first.version, 1);
    assert_eq!(first.file_name(), "q1.pdf");

    // Uploaded again over itself, by someone it was shared with: Nextcloud keeps the file id,
    // so it is the same row, still created by its first uploader.
    d.h.app.state.clock.advance(1);
    d.upload("101", BOB, "alice", "/Reports/q1.pdf").await;
    d.settled().await;
    assert_eq!(d.rows().await, [row]);
    let again = d.document("101").await;
    assert_eq!(again.version, 2);
    assert_eq!(again.owner_user_id, ALICE);
    assert_eq!(again.created_at, first.created_at);
    assert_eq!(again.updated_at, first.updated_at + 1);
    assert_eq!(again.deleted_at, None);
}

async fn moving_a_file_or_a_folder_moves_their_erp_rows(backend: Backend) {
    let Some(d) = DocsErp::start(backend).await else {
        return;
    };
    d.upload("1", ALICE, "alice", "/Reports/q1.pdf").await;
    d.upload("2", ALICE, "alice", "/Reports/2025/q2.xlsx").await;
    d.upload("3", ALICE, "alice", "/Reports 2/q3.pdf").await;
    d.upload("4", ALICE, "alice", "/Reportsx.pdf").await;
    d.upload("5", ALICE, "alice", "/reports/lower.pdf").await;
    d.settled().await;

    // A file, renamed into another folder.
    assert_eq!(
        d.moved("alice", "/Reports/q1.pdf", "/Archive/Q1 final.v2.pdf")
            .await,
        1
    );
    // A folder: what is under it moves; what only starts with its name, or is named
    // the same in another case, does not.
    assert_eq!(d.moved("alice", "/Reports", "/Old/Reports").await, 1);
    d.settled().await;
    let expected = |id: &str, path: &str| ErpRow::expected(ACME, id, ALICE, "alice", path);
    let mut want = vec![
        expected("1", "/Archive/Q1 final.v2.pdf"),
        expected("2", "/Old/Reports/2025/q2.xlsx"),
        expected("3", "/Reports 2/q3.pdf"),
        expected("4", "/Reportsx.pdf"),
        expected("5", "/reports/lower.pdf"),
    ];
    want.sort_by(|a, b| a.storage_path.cmp(&b.storage_path));
    assert_eq!(d.rows().await, want);
    assert_eq!(want[0].title, "Q1 final.v2");
    assert_eq!(d.document("2").await.path, "/Old/Reports/2025/q2.xlsx");
    assert_eq!(d.document("2").await.version, 2);
    assert_eq!(d.document("4").await.version, 1, "untouched");

    // Nothing recorded there, or moved onto itself: nothing changes.
    assert_eq!(d.moved("alice", "/Nothing", "/Else").await, 0);
    assert_eq!(d.moved("alice", "/Reportsx.pdf", "/Reportsx.pdf").await, 0);
    // Another user's tree is another tree.
    assert_eq!(d.moved("bob", "/Old", "/New").await, 0);
    assert_eq!(d.document("2").await.version, 2);
}

async fn deleting_a_file_or_a_folder_takes_their_erp_rows_out(backend: Backend) {
    let Some(d) = DocsErp::start(backend).await else {
        return;
    };
    d.upload("1", ALICE, "alice", "/Team/a.pdf").await;
    d.upload("2", ALICE, "alice", "/Team/deep/b.pdf").await;
    d.upload("3", ALICE, "alice", "/Teams/c.pdf").await;
    d.upload("4", ALICE, "alice", "/d.pdf").await;
    d.settled().await;
    assert_eq!(d.rows().await.len(), 4);

    assert_eq!(d.deleted("alice", "/d.pdf").await, 1);
    assert_eq!(d.deleted("alice", "/Team").await, 2);
    d.settled().await;
    assert_eq!(
        d.rows().await,
        [ErpRow::expected(ACME, "3", ALICE, "alice", "/Teams/c.pdf")]
    );
    let gone = d.document("2").await;
    assert_eq!(gone.deleted_at, Some(d.now()));
    assert_eq!(gone.version, 2);
    // Deleted twice (a retried request): nothing more changes.
    assert_eq!(d.deleted("alice", "/Team").await, 0);
    assert_eq!(d.document("2").await.version, 2);
    // A deleted document is not moved with its old folder.
    assert_eq!(d.moved("alice", "/Team", "/Elsewhere").await, 0);

    // Restored, and uploaded again under its file id by someone it is shared with: a new life,
    // theirs, at its place in their tree.
    d.upload("2", BOB, "bob", "/b.pdf").await;
    d.settled().await;
    assert_eq!(
        d.rows().await,
        [
            ErpRow::expected(ACME, "3", ALICE, "alice", "/Teams/c.pdf"),
            ErpRow::expected(ACME, "2", BOB, "bob", "/b.pdf"),
        ]
    );
    assert_eq!(d.document("2").await.deleted_at, None);
}

async fn what_a_new_upload_or_a_move_replaces_leaves_the_erp(backend: Backend) {
    let Some(d) = DocsErp::start(backend).await else {
        return;
    };
    d.upload("1", ALICE, "alice", "/plan.pdf").await;
    d.upload("2", ALICE, "alice", "/Drafts/plan.pdf").await;
    d.upload("3", ALICE, "alice", "/Target/old.pdf").await;
    d.upload("4", ALICE, "alice", "/Source/new.pdf").await;
    d.settled().await;

    // Another file at /plan.pdf (the first deleted or moved away outside the API): the old
    // record no longer describes anything there.
    d.upload("9", ALICE, "alice", "/plan.pdf").await;
    // A move with overwrite: what was at the target is gone, replaced.
    assert_eq!(d.moved("alice", "/Drafts/plan.pdf", "/plan.pdf").await, 2);
    assert_eq!(d.moved("alice", "/Source", "/Target").await, 2);
    d.settled().await;
    assert_eq!(
        d.rows().await,
        [
            ErpRow::expected(ACME, "4", ALICE, "alice", "/Target/new.pdf"),
            ErpRow::expected(ACME, "2", ALICE, "alice", "/plan.pdf"),
        ]
    );
    for gone in ["1", "3", "9"] {
        assert!(d.document(gone).await.deleted_at.is_some(), "{gone}");
    }
}

async fn the_erp_table_and_its_columns_are_as_configured(backend: Backend) {
    let schema = "CREATE SCHEMA records;
         CREATE TABLE records.\"Files\" (
             file_uuid UUID PRIMARY KEY,
             name TEXT NOT NULL,
             original_name TEXT NOT NULL,
             dav_path TEXT NOT NULL,
             org_id UUID NOT NULL,
             \"uploadedBy\" UUID NOT NULL
         );";
    let Some(d) = DocsErp::start_with(backend, schema, |c, _| {
        c.set("erp_sync.documents", "records.Files")
            .set("erp_sync.document_columns.id", "file_uuid")
            .set("erp_sync.document_columns.title", "name")
            .set("erp_sync.document_columns.file_name", "original_name")
            .set("erp_sync.document_columns.storage_path", "dav_path")
            .set("erp_sync.document_columns.company_id", "org_id")
            .set("erp_sync.document_columns.created_by", "uploadedBy");
    })
    .await
    else {
        return;
    };
    d.upload("1", ALICE, "alice", "/a.txt").await;
    d.upload("2", ALICE, "alice", "/b.txt").await;
    d.moved("alice", "/a.txt", "/c.md").await;
    d.deleted("alice", "/b.txt").await;
    d.settled().await;
    let mut conn = PgConnection::connect(&d.erp.url).await.unwrap();
    conn.execute(
        "CREATE VIEW dms_view AS SELECT file_uuid AS id, name AS title, \
         original_name AS file_name, dav_path AS storage_path, org_id AS company_id, \
         \"uploadedBy\" AS created_by FROM records.\"Files\"",
    )
    .await
    .unwrap();
    assert_eq!(
        erp_rows(&d.erp.url, "dms_view").await,
        [ErpRow::expected(ACME, "1", ALICE, "alice", "/c.md")]
    );
    // The default table was not made here, and nothing looked for it.
    let default: Option<String> = sqlx::query_scalar("SELECT to_regclass('dms.documents')::text")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(default, None);
}

async fn a_path_that_is_no_document_is_refused(backend: Backend) {
    let Some(d) = DocsErp::start(backend).await else {
        return;
    };
    let acme = uuid::Uuid::parse_str(ACME).unwrap();
    let db = d.db();
    for path in ["/", "", "Reports/q1.pdf", "/Reports/"] {
        let doc = bheem_sso::store::docs_documents::UploadedDocument {
            company_id: acme,
            file_id: "1",
            owner_user_id: ALICE,
            nc_uid: "alice",
            path,
        };
        assert!(
            db.record_document_upload(&doc, d.now()).await.is_err(),
            "{path:?}"
        );
        assert!(db
            .record_documents_deleted(acme, "alice", path, d.now())
            .await
            .is_err());
        assert!(db
            .record_documents_moved(acme, "alice", "/a", path, d.now())
            .await
            .is_err());
    }
    assert!(db.docs_document(acme, "1").await.unwrap().is_none());
    assert!(db.job_statuses().await.unwrap().is_empty());
}
