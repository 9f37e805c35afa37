//! Operators' commands: each recorded with the operator as `cli:<unix user>`, with the events
//! they cause (a user disabled or enabled, sessions ended, a key rotated).

use std::process::Stdio;

use bheem_sso::config::DatabaseUrl;
use bheem_sso::store::sessions::SsoSession;
use bheem_sso::store::Db;
use tokio::io::AsyncWriteExt;

use super::{assert_no_secret, audit_command, bheem_sso, of_kind, the};
use crate::on_both_backends;
use crate::support::{Backend, TestDb, ACME};

on_both_backends!(operators_commands_are_recorded_with_the_operator_and_what_they_did);

/// The command's standard output; fails the test on a non-zero exit.
async fn run(dir: &std::path::Path, url: &str, args: &[&str], stdin: &str) -> String {
    let mut child = bheem_sso(dir, url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn unix_user() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn operators_commands_are_recorded_with_the_operator_and_what_they_did(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else {
        return;
    };
    let url = test_db.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let password = "operator typed this 1";
    // The database is named by BHEEM_SSO_DATABASE_URL; admin commands act only on one that
    // exists, so it is made first, as an operator's first `serve` or `migrate` would.
    run(dir, url, &["migrate"], "").await;
    let added = run(
        dir,
        url,
        &[
            "users",
            "add",
            "--email",
            "ada@acme.example",
            "--name",
            "Ada",
            "--company-id",
            ACME,
            "--username",
            "ada",
        ],
        &format!("{password}\n"),
    )
    .await;
    let ada = added.split_whitespace().nth(2).unwrap().to_owned();
    run(dir, url, &["users", "disable", "ada"], "").await;
    run(dir, url, &["users", "enable", "ada@acme.example"], "").await;
    let db = Db::connect(&DatabaseUrl::parse(url).unwrap())
        .await
        .unwrap();
    let session = SsoSession::started("sid-1".into(), ada.clone(), ACME.into(), 1, i64::MAX);
    db.create_sso_session(&session, &[]).await.unwrap();
    db.close().await;
    run(dir, url, &["users", "logout", "ada"], "").await;
    // The keys folder is the default, ./keys in `dir`: named as such with --dev.
    let rotated = run(dir, url, &["--dev", "keys", "rotate"], "").await;
    run(dir, url, &["provisioning", "retry"], "").await;

    let events = audit_command(url, &[]).await;
    let operator = format!("cli:{}", unix_user());
    let commands: Vec<&str> = of_kind(&events, "admin_command")
        .iter()
        .rev()
        .map(|e| {
            assert_eq!(e["actor"], operator.as_str());
            e["detail"]["command"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        commands,
        [
            "users add",
            "users disable",
            "users enable",
            "users logout",
            "keys rotate",
            "provisioning retry"
        ]
    );
    for kind in ["user_disabled", "user_enabled", "session_ended"] {
        let event = the(&events, kind);
        assert_eq!(event["actor"], operator.as_str(), "{kind}");
        assert_eq!(event["user_id"], ada.as_str(), "{kind}");
        assert_eq!(event["company_id"], ACME, "{kind}");
    }
    assert_eq!(
        the(&events, "session_ended")["detail"]["reason"],
        "revoked by an operator"
    );
    let key = the(&events, "key_rotated");
    assert_eq!(key["actor"], operator.as_str());
    let kid = key["detail"]["kid"].as_str().unwrap();
    assert!(rotated.contains(kid), "{rotated}");
    assert!(events.iter().all(|e| e["request_id"].is_null()));
    assert_no_secret(&events, &[password]);
}
