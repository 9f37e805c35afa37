//! RP-initiated logout.

use openidconnect::RefreshToken;

use crate::on_both_backends;
use crate::support::{
    jwt_payload, query, AuthRequest, Backend, Landing, Sso, TestApp, CALLBACK, LOGOUT_RETURN,
};

on_both_backends!(
    logout_redirects_to_the_registered_uri_with_state,
    logout_never_redirects_to_an_unregistered_uri,
    logout_never_redirects_with_a_tampered_or_foreign_id_token_hint,
    logout_without_parameters_confirms_and_shows_the_logged_out_page,
    after_logout_prompt_none_fails_and_the_sessions_tokens_are_dead,
);

fn logout_url(sso: &Sso, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&sso.url("/api/v1/sso/logout")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

async fn logout_redirects_to_the_registered_uri_with_state(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    let sign_in = sso.sign_in(&browser, &sso.default_rp(), &[]).await;
    let hint = sign_in.id_token();
    let landing = browser
        .visit(&logout_url(
            &sso,
            &[
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", LOGOUT_RETURN),
                ("state", "bye-1"),
            ],
        ))
        .await;
    let back = landing.callback();
    assert_eq!(back.as_str().split('?').next(), Some(LOGOUT_RETURN));
    assert_eq!(query(&back)["state"], "bye-1");
}

async fn logout_never_redirects_to_an_unregistered_uri(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    let sign_in = sso.sign_in(&browser, &sso.default_rp(), &[]).await;
    let hint = sign_in.id_token();
    for uri in [
        "https://evil.example/",
        "https://rp.example/signed-out/extra",
        CALLBACK,
    ] {
        let landing = browser
            .visit(&logout_url(
                &sso,
                &[("id_token_hint", &hint), ("post_logout_redirect_uri", uri)],
            ))
            .await;
        assert!(
            matches!(landing, Landing::Page { status: 400, .. }),
            "{uri}: {landing:?}"
        );
    }
    // Without a client to check it against, no URI can be trusted.
    let landing = browser
        .visit(&logout_url(
            &sso,
            &[("post_logout_redirect_uri", LOGOUT_RETURN)],
        ))
        .await;
    assert!(
        matches!(landing, Landing::Page { status: 400, .. }),
        "{landing:?}"
    );
    // Still logged in: none of those logged out.
    let request = AuthRequest::build(&sso.default_rp(), &[], true, &[("prompt", "none")]);
    assert!(query(&browser.visit(request.url.as_str()).await.callback()).contains_key("code"));
}

async fn logout_never_redirects_with_a_tampered_or_foreign_id_token_hint(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    let sign_in = sso.sign_in(&browser, &sso.default_rp(), &[]).await;
    let hint = sign_in.id_token();
    let mut parts: Vec<String> = hint.split('.').map(str::to_owned).collect();
    let mut payload = jwt_payload(&hint);
    payload["sub"] = "someone-else".into();
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
    let tampered = parts.join(".");
    let landing = browser
        .visit(&logout_url(
            &sso,
            &[
                ("id_token_hint", &tampered),
                ("post_logout_redirect_uri", LOGOUT_RETURN),
            ],
        ))
        .await;
    assert!(
        matches!(landing, Landing::Page { status: 400, .. }),
        "{landing:?}"
    );

    // A hint from another provider: a token signed with another key.
    let Some(other) = TestApp::builder()
        .backend(Backend::Sqlite)
        .start_sso()
        .await
    else {
        return;
    };
    let foreign = other
        .sign_in(&other.browser(), &other.default_rp(), &[])
        .await
        .id_token();
    let landing = browser
        .visit(&logout_url(
            &sso,
            &[
                ("id_token_hint", &foreign),
                ("post_logout_redirect_uri", LOGOUT_RETURN),
            ],
        ))
        .await;
    assert!(
        matches!(landing, Landing::Page { status: 400, .. }),
        "{landing:?}"
    );
}

async fn logout_without_parameters_confirms_and_shows_the_logged_out_page(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    sso.sign_in(&browser, &sso.default_rp(), &[]).await;
    let confirm = browser.visit(&sso.url("/api/v1/sso/logout")).await;
    assert!(
        confirm.page().contains("name=\"confirm\""),
        "asks first: {}",
        confirm.page()
    );
    let done = browser.confirm_logout(confirm.page()).await;
    assert!(done.page().contains("signed out"), "{}", done.page());
}

async fn after_logout_prompt_none_fails_and_the_sessions_tokens_are_dead(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    let sign_in = sso.sign_in(&browser, &rp, &["offline_access"]).await;
    let landing = browser
        .visit(&logout_url(&sso, &[("id_token_hint", &sign_in.id_token())]))
        .await;
    assert!(landing.page().contains("signed out"));
    let request = AuthRequest::build(&rp, &[], true, &[("prompt", "none")]);
    assert_eq!(
        query(&browser.visit(request.url.as_str()).await.callback())["error"],
        "login_required"
    );
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 401);
    assert_eq!(
        sso.introspect(&sign_in.access_token()).await["active"],
        false
    );
    let refresh = sign_in.refresh_token().unwrap();
    assert!(rp
        .exchange_refresh_token(&RefreshToken::new(refresh))
        .unwrap()
        .request_async(&sso.http)
        .await
        .is_err());
}
