//! The client credentials grant (RFC 6749 §4.4): a token for the client itself, only for a
//! client registered for it, and the token endpoint's answers not cached.

use serde_json::Value;

use crate::on_both_backends;
use crate::support::{jwt_payload, Backend, TestApp, SECRET};

on_both_backends!(
    client_credentials_issue_a_token_without_a_user,
    token_responses_are_not_cached_and_options_answers_200,
);

async fn client_credentials_issue_a_token_without_a_user(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let response = sso
        .token_request(
            &[
                ("grant_type", "client_credentials"),
                ("scope", "openid company"),
            ],
            Some(("rp", SECRET)),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none() && body.get("id_token").is_none(),
        "{body}"
    );
    let token = body["access_token"].as_str().unwrap();
    let claims = jwt_payload(token);
    assert_eq!(claims["sub"], "rp");
    assert!(claims.get("company_id").is_none());
    assert_eq!(sso.introspect(token).await["active"], true);
    // No user behind it: userinfo refuses it.
    assert_eq!(sso.userinfo_status(token).await, 401);
    // A client without the grant may not use it.
    let refused = sso
        .token_request(
            &[("grant_type", "client_credentials")],
            Some(("rp2", &format!("{SECRET}-two"))),
        )
        .await;
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
}

async fn token_responses_are_not_cached_and_options_answers_200(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let response = sso
        .token_request(
            &[("grant_type", "client_credentials")],
            Some(("rp", SECRET)),
        )
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let options = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, sso.url("/api/v1/sso/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), 200);
}
