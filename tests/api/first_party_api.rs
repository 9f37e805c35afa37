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
    assert_eq!(wrong.headers()["cache-control"], "no-store");
    let wrong: Value = wrong.json().await.unwrap();
    assert_eq!(wrong["error"], "invalid_credentials");
    let not_json = http
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"user": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let not_json: Value = not_json.json().await.unwrap();
    assert_eq!(not_json["error"], "invalid_request");
    let login: Value = http
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice@acme.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The body as the README documents it.
    let mut keys: Vec<&str> = login
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "id_token",
            "refresh_token",
            "scope",
            "token_type",
            "user"
        ]
    );
    assert_eq!(
        login["scope"],
        "calendar company docs email mail meet offline_access openid profile"
    );
    let mut user_keys: Vec<&str> = login["user"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    user_keys.sort_unstable();
    assert_eq!(
        user_keys,
        ["company_id", "email", "id", "name", "role", "username"]
    );
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
    let reused: Value = reused.json().await.unwrap();
    assert_eq!(reused["error"], "invalid_grant");
    let no_token = http.get(sso.url("/api/v1/auth/me")).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
    assert!(no_token.headers().contains_key("www-authenticate"));
    let bad_token = http
        .get(sso.url("/api/v1/auth/me"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status(), 401);
    let challenge = bad_token.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}
