//! Oversized and malformed input.

use super::helpers::{
    authorize_url, code_for, code_form, count, error_at_callback, error_page, signed_in,
};
use crate::on_both_backends;
use crate::support::{AuthRequest, Backend, TestApp, PASSWORD, SECRET};

on_both_backends!(
    oversized_state_is_refused_with_invalid_request_and_no_code,
    oversized_body_is_refused_and_leaves_the_code_redeemable,
    malformed_authorization_parameters_are_refused,
    wrong_password_and_unknown_user_get_the_same_answer_and_no_session,
);

async fn oversized_state_is_refused_with_invalid_request_and_no_code(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let (browser, _) = signed_in(&sso).await;
    let state = "s".repeat(5000);
    let url = authorize_url(&sso, &[("client_id", "rp"), ("state", &state)]);
    let q = error_at_callback(browser.visit(&url).await);
    assert_eq!(q["error"], "invalid_request");
    assert!(
        !q.contains_key("state"),
        "an oversized state is not echoed back"
    );
    assert_eq!(
        count(&sso, "authorization_codes").await,
        1,
        "only the sign-in's own code"
    );
}

async fn oversized_body_is_refused_and_leaves_the_code_redeemable(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    let (request, code) = code_for(&browser, &rp, &[]).await;
    let verifier = request.verifier_secret().unwrap();
    let padding = "x".repeat(100 * 1024);
    let mut form = code_form(&code, &verifier);
    form.push(("padding", &padding));
    let status = sso
        .token_request(&form, Some(("rp", SECRET)))
        .await
        .status();
    assert!(matches!(status.as_u16(), 400 | 413), "{status}");
    let form = [
        ("csrf_token", "x"),
        ("login", "alice"),
        ("password", padding.as_str()),
    ];
    let status = browser
        .http
        .post(sso.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .status();
    assert!(matches!(status.as_u16(), 400 | 413), "{status}");

    assert_eq!(count(&sso, "access_tokens").await, 0);
    sso.exchange(&rp, code, Some(verifier)).await.unwrap();
}

async fn malformed_authorization_parameters_are_refused(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let (browser, _) = signed_in(&sso).await;

    // RFC 6749 §3.1: parameters must not repeat; which client was meant is unknowable.
    let repeated = format!(
        "{}&client_id=rp2",
        authorize_url(&sso, &[("client_id", "rp"), ("state", "s")])
    );
    error_page(browser.http.get(&repeated).send().await.unwrap(), 400).await;

    for (name, value) in [
        ("max_age", "-1"),
        ("max_age", "soon"),
        ("claims", "notjson"),
        ("claims", "[1,2]"),
        ("prompt", "none login"),
        ("prompt", "sometimes"),
    ] {
        let url = authorize_url(&sso, &[("client_id", "rp"), ("state", "s"), (name, value)]);
        let q = error_at_callback(browser.visit(&url).await);
        assert_eq!(q["error"], "invalid_request", "{name}={value}");
        assert_eq!(q["state"], "s");
    }
    assert_eq!(
        count(&sso, "authorization_codes").await,
        1,
        "only the sign-in's own code"
    );
}

async fn wrong_password_and_unknown_user_get_the_same_answer_and_no_session(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    let request = AuthRequest::new(&sso.default_rp(), &[]);
    let login = browser.visit(request.url.as_str()).await;

    let wrong_password = browser
        .submit_login(login.page(), "alice@acme.example", "not-her-password")
        .await;
    let unknown_user = browser
        .submit_login(login.page(), "nobody@acme.example", "not-her-password")
        .await;
    assert_eq!(wrong_password.status(), 401, "{wrong_password:?}");
    assert_eq!(unknown_user.status(), 401, "{unknown_user:?}");
    let message = alert(wrong_password.page());
    assert_eq!(message, alert(unknown_user.page()));
    let lower = message.to_lowercase();
    for telltale in [
        "not found",
        "no such",
        "unknown",
        "does not exist",
        "wrong password",
    ] {
        assert!(!lower.contains(telltale), "{message}");
    }
    // Apart from the login typed in, the two pages are the same page.
    assert_eq!(
        wrong_password.page().replace("alice@acme.example", "LOGIN"),
        unknown_user.page().replace("nobody@acme.example", "LOGIN"),
    );

    assert_eq!(count(&sso, "sso_sessions").await, 0);
    let again = browser
        .visit(AuthRequest::new(&sso.default_rp(), &[]).url.as_str())
        .await;
    assert!(again.is_login_page(), "{again:?}");
    let callback = browser
        .submit_login(wrong_password.page(), "alice", PASSWORD)
        .await
        .callback();
    request.code_from(&callback);
}

/// The message of the login page's alert.
fn alert(page: &str) -> String {
    let start = page.find("role=\"alert\">").expect("an alert") + "role=\"alert\">".len();
    page[start..start + page[start..].find("</p>").unwrap()].to_owned()
}
