use bheem_sso::config::DatabaseUrl;
use bheem_sso::store::grants::{GrantRecord, NewAccessToken, NewRefreshToken, Spends};
use bheem_sso::store::Db;

use crate::on_both_backends;
use crate::support::{Backend, TestDb};

on_both_backends!(stored_refresh_tokens_get_their_families_and_clear_session_ids_go,);

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

/// The database holds password hashes, e-mail addresses and the hashes of live tokens: a new
/// SQLite file, and the -wal and -shm files SQLite makes beside it, are its owner's only.
#[cfg(unix)]
#[tokio::test]
async fn a_new_sqlite_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(&format!("sqlite://{}/sso.db", dir.path().display())).unwrap();
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let mut files = Vec::new();
    for name in ["sso.db", "sso.db-wal", "sso.db-shm"] {
        if let Ok(meta) = std::fs::metadata(dir.path().join(name)) {
            files.push((name, meta.permissions().mode() & 0o777));
        }
    }
    assert!(files.len() >= 2, "the database and its WAL: {files:?}");
    for (name, mode) in files {
        assert_eq!(mode & 0o077, 0, "{name} has mode {mode:o}");
    }
    db.close().await;
}

/// A database made before refresh-token families (migrations 0001 and 0002) is upgraded: each
/// stored family gets its row and keeps working until its newest token's end; a family with a
/// revoked token is revoked whole, so a token that outran the revocation is dead; browser
/// sessions stored under their clear ids are removed (their users log in again).
async fn stored_refresh_tokens_get_their_families_and_clear_session_ids_go(backend: Backend) {
    const NOW: i64 = 1_000_000;
    let Some(test_db) = TestDb::new(backend).await else {
        return;
    };
    let db = Db::connect(&DatabaseUrl::parse(&test_db.url).unwrap())
        .await
        .unwrap();
    let folder = match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let before = tempfile::tempdir().unwrap();
    for name in ["0001_initial.sql", "0002_sessions_and_token_claims.sql"] {
        std::fs::copy(format!("{folder}/{name}"), before.path().join(name)).unwrap();
    }
    sqlx::migrate::Migrator::new(before.path())
        .await
        .unwrap()
        .run(db.pool())
        .await
        .unwrap();
    // Family `kept`: a rotated token and the live one. Family `outran`: a revoked token and one
    // written by a rotation the revocation missed.
    for (token, family, expires_at, rotated_at, revoked_at) in [
        ("k1", "kept", NOW + 100, Some(NOW + 10), None),
        ("k2", "kept", NOW + 110, None, None),
        ("o1", "outran", NOW + 100, Some(NOW + 10), Some(NOW + 20)),
        ("o2", "outran", NOW + 110, None, None),
    ] {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, scope, created_at, \
             expires_at, rotated_at, revoked_at) VALUES ($1, $2, 'rp', 'u1', 'offline_access', $3, $4, $5, $6)",
        )
        .bind(token)
        .bind(family)
        .bind(expires_at - 100)
        .bind(expires_at)
        .bind(rotated_at)
        .bind(revoked_at)
        .execute(db.pool())
        .await
        .unwrap();
    }
    for (jti, family) in [("a-kept", "kept"), ("a-outran", "outran")] {
        sqlx::query(
            "INSERT INTO access_tokens (jti, client_id, user_id, family_id, expires_at) \
             VALUES ($1, 'rp', 'u1', $2, $3)",
        )
        .bind(jti)
        .bind(family)
        .bind(NOW + 600)
        .execute(db.pool())
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO http_sessions (id, data, expiry_date) VALUES ('clear-id', '{}', $1)")
        .bind(NOW * 2)
        .execute(db.pool())
        .await
        .unwrap();

    db.migrate().await.unwrap();

    let kept = db.refresh_token("k2").await.unwrap().expect("still found");
    assert_eq!(kept.revoked_at, None);
    assert_eq!(
        (kept.expires_at, kept.family_expires_at),
        (NOW + 110, NOW + 110)
    );
    assert_eq!(
        db.access_token("a-kept").await.unwrap().unwrap().revoked_at,
        None
    );
    let outran = db.refresh_token("o2").await.unwrap().unwrap();
    assert_eq!(outran.revoked_at, Some(NOW + 20), "revoked with its family");
    assert_eq!(
        db.access_token("a-outran")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(NOW + 20)
    );
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM http_sessions")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(sessions, 0);
    // The kept family rotates on, within its end.
    let rotated = db
        .record_grant(&GrantRecord {
            spends: Spends::RefreshToken("k2"),
            refresh: Some(NewRefreshToken {
                token_hash: "k3",
                family_id: "kept",
                client_id: "rp",
                user_id: "u1",
                session_id: None,
                code_hash: None,
                scope: "offline_access",
                claims: None,
                auth_time: None,
                created_at: NOW + 50,
                expires_at: NOW + 110,
            }),
            access: NewAccessToken {
                jti: "a-kept-2",
                client_id: "rp",
                user_id: Some("u1"),
                session_id: None,
                code_hash: None,
                family_id: Some("kept"),
                scope: "offline_access",
                claims: None,
                expires_at: NOW + 650,
            },
            now: NOW + 50,
        })
        .await
        .unwrap();
    assert!(rotated);
    assert!(
        !db.record_grant(&GrantRecord {
            spends: Spends::RefreshToken("o2"),
            refresh: None,
            access: NewAccessToken {
                jti: "a-outran-2",
                client_id: "rp",
                user_id: Some("u1"),
                session_id: None,
                code_hash: None,
                family_id: Some("outran"),
                scope: "offline_access",
                claims: None,
                expires_at: NOW + 650,
            },
            now: NOW + 50,
        })
        .await
        .unwrap(),
        "a revoked family does not rotate"
    );
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
