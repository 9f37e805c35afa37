//! The first-party JSON API of the workspace SPA: login, refresh with rotation, `me`.

use serde_json::Value;

use crate::on_both_backends;
use crate::support::{jwt_payload, Backend, TestApp, ACME, PASSWORD};

on_both_backends!(first_party_api_logs_in_refreshes_and_answers_me);

async fn first_party_api_logs_in_refreshes_and_answers_me(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let http = reqwest::Client::new();
    let wrong = http
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let login: Value = http
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice@acme.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["user"]["company_id"], ACME);
    assert_eq!(login["user"]["email"], "alice@acme.example");
    let access = login["access_token"].as_str().unwrap();
    assert_eq!(jwt_payload(access)["client_id"], "bheem-workspace");
    let me: Value = http
        .get(sso.url("/api/v1/auth/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], sso.alice.id.to_string());
    let refreshed = http
        .post(sso.url("/api/v1/auth/refresh"))
        .json(&serde_json::json!({"refresh_token": login["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_ne!(refreshed["refresh_token"], login["refresh_token"]);
    let reused = http
        .post(sso.url("/api/v1/auth/refresh"))
        .json(&serde_json::json!({"refresh_token": login["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), 400);
    let no_token = http.get(sso.url("/api/v1/auth/me")).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
}
