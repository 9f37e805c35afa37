//! The audit trail: each kind of event made by a real flow through the real endpoints, the
//! binary or the worker, and read back as an operator does, through `bheem-sso audit --json`.

mod admin;
mod filters;
mod flows;
mod storage;

use std::path::Path;

use serde_json::Value;

use crate::support::Harness;

/// The binary in `dir` (no configuration file there) on the database at `url`.
pub fn bheem_sso(dir: &Path, url: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bheem-sso"));
    command.current_dir(dir).env("RUST_LOG", "warn");
    for (name, _) in std::env::vars() {
        if name.starts_with("BHEEM_SSO_") {
            command.env_remove(name);
        }
    }
    command.env("BHEEM_SSO_DATABASE_URL", url);
    command
}

/// `bheem-sso audit --json ARGS` on the database at `url`: one event per line, newest first.
pub async fn audit_command(url: &str, args: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let limit: &[&str] = if args.contains(&"--limit") {
        &[]
    } else {
        &["--limit", "1000"]
    };
    let out = bheem_sso(dir.path(), url)
        .args(["audit", "--json"])
        .args(limit)
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "audit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The app's trail once what it queued is written.
pub async fn trail(h: &Harness, args: &[&str]) -> Vec<Value> {
    h.app.state.audit.flush().await;
    audit_command(&h.db.url, args).await
}

/// The events of `kind`, newest first.
pub fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

/// The one event of `kind`.
pub fn the<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(events, kind);
    assert_eq!(found.len(), 1, "one {kind} in {events:#?}");
    found[0]
}

/// None of `secrets` anywhere in the trail.
pub fn assert_no_secret(events: &[Value], secrets: &[&str]) {
    let text = serde_json::to_string(events).unwrap();
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(!text.contains(secret), "a secret in the trail: {text}");
    }
}
