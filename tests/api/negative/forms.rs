//! The hosted forms.

use super::helpers::count;
use crate::on_both_backends;
use crate::support::{input_value, AuthRequest, Backend, TestApp, PASSWORD, SECRET};

on_both_backends!(
    login_form_without_the_right_csrf_token_is_refused_and_logs_no_one_in,
    consent_form_without_the_right_csrf_token_is_refused_and_grants_nothing,
);

async fn login_form_without_the_right_csrf_token_is_refused_and_logs_no_one_in(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    let request = AuthRequest::new(&sso.default_rp(), &[]);
    let login = browser.visit(request.url.as_str()).await;
    let req = input_value(login.page(), "req").unwrap();
    // A token that is genuine, but belongs to another browser's session.
    let other = sso.browser();
    let elsewhere = other
        .visit(AuthRequest::new(&sso.default_rp(), &[]).url.as_str())
        .await;
    let foreign_csrf = input_value(elsewhere.page(), "csrf_token").unwrap();

    for csrf in [None, Some("wrong"), Some(""), Some(foreign_csrf.as_str())] {
        let mut form = vec![
            ("req", req.as_str()),
            ("login", "alice"),
            ("password", PASSWORD),
        ];
        form.extend(csrf.map(|c| ("csrf_token", c)));
        let landing = browser.post(&sso.url("/login"), &form).await;
        assert_eq!(landing.status(), 403, "csrf {csrf:?}: {landing:?}");
    }

    assert_eq!(count(&sso, "sso_sessions").await, 0);
    let again = browser
        .visit(AuthRequest::new(&sso.default_rp(), &[]).url.as_str())
        .await;
    assert!(again.is_login_page(), "{again:?}");
    // The pending request was not used up: the real form still completes it.
    let callback = browser
        .submit_login(login.page(), "alice", PASSWORD)
        .await
        .callback();
    request.code_from(&callback);
}

async fn consent_form_without_the_right_csrf_token_is_refused_and_grants_nothing(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    let rp = sso.rp("consent-rp", Some(SECRET));
    let request = AuthRequest::new(&rp, &["email"]);
    let login = browser.visit(request.url.as_str()).await;
    let pre_login_csrf = input_value(login.page(), "csrf_token").unwrap();
    let consent = browser.submit_login(login.page(), "alice", PASSWORD).await;
    assert!(consent.page().contains("name=\"decision\""), "{consent:?}");
    let req = input_value(consent.page(), "req").unwrap();

    // The token seen before login was replaced at login, so it no longer counts.
    for csrf in [None, Some("wrong"), Some(pre_login_csrf.as_str())] {
        let mut form = vec![("req", req.as_str()), ("decision", "allow")];
        form.extend(csrf.map(|c| ("csrf_token", c)));
        let landing = browser.post(&sso.url("/consent"), &form).await;
        assert_eq!(landing.status(), 403, "csrf {csrf:?}: {landing:?}");
    }

    assert_eq!(count(&sso, "consents").await, 0);
    assert_eq!(count(&sso, "authorization_codes").await, 0);
    let again = browser
        .visit(AuthRequest::new(&rp, &["email"]).url.as_str())
        .await;
    assert!(
        again.page().contains("name=\"decision\""),
        "still asks: {again:?}"
    );
    // The user is still signed in and the original question can still be answered.
    let callback = browser
        .submit_consent(consent.page(), "allow")
        .await
        .callback();
    request.code_from(&callback);
}
