use bheem_sso::config::DatabaseUrl;
use bheem_sso::store::Db;

use crate::helpers::{Backend, TestDb};

async fn migrations_apply_twice(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else {
        return;
    };
    let url = DatabaseUrl::parse(&test_db.url).unwrap();
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    db.migrate().await.unwrap();
    // A second process (another node, or `migrate` beside `serve`) finds nothing to do.
    let other = Db::connect(&url).await.unwrap();
    other.migrate().await.unwrap();
    let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(tables, 0);
    db.close().await;
    other.close().await;
}

#[tokio::test]
async fn migrations_apply_cleanly_twice_on_sqlite() {
    migrations_apply_twice(Backend::Sqlite).await;
}

#[tokio::test]
async fn migrations_apply_cleanly_twice_on_postgres() {
    migrations_apply_twice(Backend::Postgres).await;
}

#[tokio::test]
async fn sqlite_file_is_created_with_wal_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(&format!(
        "sqlite://{}/nested/folder/sso.db",
        dir.path().display()
    ))
    .unwrap();
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    assert!(dir.path().join("nested/folder/sso.db").exists());
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
    db.close().await;
}
