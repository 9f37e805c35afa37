//! Several nodes of one deployment, each with a keys_dir of its own: they share the keys
//! through the database and need the same key-encryption key; a node without it refuses to
//! start rather than make a key of its own. `keys rotate` on one reaches the others unasked.

use std::process::Command;

use bheem_sso::keys::kek::KEK_ENV;

use super::{access_token_kid, files_in, published_kids, stored_keys, wait_for_jwks};
use crate::on_both_backends;
use crate::support::{kek_in, new_kek, standard_clients, Backend, TestApp};

on_both_backends!(
    a_second_node_with_an_empty_keys_dir_and_the_shared_kek_serves_the_same_keys,
    a_second_node_without_the_kek_refuses_to_start_and_makes_nothing,
    keys_rotate_on_the_command_line_reaches_a_running_node_without_a_signal,
);

async fn a_second_node_with_an_empty_keys_dir_and_the_shared_kek_serves_the_same_keys(
    backend: Backend,
) {
    let Some(h) = TestApp::builder()
        .backend(backend)
        .clients(standard_clients())
        .start()
        .await
    else {
        return;
    };
    // The first node made the KEK file; the second is given its contents in the environment.
    let kek = kek_in(h.keys.path());
    let empty = tempfile::tempdir().unwrap();
    let b = TestApp::builder()
        .clients(standard_clients())
        // One deployment: one issuer, whichever node answers.
        .set("issuer", h.app.base.as_str())
        .env(KEK_ENV, &kek)
        .start_on(&h.db.url, empty.path())
        .await;
    let jwks = |app: &TestApp| {
        let url = app.url("/api/v1/sso/jwks");
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert_eq!(jwks(&b).await, jwks(&h.app).await);
    assert_eq!(b.signing_kid(), h.app.signing_kid());
    assert!(files_in(empty.path()).is_empty(), "no key, no KEK made");
    assert_eq!(stored_keys(&b).await, 1);
    // A token of the first node is good at the second.
    let token: serde_json::Value = reqwest::Client::new()
        .post(h.app.url("/api/v1/sso/token"))
        .basic_auth("rp", Some(crate::support::SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let introspection: serde_json::Value = reqwest::Client::new()
        .post(b.url("/api/v1/sso/introspect"))
        .basic_auth("rp", Some(crate::support::SECRET))
        .form(&[("token", token["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspection["active"], true, "{introspection}");
}

async fn a_second_node_without_the_kek_refuses_to_start_and_makes_nothing(backend: Backend) {
    let Some(h) = TestApp::builder().backend(backend).start().await else {
        return;
    };
    kek_in(h.keys.path());
    let empty = tempfile::tempdir().unwrap();
    let err = TestApp::builder()
        .try_start_on(&h.db.url, empty.path())
        .await
        .err()
        .expect("a node without the KEK should not start");
    let message = format!("{err:#}");
    let database = bheem_sso::config::DatabaseUrl::parse(&h.db.url)
        .unwrap()
        .redacted();
    let kek_file = empty.path().join("encryption.key");
    for part in [
        format!("the database {database} holds the deployment's signing keys"),
        format!("the file {} does not exist", kek_file.display()),
        "copy encryption.key".to_owned(),
        format!("set {KEK_ENV} to the same value on every node"),
    ] {
        assert!(message.contains(&part), "{part:?} not in: {message}");
    }
    assert!(files_in(empty.path()).is_empty(), "no key, no KEK made");
    assert_eq!(stored_keys(&h.app).await, 1);

    // Another KEK than the deployment's: refused the same way, naming where it came from.
    let wrong = new_kek();
    let err = TestApp::builder()
        .env(KEK_ENV, &wrong)
        .try_start_on(&h.db.url, empty.path())
        .await
        .err()
        .expect("a node with another KEK should not start");
    let message = format!("{err:#}");
    assert!(
        message.contains(&format!(
            "the key-encryption key from the environment variable {KEK_ENV} does not decrypt them"
        )),
        "{message}"
    );
    assert!(!message.contains(&wrong), "the KEK itself is never shown");
    assert!(files_in(empty.path()).is_empty());
    assert_eq!(stored_keys(&h.app).await, 1);
    assert_eq!(published_kids(&h.app).await.len(), 1);
}

async fn keys_rotate_on_the_command_line_reaches_a_running_node_without_a_signal(backend: Backend) {
    let Some(h) = TestApp::builder()
        .backend(backend)
        .clients(standard_clients())
        .set("key_refresh_seconds", 1)
        .start()
        .await
    else {
        return;
    };
    let old = h.app.signing_kid();
    // The command runs as on another machine: a keys_dir of its own, the KEK in the environment.
    let kek = kek_in(h.keys.path());
    let elsewhere = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_bheem-sso"));
    for (name, _) in std::env::vars() {
        if name.starts_with("BHEEM_SSO_") {
            command.env_remove(name);
        }
    }
    let out = command
        .current_dir(elsewhere.path())
        .args(["keys", "rotate"])
        .env("BHEEM_SSO_DATABASE_URL", &h.db.url)
        .env("BHEEM_SSO_KEYS_DIR", elsewhere.path())
        .env(KEK_ENV, &kek)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains(&kek) && !String::from_utf8_lossy(&out.stderr).contains(&kek));
    let new = stdout
        .split_whitespace()
        .nth(2)
        .expect("`new key <kid> …`")
        .to_owned();
    assert!(stdout.contains(&format!("previous key {old}")), "{stdout}");
    assert!(stdout.contains("signs from"), "{stdout}");

    // No SIGHUP, no reload: the node finds the key on its own refresh.
    let kids = wait_for_jwks(&h.app, "the rotated key never reached the node", |kids| {
        kids.contains(&new)
    })
    .await;
    assert_eq!(kids, [new.clone(), old.clone()]);
    // Two-stage: published, but not signing yet.
    assert_eq!(access_token_kid(&h.app).await, old);
    assert_eq!(stored_keys(&h.app).await, 2);
}
