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

/// PostgreSQL restarted, or a firewall dropped an idle connection: the pool finds out before it
/// hands the connection to a request, which is served on a fresh one.
#[tokio::test]
async fn a_postgres_connection_cut_while_idle_is_replaced_before_use() {
    let Some(test_db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let db = Db::connect(&DatabaseUrl::parse(&test_db.url).unwrap())
        .await
        .unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&test_db.url)
        .await
        .unwrap();
    let cut: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(cut);
    // Longer than a connection may sit idle before it is checked.
    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    let other: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(db.pool())
        .await
        .expect("the cut connection is replaced, not used");
    assert_ne!(other, pid);
    db.close().await;
}

/// The same for a connection kept out of the pool between token look-ups (`Db::hot_connection`):
/// once it has sat idle past the same second it goes back to the pool, which finds it broken,
/// instead of being lent to the next look-up.
#[tokio::test]
async fn a_kept_postgres_connection_cut_while_idle_is_not_lent_again() {
    let Some(test_db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let db = Db::connect(&DatabaseUrl::parse(&test_db.url).unwrap())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    // A token look-up keeps its connection for the next one.
    assert!(db.access_token("no-such-jti").await.unwrap().is_none());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&test_db.url)
        .await
        .unwrap();
    // In the select list, so that it runs only on the rows the filter kept (not on this one).
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(cut.contains(&true), "the pool's connections were cut");
    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    let found = db
        .access_token("no-such-jti")
        .await
        .expect("the cut connection is not lent to the look-up");
    assert!(found.is_none());
    db.close().await;
}
