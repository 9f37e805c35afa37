//! The ERP's copy of documents, end to end: uploads, moves and deletes through the API reach
//! `dms.documents` through the outbox (the copies themselves are tested in `docs_erp`).

use std::time::Duration;

use serde_json::json;
use sqlx::{Connection, Executor, PgConnection, Row};

use super::{DocsApp, Setup, FILES};
use crate::docs_erp::{ErpRow, DMS};
use crate::on_both_backends;
use crate::support::{Backend, TestDb, ACME};

on_both_backends!(uploads_moves_and_deletes_through_the_api_reach_the_erp);

async fn rows(erp: &TestDb) -> Vec<ErpRow> {
    let mut conn = PgConnection::connect(&erp.url).await.unwrap();
    sqlx::query(
        "SELECT id::text, title, file_name, storage_path, company_id::text, created_by::text \
         FROM dms.documents ORDER BY storage_path",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|r| ErpRow {
        id: r.get(0),
        title: r.get(1),
        file_name: r.get(2),
        storage_path: r.get(3),
        company_id: r.get(4),
        created_by: r.get(5),
    })
    .collect()
}

/// Waits (probing) until the ERP holds `expected`.
async fn erp_holds(erp: &TestDb, expected: &[ErpRow]) {
    let mut seen = Vec::new();
    for _ in 0..400 {
        seen = rows(erp).await;
        if seen == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the ERP holds {seen:#?}, not {expected:#?}");
}

async fn uploads_moves_and_deletes_through_the_api_reach_the_erp(backend: Backend) {
    let Some(erp) = TestDb::postgres().await else {
        return;
    };
    PgConnection::connect(&erp.url)
        .await
        .unwrap()
        .execute(DMS)
        .await
        .unwrap();
    let erp_url = erp.url.clone();
    let Some(d) = DocsApp::start_with(backend, Setup::default(), |c| {
        c.set("erp_sync.url", erp_url.as_str())
            .set("outbox.poll_interval_ms", 25)
            .set("outbox.retry_base_seconds", 1)
            .set("outbox.retry_max_seconds", 1);
    })
    .await
    else {
        return;
    };
    let alice = d.sso.alice.id.to_string();
    let (status, q1) = d
        .upload(&d.alice, "/", "Q1 report.pdf", b"q1".to_vec(), false)
        .await;
    assert_eq!(status, 201, "{q1:#}");
    let file_id = q1["file_id"].as_str().unwrap().to_owned();
    erp_holds(
        &erp,
        &[ErpRow::expected(
            ACME,
            &file_id,
            &alice,
            "alice",
            "/Q1 report.pdf",
        )],
    )
    .await;

    // A folder, a move into it: the same row, at its new place.
    d.call(
        &d.alice,
        "POST",
        "/api/v1/docs/folders",
        Some(json!({"name": "Reports"})),
    )
    .await;
    let (status, _) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/move",
            Some(json!({"from": "/Q1 report.pdf", "to": "/Reports/Q1 final.pdf"})),
        )
        .await;
    assert_eq!(status, 200);
    erp_holds(
        &erp,
        &[ErpRow::expected(
            ACME,
            &file_id,
            &alice,
            "alice",
            "/Reports/Q1 final.pdf",
        )],
    )
    .await;

    // A copy is not an upload: the ERP has one document still. Deleting the folder takes it.
    let (status, _) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/copy",
            Some(json!({"from": "/Reports/Q1 final.pdf", "to": "/copy.pdf"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = d
        .call(&d.alice, "DELETE", &format!("{FILES}?path=/Reports"), None)
        .await;
    assert_eq!(status, 204);
    erp_holds(&erp, &[]).await;
}
