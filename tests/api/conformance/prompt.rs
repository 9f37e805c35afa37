//! `prompt`, `max_age`, `id_token_hint` and the other hints of the authorization request.

use openidconnect::TokenResponse as _;

use crate::on_both_backends;
use crate::support::{input_value, jwt_payload, query, AuthRequest, Backend, TestApp};

on_both_backends!(
    display_hints_locales_acr_and_unknown_parameters_cause_no_error,
    prompt_login_forces_a_fresh_login_and_auth_time_increases,
    prompt_none_without_a_session_redirects_with_login_required,
    prompt_none_with_a_session_succeeds_silently,
    max_age_1_forces_a_fresh_login,
    max_age_10000_does_not_force_a_login,
    id_token_hint_with_prompt_none_returns_the_same_sub,
);

async fn display_hints_locales_acr_and_unknown_parameters_cause_no_error(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let extra = [
        ("display", "page"),
        ("login_hint", "alice@acme.example"),
        ("ui_locales", "de en"),
        ("claims_locales", "de"),
        ("acr_values", "urn:mace:incommon:iap:silver"),
        ("approval_prompt", "auto"),
        ("unknown_parameter", "x"),
    ];
    let request = AuthRequest::build(&rp, &["email"], true, &extra);
    let browser = sso.browser();
    let landing = browser.visit(request.url.as_str()).await;
    // login_hint prefills the form.
    assert_eq!(
        input_value(landing.page(), "login").as_deref(),
        Some("alice@acme.example")
    );
    sso.finish_login(&browser, &rp, &request, &landing, "alice@acme.example")
        .await;
}

async fn prompt_login_forces_a_fresh_login_and_auth_time_increases(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    let first = sso.sign_in(&browser, &rp, &[]).await;
    let first_auth = jwt_payload(&first.id_token())["auth_time"]
        .as_i64()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let request = AuthRequest::build(&rp, &[], true, &[("prompt", "login")]);
    let landing = browser.visit(request.url.as_str()).await;
    assert!(
        landing.is_login_page(),
        "prompt=login must show the login page"
    );
    let tokens = sso
        .finish_login(&browser, &rp, &request, &landing, "alice")
        .await;
    let second_auth = jwt_payload(&tokens.id_token().unwrap().to_string())["auth_time"]
        .as_i64()
        .unwrap();
    assert!(second_auth > first_auth, "{second_auth} <= {first_auth}");
}

async fn prompt_none_without_a_session_redirects_with_login_required(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let request = AuthRequest::build(&sso.default_rp(), &[], true, &[("prompt", "none")]);
    let callback = sso.browser().visit(request.url.as_str()).await.callback();
    let q = query(&callback);
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], *request.state.secret());
}

async fn prompt_none_with_a_session_succeeds_silently(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    sso.sign_in(&browser, &rp, &[]).await;
    let request = AuthRequest::build(&rp, &[], true, &[("prompt", "none")]);
    let callback = browser.visit(request.url.as_str()).await.callback();
    sso.exchange(&rp, request.code_from(&callback), request.verifier_secret())
        .await
        .unwrap();
}

async fn max_age_1_forces_a_fresh_login(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    sso.sign_in(&browser, &rp, &[]).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let request = AuthRequest::build(&rp, &[], true, &[("max_age", "1")]);
    let landing = browser.visit(request.url.as_str()).await;
    assert!(
        landing.is_login_page(),
        "max_age=1 must ask for a fresh login"
    );
    let tokens = sso
        .finish_login(&browser, &rp, &request, &landing, "alice")
        .await;
    assert!(jwt_payload(&tokens.id_token().unwrap().to_string())["auth_time"].is_i64());
}

async fn max_age_10000_does_not_force_a_login(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    sso.sign_in(&browser, &rp, &[]).await;
    let request = AuthRequest::build(&rp, &[], true, &[("max_age", "10000")]);
    let callback = browser.visit(request.url.as_str()).await.callback();
    let tokens = sso
        .exchange(&rp, request.code_from(&callback), request.verifier_secret())
        .await
        .unwrap();
    assert!(jwt_payload(&tokens.id_token().unwrap().to_string())["auth_time"].is_i64());
}

async fn id_token_hint_with_prompt_none_returns_the_same_sub(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    let first = sso.sign_in(&browser, &rp, &[]).await;
    let hint = first.id_token();
    let request = AuthRequest::build(
        &rp,
        &[],
        true,
        &[("prompt", "none"), ("id_token_hint", &hint)],
    );
    let callback = browser.visit(request.url.as_str()).await.callback();
    let tokens = sso
        .exchange(&rp, request.code_from(&callback), request.verifier_secret())
        .await
        .unwrap();
    assert_eq!(
        jwt_payload(&tokens.id_token().unwrap().to_string())["sub"],
        jwt_payload(&hint)["sub"]
    );
}
