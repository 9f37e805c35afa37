//! `/health/ready` answers 200 only when the database and the directory answer, a signing key
//! is loaded and every embedded migration is applied; `/health/live` answers whatever the rest
//! is doing.

use serde_json::Value;
use sqlx::Executor;

use super::{relayed, server_of, Relay};
use crate::on_both_backends;
use crate::support::{postgres_admin_url, Backend, TestApp, TestDb};

on_both_backends!(
    ready_when_the_database_directory_keys_and_migrations_are_in_order,
    not_ready_while_the_database_is_gone_but_live,
    not_ready_while_a_migration_is_missing_or_failed,
);

async fn ready(app: &TestApp) -> (u16, Value) {
    let response = app.get("/health/ready").await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn live(app: &TestApp) -> u16 {
    app.get("/health/live").await.status().as_u16()
}

async fn ready_when_the_database_directory_keys_and_migrations_are_in_order(backend: Backend) {
    let Some(h) = TestApp::builder().backend(backend).start().await else {
        return;
    };
    let (status, body) = ready(&h.app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["not_ready"], serde_json::json!([]));
    assert_eq!(body["database"], "ok");
    assert_eq!(body["directory"]["status"], "ok");
    assert_eq!(body["keys"], "ok");
    assert_eq!(body["migrations"]["status"], "ok");
    let response = h.app.get("/health/live").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
}

/// The database is gone for the app when its pool is closed: every query fails at once, on
/// either backend. (A PostgreSQL server that stops answering is the relay test below.)
async fn not_ready_while_the_database_is_gone_but_live(backend: Backend) {
    let Some(h) = TestApp::builder().backend(backend).start().await else {
        return;
    };
    assert_eq!(ready(&h.app).await.0, 200);
    h.app.state.db.pool().close().await;

    let (status, body) = ready(&h.app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    let not_ready = body["not_ready"].as_array().unwrap();
    assert!(not_ready.contains(&"database".into()), "{body}");
    assert!(not_ready.contains(&"migrations".into()), "{body}");
    assert_ne!(body["database"], "ok");
    assert_eq!(body["keys"], "ok", "the keys are in memory: {body}");
    assert_eq!(live(&h.app).await, 200, "live needs no database");
}

async fn not_ready_while_a_migration_is_missing_or_failed(backend: Backend) {
    let Some(h) = TestApp::builder().backend(backend).start().await else {
        return;
    };
    let pool = h.app.state.db.pool();
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(pool)
        .await
        .unwrap();
    let (first, last) = (
        *versions.iter().min().unwrap(),
        *versions.iter().max().unwrap(),
    );
    assert!(first < last, "the test needs two migrations: {versions:?}");

    // As if the database had been migrated by an older binary. The row is kept aside, to be
    // put back at the end: the migration's tables are all there, so running it again would fail.
    pool.execute(
        format!(
            "CREATE TABLE kept_aside AS SELECT * FROM _sqlx_migrations WHERE version = {last}; \
             DELETE FROM _sqlx_migrations WHERE version = {last}"
        )
        .as_str(),
    )
    .await
    .unwrap();
    let (status, body) = ready(&h.app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["not_ready"], serde_json::json!(["migrations"]));
    assert_eq!(body["migrations"]["status"], "incomplete");
    assert_eq!(body["migrations"]["missing"], serde_json::json!([last]));
    assert_eq!(body["database"], "ok", "the database itself answers");
    assert_eq!(live(&h.app).await, 200);

    // `success` is a BOOLEAN on PostgreSQL and an integer on SQLite; a comparison is either.
    pool.execute(
        format!("UPDATE _sqlx_migrations SET success = (1 = 0) WHERE version = {first}").as_str(),
    )
    .await
    .unwrap();
    let (status, body) = ready(&h.app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["migrations"]["failed"], serde_json::json!([first]));
    assert_eq!(body["migrations"]["missing"], serde_json::json!([last]));

    // Put right, ready again: nothing is cached.
    pool.execute(
        format!(
            "UPDATE _sqlx_migrations SET success = (1 = 1) WHERE version = {first}; \
             INSERT INTO _sqlx_migrations SELECT * FROM kept_aside"
        )
        .as_str(),
    )
    .await
    .unwrap();
    let (status, body) = ready(&h.app).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn not_ready_while_postgres_is_unreachable_and_ready_again_when_it_returns() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let mut relay = Relay::start(server_of(&postgres_admin_url())).await;
    let keys = tempfile::tempdir().unwrap();
    let app = TestApp::builder()
        .start_on(&relayed(&db.url, relay.addr), keys.path())
        .await;
    assert_eq!(ready(&app).await.0, 200);

    relay.cut().await;
    let body = wait_for_ready(&app, 503).await;
    assert!(
        body["not_ready"]
            .as_array()
            .unwrap()
            .contains(&"database".into()),
        "{body}"
    );
    assert_eq!(live(&app).await, 200);

    relay.restore().await;
    let body = wait_for_ready(&app, 200).await;
    assert_eq!(body["status"], "ready");
    app.stop().await;
}

/// Polls until `/health/ready` answers `status`; its body then.
async fn wait_for_ready(app: &TestApp, status: u16) -> Value {
    for _ in 0..50 {
        let (got, body) = ready(app).await;
        if got == status {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("/health/ready never answered {status}");
}

#[tokio::test]
async fn not_ready_while_the_erp_directory_is_unreachable() {
    // The ERP has its users table: start-up refuses one without.
    let Some(erp) = crate::erp_checks::erp().await else {
        return;
    };
    let mut relay = Relay::start(server_of(&postgres_admin_url())).await;
    let h = TestApp::builder()
        .set("directory.url", relayed(&erp.url, relay.addr))
        .start()
        .await
        .unwrap();
    assert_eq!(ready(&h.app).await.0, 200);

    relay.cut().await;
    let body = wait_for_ready(&h.app, 503).await;
    assert_eq!(body["not_ready"], serde_json::json!(["directory"]));
    assert_eq!(body["directory"]["kind"], "erp");
    assert_eq!(body["database"], "ok");
    assert_eq!(live(&h.app).await, 200);

    relay.restore().await;
    wait_for_ready(&h.app, 200).await;
}
