use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{IssuerUrl, JsonWebKey};

use crate::support::TestApp;

fn oidc_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn discovery_parses_with_openidconnect_and_matches_the_configuration() {
    let h = TestApp::builder().start().await.unwrap();
    let issuer = IssuerUrl::new(h.app.base.clone()).unwrap();
    // discover_async also checks that the document's issuer equals the one asked for, and
    // fetches and parses the JWKS.
    let metadata = CoreProviderMetadata::discover_async(issuer, &oidc_http())
        .await
        .unwrap();
    assert_eq!(metadata.issuer().as_str(), h.app.base);
    assert_eq!(metadata.jwks_uri().as_str(), h.app.url("/api/v1/sso/jwks"));
    assert_eq!(
        metadata.authorization_endpoint().as_str(),
        h.app.url("/api/v1/sso/authorize")
    );
    assert_eq!(
        metadata.id_token_signing_alg_values_supported(),
        &vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
    );
    let keys = metadata.jwks().keys();
    assert_eq!(keys.len(), 1);
    let active = h.app.signing_kid();
    assert_eq!(keys[0].key_id().map(|k| k.as_str()), Some(active.as_str()));
}

#[tokio::test]
async fn authorization_server_metadata_is_the_same_document() {
    let h = TestApp::builder().start().await.unwrap();
    let oidc = h.app.get("/.well-known/openid-configuration").await;
    assert_eq!(oidc.status(), 200);
    assert_eq!(oidc.headers()["cache-control"], "public, max-age=3600");
    let oidc: serde_json::Value = oidc.json().await.unwrap();
    let oauth: serde_json::Value = h
        .app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(oidc, oauth);
}

#[tokio::test]
async fn discovery_advertises_nothing_that_is_not_built() {
    let h = TestApp::builder().start().await.unwrap();
    let doc: serde_json::Value = h
        .app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let mut endpoints = 0;
    for (key, value) in doc.as_object().unwrap() {
        let Some(url) = value.as_str().filter(|v| v.starts_with("http")) else {
            continue;
        };
        if key == "issuer" {
            continue;
        }
        assert!(
            url.starts_with(&h.app.base),
            "{key} points outside the issuer: {url}"
        );
        // Every advertised endpoint is routed: whatever it answers to a bare GET or POST, it
        // is not "no such endpoint".
        let get = h.app.http.get(url).send().await.unwrap().status();
        let post = h.app.http.post(url).send().await.unwrap().status();
        assert!(get != 404 || post != 404, "{key} ({url}) is not served");
        endpoints += 1;
    }
    assert_eq!(endpoints, 7, "{doc}");
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["claims_parameter_supported"], true);
}

#[tokio::test]
async fn jwks_parses_and_every_key_has_kid_use_and_alg() {
    let h = TestApp::builder().start().await.unwrap();
    let response = h.app.get("/api/v1/sso/jwks").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let body = response.bytes().await.unwrap();
    let set: CoreJsonWebKeySet = serde_json::from_slice(&body).unwrap();
    assert!(!set.keys().is_empty());
    let raw: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for key in raw["keys"].as_array().unwrap() {
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "RS256");
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
        assert!(key.get("d").is_none(), "private part published: {key}");
    }
}

#[tokio::test]
async fn unknown_paths_are_a_json_404() {
    let h = TestApp::builder().start().await.unwrap();
    let response = h.app.get("/api/v1/sso/nope").await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}
