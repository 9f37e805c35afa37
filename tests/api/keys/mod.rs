//! Signing keys kept in the database (docs/operating/keys.md): made once, the same after a
//! restart and on every node, legacy PEM files imported with their kid. Several nodes and the
//! command line are `nodes`; two-stage and scheduled rotation `rotation`.

mod nodes;
mod rotation;

use std::time::{Duration, Instant};

use bheem_sso::keys::kek::KEK_ENV;
use bheem_sso::keys::PrivateKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};

use crate::on_both_backends;
use crate::support::{jwt_payload, new_kek, Backend, TestApp, TestDb, SECRET};

on_both_backends!(
    the_key_is_generated_once_and_reloaded_with_the_same_kid_after_restart,
    an_existing_deployment_keeps_its_pem_keys_kid_and_age_after_the_upgrade,
    two_nodes_starting_at_once_on_an_empty_database_end_with_one_key,
);

pub(crate) async fn published_kids(app: &TestApp) -> Vec<String> {
    let jwks: serde_json::Value = app.get("/api/v1/sso/jwks").await.json().await.unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Asks the JWKS again until `done` holds of its kids; fails after 30 s.
async fn wait_for_jwks(app: &TestApp, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let kids = published_kids(app).await;
        if done(&kids) {
            return kids;
        }
        assert!(Instant::now() < deadline, "{what}; the JWKS has {kids:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The kid in the header of a client-credentials access token from `app` (client `rp`).
async fn access_token_kid(app: &TestApp) -> String {
    let body: serde_json::Value = reqwest::Client::new()
        .post(app.url("/api/v1/sso/token"))
        .basic_auth("rp", Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().expect("an access token");
    assert_eq!(jwt_payload(token)["client_id"], "rp");
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn stored_keys(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn the_key_is_generated_once_and_reloaded_with_the_same_kid_after_restart(backend: Backend) {
    let Some(h) = TestApp::builder().backend(backend).start().await else {
        return;
    };
    let first = published_kids(&h.app).await;
    assert_eq!(first.len(), 1);
    assert_eq!(stored_keys(&h.app).await, 1);
    // No key in the folder: only the key-encryption key the stored key needs.
    assert_eq!(files_in(h.keys.path()), ["encryption.key"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let kek = h.keys.path().join("encryption.key");
        let mode = std::fs::metadata(kek).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    crate::support::kek_in(h.keys.path());
    let keys_dir = h.app.keys_dir.clone();
    h.app.stop().await;
    let app = TestApp::builder()
        .backend(backend)
        .start_on(&h.db.url, &keys_dir)
        .await;
    assert_eq!(published_kids(&app).await, first);
    assert_eq!(stored_keys(&app).await, 1);
    assert_eq!(files_in(h.keys.path()), ["encryption.key"]);
}

async fn an_existing_deployment_keeps_its_pem_keys_kid_and_age_after_the_upgrade(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    // What the release before wrote: two keys, the newer one (a day old) active, the older in
    // its grace period.
    let now = bheem_sso::clock::Clock::System.now();
    let times = [now - 30 * 24 * 3600, now - 24 * 3600];
    let mut pems = Vec::new();
    for (created, suffix) in [(times[0], "0000abcd"), (times[1], "0000beef")] {
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let path = keys.path().join(format!("key-{created}-{suffix}.pem"));
        std::fs::write(path, pem.as_bytes()).unwrap();
        pems.push(
            PrivateKey::from_pem(&pem, "test key")
                .unwrap()
                .kid()
                .to_owned(),
        );
    }
    let (older, newer) = (pems[0].clone(), pems[1].clone());
    let app = TestApp::builder().start_on(&db.url, keys.path()).await;
    assert_eq!(app.signing_kid(), newer);
    assert_eq!(published_kids(&app).await, [newer.clone(), older.clone()]);
    let set = app.state.keys();
    let created: Vec<_> = set.all().iter().map(|k| k.created_at).collect();
    assert_eq!(created, times);
    assert_eq!(stored_keys(&app).await, 2);
    crate::support::kek_in(keys.path());
    app.stop().await;

    // The files are no longer read: removed, the keys are the same.
    for name in files_in(keys.path()) {
        if name.ends_with(".pem") {
            std::fs::remove_file(keys.path().join(name)).unwrap();
        }
    }
    let app = TestApp::builder().start_on(&db.url, keys.path()).await;
    assert_eq!(published_kids(&app).await, [newer.clone(), older]);
    assert_eq!(app.signing_kid(), newer);
}

async fn two_nodes_starting_at_once_on_an_empty_database_end_with_one_key(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    // Migrated first: what is raced here is the first key, not the schema.
    let url = bheem_sso::config::DatabaseUrl::parse(&db.url).unwrap();
    let migrated = bheem_sso::store::Db::connect(&url).await.unwrap();
    migrated.migrate().await.unwrap();
    migrated.close().await;
    let kek = new_kek();
    let node = TestApp::builder().env(KEK_ENV, &kek);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = tokio::join!(
        node.try_start_on(&db.url, dir_a.path()),
        node.try_start_on(&db.url, dir_b.path()),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let kids = published_kids(&a).await;
    assert_eq!(kids.len(), 1);
    assert_eq!(published_kids(&b).await, kids);
    assert_eq!(stored_keys(&a).await, 1);
    // The KEK came from the environment: neither node wrote one.
    assert!(files_in(dir_a.path()).is_empty() && files_in(dir_b.path()).is_empty());
}

#[tokio::test]
async fn a_corrupt_key_file_stops_start_up_with_the_file_named() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let keys = tempfile::tempdir().unwrap();
    std::fs::write(
        keys.path().join("imported.pem"),
        "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = TestApp::builder()
        .try_start_on(&db.url, keys.path())
        .await
        .err()
        .expect("start-up should fail");
    let message = format!("{err:#}");
    assert!(message.contains("imported.pem"), "{message}");
    // Nothing was made beside the broken file: no key, no key-encryption key.
    assert_eq!(files_in(keys.path()), ["imported.pem"]);
}
