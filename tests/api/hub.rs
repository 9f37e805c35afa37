//! The workspace applications, logging in as they really do: a Nextcloud-shaped
//! relying party, a Mailcow-shaped one, and the Meet web app.

use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::{AuthType, IssuerUrl, JsonWebKey, OAuth2TokenResponse, TokenResponse as _};
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{
    jwt_payload, query, AuthRequest, Backend, ClientSpec, TestApp, ACME, PASSWORD,
};

const DOCS_SECRET: &str = "docs-secret-0123456789";
const MAIL_SECRET: &str = "mail-secret-0123456789";
const MAIL_UI: &str = "https://mail.example.test";

/// The workspace applications' clients, registered as their deployments register them.
fn workspace_apps() -> [ClientSpec; 3] {
    [
        ClientSpec::new("bheem-docs")
            .name("Bheem Docs")
            .secret(DOCS_SECRET)
            .redirect_uri("https://rp.example/callback")
            .auth_method("client_secret_post")
            .require_pkce()
            .skip_consent()
            .extra_claim("quota", "5 GB"),
        ClientSpec::new("bheem-mail")
            .name("Bheem Mail")
            .secret(MAIL_SECRET)
            .redirect_uri(MAIL_UI)
            .auth_method("client_secret_post")
            .refresh_without_offline_access()
            .skip_consent()
            .role_claim("mailcow_template", "admin", "Bheem admins")
            .role_claim("mailcow_template", "*", "Bheem default"),
        ClientSpec::new("bheem-meet")
            .name("Bheem Meet")
            .auth_method("none")
            .redirect_uri("https://rp.example/callback")
            .skip_consent(),
    ]
}

on_both_backends!(
    nextcloud_logs_in_with_post_auth_pkce_and_claims_and_validates_as_user_oidc_does,
    nextcloud_refetches_the_jwks_after_a_key_rotation_and_old_tokens_still_verify,
    mailcow_logs_in_without_discovery_and_is_logged_out_when_its_refresh_token_dies,
    meet_logs_in_as_a_public_client_with_pkce_and_gets_company_scoped_tokens,
);

async fn nextcloud_logs_in_with_post_auth_pkce_and_claims_and_validates_as_user_oidc_does(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .clients(workspace_apps())
        .start_sso()
        .await
    else {
        return;
    };
    // user_oidc reads these from discovery before deciding how to talk.
    assert!(sso
        .metadata
        .token_endpoint_auth_methods_supported()
        .unwrap()
        .iter()
        .any(|m| m.as_ref() == "client_secret_post"));
    let rp = sso
        .rp("bheem-docs", Some(DOCS_SECRET))
        .set_auth_type(AuthType::RequestBody);
    let claims =
        r#"{"id_token":{"quota":null,"groups":null},"userinfo":{"quota":null,"groups":null}}"#;
    let request = AuthRequest::build(&rp, &["email", "profile"], true, &[("claims", claims)]);
    let browser = sso.browser();
    let landing = browser.visit(request.url.as_str()).await;
    let tokens = sso
        .finish_login(&browser, &rp, &request, &landing, "alice")
        .await;
    let id_token = tokens.id_token().unwrap();
    // The library checks signature, kid, alg, iss, aud, azp, exp and nonce.
    id_token
        .claims(&rp.id_token_verifier(), &request.nonce)
        .expect("user_oidc would accept it");
    let raw = id_token.to_string();
    let header: Value = {
        use base64::Engine;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(raw.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert!(header["kid"].is_string(), "user_oidc requires kid");
    assert_eq!(header["alg"], "RS256");
    let claims = jwt_payload(&raw);
    assert_eq!(
        claims["preferred_username"], "alice",
        "the uid user_oidc maps"
    );
    assert_eq!(claims["quota"], "5 GB");
    assert_eq!(
        claims["groups"],
        serde_json::json!([
            format!("company-{}", ACME),
            format!("company-{}-employee", ACME)
        ])
    );
    assert!(claims["sid"].is_string(), "kept for back-channel logout");
    // Bearer validation on Nextcloud's APIs: a JWT access token whose aud is the client.
    let access = jwt_payload(tokens.access_token().secret());
    assert_eq!(access["aud"], "bheem-docs");
    let info = sso.userinfo_json(tokens.access_token().secret()).await;
    assert_eq!(info["quota"], "5 GB");
}

async fn nextcloud_refetches_the_jwks_after_a_key_rotation_and_old_tokens_still_verify(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .clients(workspace_apps())
        .start_sso()
        .await
    else {
        return;
    };
    let rp = sso
        .rp("bheem-docs", Some(DOCS_SECRET))
        .set_auth_type(AuthType::RequestBody);
    let before = sso.sign_in(&sso.browser(), &rp, &[]).await.id_token();
    // user_oidc caches the JWKS; the provider rotates.
    let cached: CoreJsonWebKeySet = sso
        .h
        .app
        .get("/api/v1/sso/jwks")
        .await
        .json()
        .await
        .unwrap();
    // At once (`keys rotate --now`): the case of a key the RP has not cached.
    sso.h.app.rotate_keys(true).await;
    let after = sso.sign_in(&sso.browser(), &rp, &[]).await;
    let new_kid = jsonwebtoken::decode_header(&after.id_token())
        .unwrap()
        .kid
        .unwrap();
    let old_kid = jsonwebtoken::decode_header(&before).unwrap().kid.unwrap();
    assert_ne!(new_kid, old_kid);
    assert!(
        !cached
            .keys()
            .iter()
            .any(|k| k.key_id().map(|id| id.as_str()) == Some(new_kid.as_str())),
        "not in the cache"
    );
    // On the signature failure it refetches once, and both tokens verify with what it gets.
    let refetched = CoreProviderMetadata::discover_async(
        IssuerUrl::new(sso.h.app.base.clone()).unwrap(),
        &sso.http,
    )
    .await
    .unwrap();
    let rp = openidconnect::core::CoreClient::from_provider_metadata(
        refetched,
        openidconnect::ClientId::new("bheem-docs".into()),
        Some(openidconnect::ClientSecret::new(DOCS_SECRET.into())),
    );
    after
        .tokens
        .id_token()
        .unwrap()
        .claims(&rp.id_token_verifier(), &after.request.nonce)
        .expect("new key verifies");
    let old: openidconnect::core::CoreIdToken = before.parse().unwrap();
    old.claims(
        &rp.id_token_verifier(),
        |_: Option<&openidconnect::Nonce>| Ok(()),
    )
    .expect("old key still published");
}

/// Mailcow: no discovery, no PKCE, no ID-token validation; client_secret_post; reads userinfo.
async fn mailcow_logs_in_without_discovery_and_is_logged_out_when_its_refresh_token_dies(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .clients(workspace_apps())
        .start_sso()
        .await
    else {
        return;
    };
    let http = reqwest::Client::new();
    let token_url = sso.url("/api/v1/sso/token");
    // The admin's "test connection".
    assert_eq!(
        http.request(reqwest::Method::OPTIONS, &token_url)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let mut authorize = url::Url::parse(&sso.url("/api/v1/sso/authorize")).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", "bheem-mail"),
        ("redirect_uri", MAIL_UI),
        ("scope", "openid profile email mailcow_template"),
        ("state", "mc-state"),
        ("approval_prompt", "auto"),
    ]);
    let browser = sso.browser();
    let landing = browser.visit(authorize.as_str()).await;
    let callback = browser
        .submit_login(landing.page(), "alice@acme.example", PASSWORD)
        .await
        .callback();
    let q = query(&callback);
    assert_eq!(q["state"], "mc-state");
    let tokens: Value = http
        .post(&token_url)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", MAIL_UI),
            ("client_id", "bheem-mail"),
            ("client_secret", MAIL_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut refresh = tokens["refresh_token"]
        .as_str()
        .expect("Mailcow needs a refresh token")
        .to_owned();
    // Every page load: refresh, then userinfo.
    for _ in 0..3 {
        let refreshed = http
            .post(&token_url)
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("client_id", "bheem-mail"),
                ("client_secret", MAIL_SECRET),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(refreshed.status(), 200);
        let refreshed: Value = refreshed.json().await.unwrap();
        refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
        let info: Value = http
            .get(sso.url("/api/v1/sso/userinfo"))
            .bearer_auth(refreshed["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["email"], "alice@acme.example", "the mailbox name");
        assert_eq!(info["mailcow_template"], "Bheem default");
    }
    // The user logs out at the provider; Mailcow's next page load fails to refresh.
    browser
        .confirm_logout(browser.visit(&sso.url("/api/v1/sso/logout")).await.page())
        .await;
    let next = http
        .post(&token_url)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", "bheem-mail"),
            ("client_secret", MAIL_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 400);
    assert_eq!(
        next.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

async fn meet_logs_in_as_a_public_client_with_pkce_and_gets_company_scoped_tokens(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .clients(workspace_apps())
        .start_sso()
        .await
    else {
        return;
    };
    let rp = sso.rp("bheem-meet", None);
    // Without PKCE it gets no code.
    let bare = AuthRequest::build(&rp, &[], false, &[]);
    assert_eq!(
        query(&sso.browser().visit(bare.url.as_str()).await.callback())["error"],
        "invalid_request"
    );
    let sign_in = sso
        .sign_in(&sso.browser(), &rp, &["profile", "company"])
        .await;
    let access = jwt_payload(&sign_in.access_token());
    assert_eq!(access["company_id"], ACME);
    assert_eq!(access["client_id"], "bheem-meet");
    let info = sso.userinfo_json(&sign_in.access_token()).await;
    assert_eq!(info["role"], "employee");
    assert_eq!(info["company_id"], ACME);
}
