//! Refresh tokens and PKCE.

use openidconnect::{OAuth2TokenResponse, RefreshToken, TokenResponse as _};

use crate::on_both_backends;
use crate::support::{jwt_payload, Backend, TestApp, SECRET};

on_both_backends!(
    refresh_tokens_work_and_are_bound_to_their_client,
    s256_pkce_works_for_a_public_client,
);

async fn refresh_tokens_work_and_are_bound_to_their_client(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let no_offline = sso.sign_in(&sso.browser(), &rp, &[]).await;
    assert!(
        no_offline.refresh_token().is_none(),
        "refresh tokens need offline_access"
    );
    let sign_in = sso
        .sign_in(&sso.browser(), &rp, &["offline_access", "email"])
        .await;
    let refresh = sign_in.refresh_token().unwrap();

    let other = sso.rp("rp2", Some(&format!("{SECRET}-two")));
    assert!(other
        .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
        .unwrap()
        .request_async(&sso.http)
        .await
        .is_err());

    let refreshed = rp
        .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
        .unwrap()
        .request_async(&sso.http)
        .await
        .unwrap();
    let new_refresh = refreshed.refresh_token().expect("rotated").secret().clone();
    assert_ne!(new_refresh, refresh);
    assert_eq!(
        sso.userinfo_status(refreshed.access_token().secret()).await,
        200
    );
    let id = jwt_payload(&refreshed.id_token().expect("a new ID token").to_string());
    assert_eq!(id["sub"], sso.alice.id.to_string());
    // Narrowing the scope is allowed, widening is not.
    let narrowed = sso
        .token_request(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &new_refresh),
                ("scope", "openid"),
            ],
            Some(("rp", SECRET)),
        )
        .await;
    assert_eq!(narrowed.status(), 200);
    let narrowed: serde_json::Value = narrowed.json().await.unwrap();
    assert_eq!(narrowed["scope"], "openid");
    let widened = sso
        .token_request(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", narrowed["refresh_token"].as_str().unwrap()),
                ("scope", "openid email profile"),
            ],
            Some(("rp", SECRET)),
        )
        .await;
    assert_eq!(widened.status(), 400);
    assert_eq!(
        widened.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_scope"
    );
}

async fn s256_pkce_works_for_a_public_client(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.rp("public-rp", None);
    let sign_in = sso.sign_in(&sso.browser(), &rp, &["email"]).await;
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 200);
}
