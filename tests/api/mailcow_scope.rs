//! `mailcow_template`, the scope the README tells Mailcow operators to request: advertised once
//! a client is configured with its claim, granted to that client (and only to one configured
//! with it), kept through refreshes, and its claim at userinfo.

use serde_json::Value;

use crate::on_both_backends;
use crate::support::{jwt_payload, query, Backend, ClientSpec, TestApp, PASSWORD};

const MAIL_SECRET: &str = "mail-secret-0123456789";
const PLAIN_SECRET: &str = "plain-secret-0123456789";
const MAIL_UI: &str = "https://mail.example.test";

on_both_backends!(mailcow_template_is_advertised_granted_and_released_to_the_client_that_has_it);

async fn mailcow_template_is_advertised_granted_and_released_to_the_client_that_has_it(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .client(
            ClientSpec::new("bheem-mail")
                .secret(MAIL_SECRET)
                .redirect_uri(MAIL_UI)
                .auth_method("client_secret_post")
                .refresh_without_offline_access()
                .skip_consent()
                .role_claim("mailcow_template", "admin", "Bheem admins")
                .role_claim("mailcow_template", "*", "Bheem default"),
        )
        .client(
            ClientSpec::new("plain-rp")
                .secret(PLAIN_SECRET)
                .redirect_uri(MAIL_UI)
                .auth_method("client_secret_post")
                .refresh_without_offline_access()
                .skip_consent(),
        )
        .start_sso()
        .await
    else {
        return;
    };
    let http = reqwest::Client::new();
    let discovery: Value = http
        .get(sso.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for list in ["scopes_supported", "claims_supported"] {
        assert!(
            discovery[list]
                .as_array()
                .unwrap()
                .contains(&"mailcow_template".into()),
            "{list}: {}",
            discovery[list]
        );
    }

    // Mailcow's generic OIDC login: no discovery, client_secret_post, then refresh + userinfo.
    let sign_in = |client_id: &'static str, secret: &'static str| {
        let sso = &sso;
        let http = &http;
        async move {
            let mut authorize = url::Url::parse(&sso.url("/api/v1/sso/authorize")).unwrap();
            authorize.query_pairs_mut().extend_pairs([
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", MAIL_UI),
                ("scope", "openid profile email mailcow_template"),
                ("state", "mc-state"),
            ]);
            let browser = sso.browser();
            let landing = browser.visit(authorize.as_str()).await;
            let callback = browser
                .submit_login(landing.page(), "alice@acme.example", PASSWORD)
                .await
                .callback();
            let code = query(&callback)["code"].clone();
            let tokens: Value = http
                .post(sso.url("/api/v1/sso/token"))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", MAIL_UI),
                    ("client_id", client_id),
                    ("client_secret", secret),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let refreshed: Value = http
                .post(sso.url("/api/v1/sso/token"))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                    ("client_id", client_id),
                    ("client_secret", secret),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let access = refreshed["access_token"].as_str().unwrap().to_owned();
            let info: Value = http
                .get(sso.url("/api/v1/sso/userinfo"))
                .bearer_auth(&access)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (jwt_payload(&access), info)
        }
    };

    let (access, info) = sign_in("bheem-mail", MAIL_SECRET).await;
    let granted: Vec<&str> = access["scope"].as_str().unwrap().split(' ').collect();
    assert!(granted.contains(&"mailcow_template"), "{granted:?}");
    assert_eq!(info["mailcow_template"], "Bheem default");
    assert_eq!(info["email"], "alice@acme.example");

    // A client without the claim does not get the scope, nor the claim.
    let (access, info) = sign_in("plain-rp", PLAIN_SECRET).await;
    let granted = access["scope"].as_str().unwrap();
    assert!(!granted.contains("mailcow_template"), "{granted}");
    assert!(info.get("mailcow_template").is_none(), "{info}");
}
