//! Redirect targets: RFC 6749 §4.1.2.1, never redirect to an unverified redirect_uri.

use url::Url;

use super::helpers::{authorize_url, count, error_page, header, signed_in};
use crate::on_both_backends;
use crate::support::{
    input_value, AuthRequest, Backend, TestApp, CALLBACK, LOGOUT_RETURN, OTHER_CALLBACK, SECRET,
};

on_both_backends!(
    unregistered_or_missing_redirect_uri_gets_an_error_page_and_no_redirect,
    redirect_uri_differing_from_the_registered_one_in_any_part_never_redirects,
    unregistered_post_logout_redirect_uri_never_redirects_and_keeps_the_session,
);

const EVIL: &str = "https://evil.example/callback";

async fn unregistered_or_missing_redirect_uri_gets_an_error_page_and_no_redirect(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    // Logged in, so a code is what a lax provider would hand to the attacker.
    let (browser, _) = signed_in(&sso).await;

    let unregistered = authorize_url(&sso, &[("client_id", "rp"), ("redirect_uri", EVIL)]);
    let body = error_page(browser.http.get(&unregistered).send().await.unwrap(), 400).await;
    assert!(body.contains("not registered"), "{body}");

    // multi-rp has two return addresses: which one is meant cannot be guessed.
    let missing = authorize_url(&sso, &[("client_id", "multi-rp")]);
    let body = error_page(browser.http.get(&missing).send().await.unwrap(), 400).await;
    assert!(body.contains("several return addresses"), "{body}");

    // Unknown client: nothing to check a redirect_uri against.
    let unknown = authorize_url(&sso, &[("client_id", "nobody"), ("redirect_uri", CALLBACK)]);
    error_page(browser.http.get(&unknown).send().await.unwrap(), 400).await;

    assert_eq!(
        count(&sso, "authorization_codes").await,
        1,
        "only the sign-in's own code"
    );
    // Both of multi-rp's addresses still work when named.
    for uri in [CALLBACK, OTHER_CALLBACK] {
        let rp = sso
            .rp("multi-rp", Some(SECRET))
            .set_redirect_uri(openidconnect::RedirectUrl::new(uri.into()).unwrap());
        let callback = browser
            .visit(AuthRequest::new(&rp, &[]).url.as_str())
            .await
            .callback();
        assert!(callback.as_str().starts_with(uri), "{callback}");
    }
}

async fn redirect_uri_differing_from_the_registered_one_in_any_part_never_redirects(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let (browser, _) = signed_in(&sso).await;
    let near_misses = [
        "https://rp.example/callback/",
        "https://rp.example/callback/extra",
        "https://rp.example/callback/../evil",
        "https://rp.example/callback?next=https://evil.example/",
        "https://rp.example/callback#https://evil.example/",
        "http://rp.example/callback",
        "HTTPS://rp.example/callback",
        "https://rp.example:8443/callback",
        "https://rp.example.evil.example/callback",
        "https://rp.example@evil.example/callback",
        "https://evil.example/https://rp.example/callback",
        "https://RP.example/callback",
        "javascript://rp.example/callback",
        "https://evil.example/callback",
    ];
    for uri in near_misses {
        let url = authorize_url(&sso, &[("client_id", "rp"), ("redirect_uri", uri)]);
        let response = browser.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{uri}");
        assert!(header(&response, "location").is_none(), "{uri} redirected");
    }
    assert_eq!(
        count(&sso, "authorization_codes").await,
        1,
        "only the sign-in's own code"
    );
}

async fn unregistered_post_logout_redirect_uri_never_redirects_and_keeps_the_session(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let (browser, sign_in) = signed_in(&sso).await;
    let hint = sign_in.id_token();
    let hint = hint.as_str();
    let extended = format!("{LOGOUT_RETURN}?next=https://evil.example/");
    let attempts: [&[(&str, &str)]; 5] = [
        &[
            ("client_id", "rp"),
            ("post_logout_redirect_uri", EVIL),
            ("id_token_hint", hint),
        ],
        &[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", extended.as_str()),
        ],
        &[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", CALLBACK),
        ],
        // rp's address, claimed for a client that registered none.
        &[
            ("client_id", "rp2"),
            ("post_logout_redirect_uri", LOGOUT_RETURN),
        ],
        // No client to check it against, so no address can be trusted.
        &[("post_logout_redirect_uri", LOGOUT_RETURN)],
    ];
    for params in attempts {
        let mut url = Url::parse(&sso.url("/api/v1/sso/logout")).unwrap();
        url.query_pairs_mut().extend_pairs(params);
        let response = browser.http.get(url.as_str()).send().await.unwrap();
        error_page(response, 400).await;
    }
    // The confirmation form checks its hidden fields again: a valid CSRF token does not make an
    // attacker's address acceptable.
    let page = browser.visit(&sso.url("/login")).await;
    let csrf = input_value(page.page(), "csrf_token").unwrap();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("confirm", "yes"),
        ("client_id", "rp"),
        ("post_logout_redirect_uri", EVIL),
    ];
    let response = browser
        .http
        .post(sso.url("/logout"))
        .form(&form)
        .send()
        .await
        .unwrap();
    error_page(response, 400).await;

    // Still signed in: the tokens work and the next request needs no login.
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 200);
    let request = AuthRequest::new(&sso.default_rp(), &[]);
    let callback = browser.visit(request.url.as_str()).await.callback();
    request.code_from(&callback);
}
