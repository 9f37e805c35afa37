//! Token revocation (RFC 7009): a refresh token takes its family and their access tokens with
//! it; only the client a token was issued to can revoke it.

use openidconnect::{OAuth2TokenResponse, RefreshToken};

use crate::on_both_backends;
use crate::support::{Backend, Sso, TestApp, SECRET};

on_both_backends!(
    revoking_a_refresh_token_revokes_its_family_and_access_tokens,
    revoking_an_access_token_ends_it_and_other_clients_cannot_revoke_it,
);

async fn revoke(sso: &Sso, client: (&str, &str), token: &str) -> u16 {
    reqwest::Client::new()
        .post(sso.url("/api/v1/sso/revoke"))
        .basic_auth(client.0, Some(client.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn revoking_a_refresh_token_revokes_its_family_and_access_tokens(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let sign_in = sso.sign_in(&sso.browser(), &rp, &["offline_access"]).await;
    let refreshed = rp
        .exchange_refresh_token(&RefreshToken::new(sign_in.refresh_token().unwrap()))
        .unwrap()
        .request_async(&sso.http)
        .await
        .unwrap();
    let current = refreshed.refresh_token().unwrap().secret().clone();
    assert_eq!(revoke(&sso, ("rp", SECRET), &current).await, 200);
    assert_eq!(sso.introspect(&current).await["active"], false);
    assert_eq!(
        sso.userinfo_status(refreshed.access_token().secret()).await,
        401
    );
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 401);
    // Unknown tokens are answered 200 too (RFC 7009 §2.2).
    assert_eq!(revoke(&sso, ("rp", SECRET), "unknown").await, 200);
}

async fn revoking_an_access_token_ends_it_and_other_clients_cannot_revoke_it(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let sign_in = sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    let token = sign_in.access_token();
    assert_eq!(
        revoke(&sso, ("rp2", &format!("{SECRET}-two")), &token).await,
        200
    );
    assert_eq!(
        sso.userinfo_status(&token).await,
        200,
        "another client's revocation must change nothing"
    );
    assert_eq!(
        revoke(&sso, ("rp", "wrong-secret-0123456789"), &token).await,
        401
    );
    assert_eq!(sso.userinfo_status(&token).await, 200);
    assert_eq!(revoke(&sso, ("rp", SECRET), &token).await, 200);
    assert_eq!(sso.userinfo_status(&token).await, 401);
    assert_eq!(sso.introspect(&token).await["active"], false);
}
