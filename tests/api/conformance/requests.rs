//! The authorization request itself: its redirect URI, its form, request objects, `claims`.

use openidconnect::{OAuth2TokenResponse, TokenResponse as _};

use super::userinfo_json;
use crate::on_both_backends;
use crate::support::{
    jwt_payload, query, AuthRequest, Backend, Landing, TestApp, ACME, PASSWORD, SECRET,
};

on_both_backends!(
    parameter_order_does_not_matter,
    unregistered_redirect_uri_gets_an_error_page_and_no_redirect,
    missing_redirect_uri_with_several_registered_gets_an_error_page,
    authorization_request_may_be_a_form_post,
    request_and_request_uri_are_refused_with_their_errors,
    claims_parameter_is_honoured,
    claims_parameter_releases_only_what_a_consenting_user_granted,
);

async fn parameter_order_does_not_matter(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let request = AuthRequest::new(&rp, &["email"]);
    let mut url = request.url.clone();
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    pairs.reverse();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let browser = sso.browser();
    let landing = browser.visit(url.as_str()).await;
    sso.finish_login(&browser, &rp, &request, &landing, "alice")
        .await;
}

async fn unregistered_redirect_uri_gets_an_error_page_and_no_redirect(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.rp("rp", Some(SECRET)).set_redirect_uri(
        openidconnect::RedirectUrl::new("https://evil.example/callback".into()).unwrap(),
    );
    let request = AuthRequest::new(&rp, &[]);
    let response = sso
        .browser()
        .http
        .get(request.url.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let body = response.text().await.unwrap();
    assert!(body.contains("not registered"), "{body}");
}

async fn missing_redirect_uri_with_several_registered_gets_an_error_page(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let url = format!(
        "{}?client_id=multi-rp&response_type=code&scope=openid&state=s1",
        sso.url("/api/v1/sso/authorize")
    );
    let response = sso.browser().http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

async fn authorization_request_may_be_a_form_post(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let request = AuthRequest::new(&rp, &["email"]);
    let form: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let browser = sso.browser();
    let landing = browser.post(&sso.url("/api/v1/sso/authorize"), &form).await;
    sso.finish_login(&browser, &rp, &request, &landing, "alice")
        .await;
}

async fn request_and_request_uri_are_refused_with_their_errors(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    for (param, error) in [
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
    ] {
        let request = AuthRequest::build(&rp, &[], true, &[(param, "eyJhbGciOiJub25lIn0.e30.")]);
        let q = query(&sso.browser().visit(request.url.as_str()).await.callback());
        assert_eq!(q["error"], error);
        assert_eq!(q["state"], *request.state.secret());
    }
}

async fn claims_parameter_is_honoured(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let claims = r#"{"id_token":{"email":{"essential":true}},"userinfo":{"name":null,"preferred_username":null}}"#;
    let request = AuthRequest::build(&rp, &[], true, &[("claims", claims)]);
    let browser = sso.browser();
    let landing = browser.visit(request.url.as_str()).await;
    let tokens = sso
        .finish_login(&browser, &rp, &request, &landing, "alice")
        .await;
    let id = jwt_payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(id["email"], "alice@acme.example");
    assert!(id.get("name").is_none());
    let info = userinfo_json(&sso, tokens.access_token().secret()).await;
    assert_eq!(info["name"], "Name of alice@acme.example");
    assert_eq!(info["preferred_username"], "alice");
    assert!(info.get("email").is_none(), "{info}");
}

/// A client that asks for consent gets, by name, only claims that a granted scope covers: the
/// user consented to scopes, not to whatever `claims` lists. A first-party client that skips
/// consent still gets what it names (`claims_parameter_is_honoured` above).
async fn claims_parameter_releases_only_what_a_consenting_user_granted(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso
        .rp("consent-rp", Some(SECRET))
        .set_auth_type(openidconnect::AuthType::RequestBody);
    let claims = r#"{"userinfo":{"email":null,"name":null},"id_token":{"email":null,"name":null}}"#;
    let browser = sso.browser();
    for (scopes, email_released) in [(&[][..], false), (&["email"][..], true)] {
        let request = AuthRequest::build(&rp, scopes, true, &[("claims", claims)]);
        let landing = browser.visit(request.url.as_str()).await;
        let landing = if landing.is_login_page() {
            browser
                .submit_login(landing.page(), "alice", PASSWORD)
                .await
        } else {
            landing
        };
        let callback = match landing {
            Landing::Callback(url) => url,
            consent => browser
                .submit_consent(consent.page(), "allow")
                .await
                .callback(),
        };
        let tokens = sso
            .exchange(&rp, request.code_from(&callback), request.verifier_secret())
            .await
            .unwrap();
        let info = userinfo_json(&sso, tokens.access_token().secret()).await;
        let id = jwt_payload(&tokens.id_token().unwrap().to_string());
        for claims in [&info, &id] {
            assert!(claims.get("name").is_none(), "{scopes:?}: {claims}");
            assert_eq!(
                claims.get("email").is_some(),
                email_released,
                "{scopes:?}: {claims}"
            );
            assert_eq!(claims["company_id"], ACME);
        }
    }
}
