//! Token introspection (RFC 7662): what it says of live tokens, and only to an authenticated
//! confidential client.

use crate::on_both_backends;
use crate::support::{Backend, TestApp, ACME};

on_both_backends!(introspection_describes_live_tokens_and_needs_client_authentication);

async fn introspection_describes_live_tokens_and_needs_client_authentication(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let sign_in = sso
        .sign_in(&sso.browser(), &sso.default_rp(), &["offline_access"])
        .await;
    let access = sso.introspect(&sign_in.access_token()).await;
    assert_eq!(access["active"], true);
    assert_eq!(access["client_id"], "rp");
    assert_eq!(access["sub"], sso.alice.id.to_string());
    assert_eq!(access["company_id"], ACME);
    assert_eq!(access["username"], "alice");
    let refresh = sso.introspect(&sign_in.refresh_token().unwrap()).await;
    assert_eq!(refresh["active"], true);
    assert_eq!(refresh["token_type"], "refresh_token");
    assert_eq!(sso.introspect("not-a-token").await["active"], false);
    let anonymous = reqwest::Client::new()
        .post(sso.url("/api/v1/sso/introspect"))
        .form(&[("token", sign_in.access_token().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let public = reqwest::Client::new()
        .post(sso.url("/api/v1/sso/introspect"))
        .form(&[
            ("token", sign_in.access_token().as_str()),
            ("client_id", "public-rp"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 401);
}
