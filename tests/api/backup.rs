//! `bheem-sso backup --to FILE`, run as an operator runs it: beside a server that is serving and
//! writing, the copy is a whole, consistent database with the data in it; an existing file is
//! never overwritten; PostgreSQL gets the pg_dump advice.

use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use sqlx::{Connection, SqliteConnection};

use crate::support::{Backend, Sso, TestApp, PASSWORD};

/// The binary, with the database URL from the environment and none of the caller's overrides.
async fn backup(database_url: &str, to: &Path) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bheem-sso"));
    for (name, _) in std::env::vars() {
        if name.starts_with("BHEEM_SSO_") {
            command.env_remove(name);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    command
        .current_dir(dir.path())
        .env("BHEEM_SSO_DATABASE_URL", database_url)
        .arg("backup")
        .arg("--to")
        .arg(to)
        .output()
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Logs alice in through the first-party API: each login writes an SSO session and a refresh
/// token.
async fn log_in(sso: &Sso, http: &reqwest::Client) {
    let response = http
        .post(sso.url("/api/v1/auth/login"))
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn count(conn: &mut SqliteConnection, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn backup_of_a_serving_database_is_a_consistent_copy_with_its_users_and_sessions() {
    let sso = Arc::new(TestApp::builder().start_sso().await.unwrap());
    let http = reqwest::Client::new();
    log_in(&sso, &http).await;
    let live_path = sso.h.db.url.trim_start_matches("sqlite://").to_owned();
    let mut live = SqliteConnection::connect(&sso.h.db.url).await.unwrap();
    let sessions_before = count(&mut live, "sso_sessions").await;

    // Logins keep writing while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let logins = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (sso, stop, logins, http) =
                (sso.clone(), stop.clone(), logins.clone(), http.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    log_in(&sso, &http).await;
                    logins.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    while logins.load(Ordering::SeqCst) < 4 {
        tokio::task::yield_now().await;
    }
    // A backup can be quicker than a login; backups are taken until logins completed while one
    // ran, and that one is checked.
    let dir = tempfile::tempdir().unwrap();
    let mut overlapped = None;
    for attempt in 0..20 {
        let copy = dir.path().join(format!("sso-backup-{attempt}.db"));
        let logins_at_start = logins.load(Ordering::SeqCst);
        let out = backup(&sso.h.db.url, &copy).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("backed up"),
            "{}",
            text(&out.stdout)
        );
        if logins.load(Ordering::SeqCst) > logins_at_start {
            overlapped = Some(copy);
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    let copy = overlapped.expect("no login was written while any of 20 backups ran");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the copy holds password and token hashes");
    }
    let left_over: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("partial"))
        .collect();
    assert!(left_over.is_empty(), "temporary files left: {left_over:?}");

    let mut restored = SqliteConnection::connect(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut restored)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let broken_references: Vec<(String,)> = sqlx::query_as("PRAGMA foreign_key_check")
        .fetch_all(&mut restored)
        .await
        .unwrap();
    assert!(broken_references.is_empty(), "{broken_references:?}");
    let alice: String = sqlx::query_scalar("SELECT email FROM users WHERE username = 'alice'")
        .fetch_one(&mut restored)
        .await
        .unwrap();
    assert_eq!(alice, "alice@acme.example");
    // A snapshot taken between the first login and the last.
    let sessions_copied = count(&mut restored, "sso_sessions").await;
    let sessions_after = count(&mut live, "sso_sessions").await;
    assert!(
        sessions_before <= sessions_copied && sessions_copied <= sessions_after,
        "{sessions_before} ≤ {sessions_copied} ≤ {sessions_after}"
    );
    // The first login was answered before any backup began: its token is in every copy.
    assert!(count(&mut restored, "refresh_tokens").await >= 1);
    assert!(Path::new(&live_path).is_file());
}

#[tokio::test]
async fn backup_never_overwrites_an_existing_file() {
    let Some(h) = TestApp::builder().backend(Backend::Sqlite).start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("sso-backup.db");
    std::fs::write(&copy, "yesterday's backup").unwrap();

    let out = backup(&h.db.url, &copy).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("exists; backup never overwrites a file"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        "yesterday's backup"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// PostgreSQL has its own online backup; nothing is connected to, so no server is needed.
#[tokio::test]
async fn backup_on_postgres_refuses_with_the_pg_dump_advice() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("sso.dump");
    let out = backup("postgres://sso:hunter2@db.invalid:5432/bheem_sso", &dump).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "pg_dump --format=custom --file={} 'postgres://sso@db.invalid:5432/bheem_sso'",
            dump.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(!dump.exists());
}
