//! Consent: asked once for a client and its scopes and remembered, asked again for a new scope
//! or `prompt=consent`; a denial is `access_denied` and remembers nothing.

use crate::on_both_backends;
use crate::support::{query, AuthRequest, Backend, TestApp, PASSWORD, SECRET};

on_both_backends!(
    consent_is_asked_once_and_remembered,
    denied_consent_returns_access_denied,
    prompt_consent_asks_again_and_prompt_none_without_consent_is_consent_required,
);

async fn consent_is_asked_once_and_remembered(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso
        .rp("consent-rp", Some(SECRET))
        .set_auth_type(openidconnect::AuthType::RequestBody);
    let browser = sso.browser();
    let request = AuthRequest::new(&rp, &["email", "profile"]);
    let landing = browser.visit(request.url.as_str()).await;
    let consent = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await;
    let page = consent.page();
    assert!(
        page.contains("Consenting Party") && page.contains("See your email address"),
        "{page}"
    );
    let callback = browser.submit_consent(page, "allow").await.callback();
    sso.exchange(&rp, request.code_from(&callback), request.verifier_secret())
        .await
        .unwrap();
    // Same scopes again: no question; a subset: no question.
    for scopes in [&["email", "profile"][..], &["email"][..]] {
        let again = AuthRequest::new(&rp, scopes);
        let callback = browser.visit(again.url.as_str()).await.callback();
        sso.exchange(&rp, again.code_from(&callback), again.verifier_secret())
            .await
            .unwrap();
    }
    // A new scope asks again.
    let wider = AuthRequest::new(&rp, &["email", "profile", "offline_access"]);
    assert!(browser
        .visit(wider.url.as_str())
        .await
        .page()
        .contains("name=\"decision\""));
}

async fn denied_consent_returns_access_denied(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.rp("consent-rp", Some(SECRET));
    let browser = sso.browser();
    let request = AuthRequest::new(&rp, &["email"]);
    let landing = browser.visit(request.url.as_str()).await;
    let consent = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await;
    let q = query(
        &browser
            .submit_consent(consent.page(), "deny")
            .await
            .callback(),
    );
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], *request.state.secret());
    // Nothing remembered: the next request asks again.
    let again = AuthRequest::new(&rp, &["email"]);
    assert!(browser
        .visit(again.url.as_str())
        .await
        .page()
        .contains("name=\"decision\""));
}

async fn prompt_consent_asks_again_and_prompt_none_without_consent_is_consent_required(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.rp("consent-rp", Some(SECRET));
    let browser = sso.browser();
    // Logged in through another client, no consent for this one yet.
    sso.sign_in(&browser, &sso.default_rp(), &[]).await;
    let silent = AuthRequest::build(&rp, &["email"], true, &[("prompt", "none")]);
    assert_eq!(
        query(&browser.visit(silent.url.as_str()).await.callback())["error"],
        "consent_required"
    );
    let first = AuthRequest::new(&rp, &["email"]);
    let page = browser.visit(first.url.as_str()).await;
    browser
        .submit_consent(page.page(), "allow")
        .await
        .callback();
    let forced = AuthRequest::build(&rp, &["email"], true, &[("prompt", "consent")]);
    assert!(browser
        .visit(forced.url.as_str())
        .await
        .page()
        .contains("name=\"decision\""));
}
