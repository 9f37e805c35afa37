use bheem_sso::clock::Clock;
use bheem_sso::keys::KeySet;

use crate::support::{Backend, TestApp, TestDb};

async fn published_kids(app: &TestApp) -> Vec<String> {
    let jwks: serde_json::Value = app.get("/api/v1/sso/jwks").await.json().await.unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn restart(app: TestApp, database_url: &str) -> TestApp {
    let keys_dir = app.keys_dir.clone();
    app.stop().await;
    TestApp::builder().start_on(database_url, &keys_dir).await
}

#[tokio::test]
async fn the_key_is_generated_once_and_reloaded_with_the_same_kid_after_restart() {
    let h = TestApp::builder().start().await.unwrap();
    let first = published_kids(&h.app).await;
    assert_eq!(first.len(), 1);
    let pem_files = || {
        std::fs::read_dir(h.keys.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "pem")
            })
            .count()
    };
    assert_eq!(pem_files(), 1);
    let app = restart(h.app, &h.db.url).await;
    assert_eq!(published_kids(&app).await, first);
    assert_eq!(pem_files(), 1);
}

#[tokio::test]
async fn rotation_publishes_both_keys_and_signs_with_the_new_one() {
    let h = TestApp::builder().start().await.unwrap();
    let old = h.app.state.keys().active().kid.clone();
    let new = KeySet::rotate(h.keys.path(), Clock::System.now() + 1).unwrap();
    // A running server picks the new key up on reload (SIGHUP in production).
    h.app.state.keys.reload().unwrap();
    assert_eq!(h.app.state.keys().active().kid, new);
    assert_eq!(published_kids(&h.app).await, vec![new.clone(), old.clone()]);
    let app = restart(h.app, &h.db.url).await;
    assert_eq!(published_kids(&app).await, vec![new, old]);
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
    // Nothing was generated beside the broken file.
    assert_eq!(std::fs::read_dir(keys.path()).unwrap().count(), 1);
}
