//! `bheem-sso audit`'s filters, each shown to leave out what it should, and its table.

use bheem_sso::clock::Clock;

use super::{audit_command, trail};
use crate::on_both_backends;
use crate::support::{add_user, Backend, Sso, TestApp, GLOBEX, PASSWORD};

on_both_backends!(each_filter_keeps_only_the_events_it_names);

async fn api_login(sso: &Sso, login: &str, password: &str) -> u16 {
    reqwest::Client::new()
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": login, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// (kind, user) of each event, newest first.
fn seen(events: &[serde_json::Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["user_id"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

async fn each_filter_keeps_only_the_events_it_names(backend: Backend) {
    // Three hours ago by the app's clock, then an hour ago: `--since 2h` falls between.
    let start = Clock::System.now() - 3 * 3600;
    let clock = Clock::manual(start);
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .clock(clock.clone())
        .start_sso()
        .await
    else {
        return;
    };
    let alice = sso.alice.id.to_string();
    let bob = add_user(&sso.h.app, "bob@globex.example", None, GLOBEX, PASSWORD)
        .await
        .id
        .to_string();
    assert_eq!(api_login(&sso, "alice", PASSWORD).await, 200);
    clock.advance(2 * 3600);
    assert_eq!(api_login(&sso, "bob@globex.example", PASSWORD).await, 200);
    assert_eq!(api_login(&sso, "alice", "not her password").await, 401);

    let all = seen(&trail(&sso.h, &[]).await);
    let a = |kind: &str| (kind.to_owned(), alice.clone());
    let b = |kind: &str| (kind.to_owned(), bob.clone());
    assert_eq!(
        all,
        [
            a("login_failed"),
            b("token_issued"),
            b("login_succeeded"),
            a("token_issued"),
            a("login_succeeded"),
        ]
    );
    let url = sso.h.db.url.as_str();
    let only = |args: &'static [&'static str]| async move { seen(&audit_command(url, args).await) };
    let alices = [a("login_failed"), a("token_issued"), a("login_succeeded")];
    assert_eq!(seen(&audit_command(url, &["--user", &alice]).await), alices);
    assert_eq!(only(&["--user", "alice@acme.example"]).await, alices);
    assert_eq!(only(&["--user", "ALICE"]).await, alices);
    assert_eq!(
        only(&["--company", GLOBEX]).await,
        [b("token_issued"), b("login_succeeded")]
    );
    assert_eq!(only(&["--kind", "login_failed"]).await, [a("login_failed")]);
    assert_eq!(
        only(&["--kind", "login_failed", "--kind", "login_succeeded"]).await,
        [
            a("login_failed"),
            b("login_succeeded"),
            a("login_succeeded")
        ]
    );
    assert_eq!(
        only(&["--since", "2h"]).await,
        [a("login_failed"), b("token_issued"), b("login_succeeded")]
    );
    assert_eq!(
        only(&["--until", "2h"]).await,
        [a("token_issued"), a("login_succeeded")]
    );
    let after_the_first = time::OffsetDateTime::from_unix_timestamp(start + 1)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(
        seen(&audit_command(url, &["--since", &after_the_first, "--user", &alice]).await),
        [a("login_failed")]
    );
    assert_eq!(only(&["--limit", "1"]).await, [a("login_failed")]);

    // The table: one line per event, newest first, with who and what.
    let dir = tempfile::tempdir().unwrap();
    let out = super::bheem_sso(dir.path(), url)
        .args(["audit", "--kind", "login_failed"])
        .output()
        .await
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 1, "{table}");
    assert!(
        lines[0].contains("login_failed")
            && lines[0].contains(&format!("user={alice}"))
            && lines[0].contains("wrong_password"),
        "{table}"
    );
    let refused = super::bheem_sso(dir.path(), url)
        .args(["audit", "--kind", "login"])
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("login_succeeded"));
}
