//! Refused requests: each test shows the refusal in the protocol's own words, and that the
//! refusal changed nothing (the code still works, no token was issued, the session lives on,
//! the browser was not sent anywhere).

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bheem_sso::clock::Clock;
use openidconnect::core::CoreProviderMetadata;
use openidconnect::{IssuerUrl, PkceCodeChallenge};
use serde_json::Value;
use url::Url;

use crate::helpers::{AppOptions, Backend, Harness, TestApp, TestDb};
use crate::on_both_backends;
use crate::sso::{
    add_user, clients_toml, input_value, jwt_payload, query, AuthRequest, Browser, Landing, Rp,
    Sso, ACME, CALLBACK, LOGOUT_RETURN, OTHER_CALLBACK, PASSWORD, SECRET,
};

on_both_backends!(
    wrong_client_secret_is_refused_and_leaves_the_code_redeemable,
    malformed_basic_credentials_are_refused_and_leave_the_code_redeemable,
    unregistered_or_missing_redirect_uri_gets_an_error_page_and_no_redirect,
    redirect_uri_differing_from_the_registered_one_in_any_part_never_redirects,
    unregistered_post_logout_redirect_uri_never_redirects_and_keeps_the_session,
    wrong_pkce_verifier_is_refused_and_issues_nothing,
    pkce_cannot_be_dropped_or_added_after_the_authorization_request,
    plain_pkce_and_a_public_client_without_pkce_get_no_code,
    refused_code_exchange_leaves_the_code_to_its_client,
    replayed_code_is_refused_and_revokes_what_the_first_use_gave,
    expired_code_is_refused_and_issues_nothing,
    reused_refresh_token_revokes_its_whole_family,
    code_of_another_client_is_refused,
    refresh_token_of_another_client_is_refused_and_still_works_for_its_own,
    tampered_access_token_is_refused_at_userinfo,
    unsigned_or_other_algorithm_access_token_is_refused,
    access_token_signed_with_a_foreign_key_under_our_kid_is_refused,
    login_form_without_the_right_csrf_token_is_refused_and_logs_no_one_in,
    consent_form_without_the_right_csrf_token_is_refused_and_grants_nothing,
    oversized_state_is_refused_with_invalid_request_and_no_code,
    oversized_body_is_refused_and_leaves_the_code_redeemable,
    malformed_authorization_parameters_are_refused,
    wrong_password_and_unknown_user_get_the_same_answer_and_no_session,
);

const RP2_SECRET: &str = "rp-secret-0123456789abcdef-two";
const EVIL: &str = "https://evil.example/callback";

// ---------------------------------------------------------------------------------------------
// Client authentication at the token endpoint

async fn wrong_client_secret_is_refused_and_leaves_the_code_redeemable(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let rp = sso.default_rp();
    let (request, code) = code_for(&sso.browser(), &rp, &[]).await;
    let verifier = request.verifier_secret().unwrap();
    let form = code_form(&code, &verifier);

    let basic = sso.token_request(&form, Some(("rp", "wrong-secret"))).await;
    let challenge = header(&basic, "www-authenticate");
    assert_eq!(outcome(basic).await, Err((401, "invalid_client".into())));
    assert!(
        challenge.as_deref().is_some_and(|c| c.starts_with("Basic")),
        "a failed Basic authentication names its scheme (RFC 6749 §5.2): {challenge:?}"
    );

    let mut post = form.clone();
    post.extend([("client_id", "rp"), ("client_secret", "wrong-secret")]);
    assert_eq!(
        outcome(sso.token_request(&post, None).await).await,
        Err((401, "invalid_client".into()))
    );

    let unknown = sso.token_request(&form, Some(("nobody", SECRET))).await;
    assert_eq!(outcome(unknown).await, Err((401, "invalid_client".into())));
    assert_eq!(count(&sso, "access_tokens").await, 0);

    // The code is burnt only after the client has proved who it is.
    let tokens = sso.exchange(&rp, code, Some(verifier)).await.unwrap();
    assert_eq!(sso.userinfo_status(&tokens_access(&tokens)).await, 200);
}

async fn malformed_basic_credentials_are_refused_and_leave_the_code_redeemable(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let rp = sso.default_rp();
    let (request, code) = code_for(&sso.browser(), &rp, &[]).await;
    let verifier = request.verifier_secret().unwrap();
    let form = code_form(&code, &verifier);
    let no_colon = format!("Basic {}", base64_std("rp-without-a-secret"));
    // The bare scheme is a Basic attempt too, even with nothing after it.
    for authorization in ["Basic !!!not-base64!!!", no_colon.as_str(), "Basic"] {
        let response = reqwest::Client::new()
            .post(sso.url("/api/v1/sso/token"))
            .header("authorization", authorization)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(
            header(&response, "www-authenticate").is_some(),
            "RFC 6749 §5.2: a client that tried the Authorization header gets a challenge \
             ({authorization:?})"
        );
        assert_eq!(
            outcome(response).await,
            Err((401, "invalid_client".into())),
            "{authorization}"
        );
    }
    // Two methods at once is ambiguous, so it is refused too.
    let mut both = form.clone();
    both.push(("client_secret", SECRET));
    let response = sso.token_request(&both, Some(("rp", SECRET))).await;
    assert_eq!(outcome(response).await, Err((401, "invalid_client".into())));

    assert_eq!(count(&sso, "access_tokens").await, 0);
    sso.exchange(&rp, code, Some(verifier)).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Redirect targets: RFC 6749 §4.1.2.1, never redirect to an unverified redirect_uri

async fn unregistered_or_missing_redirect_uri_gets_an_error_page_and_no_redirect(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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

// ---------------------------------------------------------------------------------------------
// PKCE (RFC 7636) and the code's single use

async fn wrong_pkce_verifier_is_refused_and_issues_nothing(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let rp = sso.default_rp();
    let (_, code) = code_for(&sso.browser(), &rp, &["offline_access"]).await;
    let refused = sso.exchange(&rp, code, Some(other_verifier())).await;
    assert_eq!(refused.unwrap_err(), "invalid_grant");
    assert_eq!(count(&sso, "access_tokens").await, 0);
    assert_eq!(count(&sso, "refresh_tokens").await, 0);
}

async fn pkce_cannot_be_dropped_or_added_after_the_authorization_request(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let browser = sso.browser();
    // A challenge was sent: a public client's code without the verifier is worthless.
    let public = sso.rp("public-rp", None);
    let (_, code) = code_for(&browser, &public, &[]).await;
    assert_eq!(
        sso.exchange(&public, code, None).await.unwrap_err(),
        "invalid_grant"
    );
    // The same for a confidential client.
    let rp = sso.default_rp();
    let (_, code) = code_for(&browser, &rp, &[]).await;
    assert_eq!(
        sso.exchange(&rp, code, None).await.unwrap_err(),
        "invalid_grant"
    );

    // No challenge was sent: a verifier now is a downgrade attempt (RFC 9700 §4.8.2).
    let request = AuthRequest::build(&rp, &[], false, &[]);
    let code = request.code_from(&browser.visit(request.url.as_str()).await.callback());
    let refused = sso.exchange(&rp, code, Some(other_verifier())).await;
    assert_eq!(refused.unwrap_err(), "invalid_grant");

    assert_eq!(count(&sso, "access_tokens").await, 0);
}

async fn plain_pkce_and_a_public_client_without_pkce_get_no_code(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let (browser, _) = signed_in(&sso).await;
    let rp = sso.default_rp();
    let challenge = other_verifier();
    for method in [Some("plain"), None] {
        let mut extra = vec![("code_challenge", challenge.as_str())];
        extra.extend(method.map(|m| ("code_challenge_method", m)));
        let request = AuthRequest::build(&rp, &[], false, &extra);
        let q = error_at_callback(browser.visit(request.url.as_str()).await);
        assert_eq!(q["error"], "invalid_request", "method {method:?}");
        assert_eq!(q["state"], *request.state.secret());
    }
    let public = sso.rp("public-rp", None);
    let request = AuthRequest::build(&public, &[], false, &[]);
    let q = error_at_callback(browser.visit(request.url.as_str()).await);
    assert_eq!(q["error"], "invalid_request");

    assert_eq!(
        count(&sso, "authorization_codes").await,
        1,
        "only the sign-in's own code"
    );
}

/// A refused exchange is a refused request: it must not use the code up. Otherwise any
/// registered client, or anyone who caught the code without its verifier, can spend a user's
/// code, and the rightful client's exchange then looks like a replay.
async fn refused_code_exchange_leaves_the_code_to_its_client(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let browser = sso.browser();
    let rp = sso.default_rp();
    let rp2 = sso.rp("rp2", Some(RP2_SECRET));
    let mut used_up = Vec::new();

    let (request, code) = code_for(&browser, &rp, &[]).await;
    let refused = sso
        .exchange(&rp2, code.clone(), request.verifier_secret())
        .await;
    assert_eq!(refused.unwrap_err(), "invalid_grant");
    if let Err(e) = sso.exchange(&rp, code, request.verifier_secret()).await {
        used_up.push(format!("presented by another client, then: {e}"));
    }

    let (request, code) = code_for(&browser, &rp, &[]).await;
    let refused = sso
        .exchange(&rp, code.clone(), Some(other_verifier()))
        .await;
    assert_eq!(refused.unwrap_err(), "invalid_grant");
    if let Err(e) = sso.exchange(&rp, code, request.verifier_secret()).await {
        used_up.push(format!("presented with a wrong verifier, then: {e}"));
    }

    let (request, code) = code_for(&browser, &rp, &[]).await;
    let verifier = request.verifier_secret().unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", OTHER_CALLBACK),
        ("code_verifier", verifier.as_str()),
    ];
    let refused = sso.token_request(&form, Some(("rp", SECRET))).await;
    assert_eq!(outcome(refused).await, Err((400, "invalid_grant".into())));
    if let Err(e) = sso.exchange(&rp, code, Some(verifier)).await {
        used_up.push(format!("presented with another redirect_uri, then: {e}"));
    }

    assert!(
        used_up.is_empty(),
        "a refused exchange used up the code: {used_up:#?}"
    );
}

async fn replayed_code_is_refused_and_revokes_what_the_first_use_gave(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let rp = sso.default_rp();
    let (request, code) = code_for(&sso.browser(), &rp, &["offline_access"]).await;
    let tokens = sso
        .exchange(&rp, code.clone(), request.verifier_secret())
        .await
        .unwrap();
    let access = tokens_access(&tokens);
    let refresh = tokens_refresh(&tokens);
    assert_eq!(sso.userinfo_status(&access).await, 200);

    let replay = sso.exchange(&rp, code, request.verifier_secret()).await;
    assert_eq!(replay.unwrap_err(), "invalid_grant");
    // RFC 6749 §4.1.2: the tokens the code gave are revoked.
    assert_eq!(sso.userinfo_status(&access).await, 401);
    assert_eq!(sso.introspect(&access).await["active"], false);
    assert_eq!(sso.introspect(&refresh).await["active"], false);
    assert_eq!(
        refresh_with(&sso, ("rp", SECRET), &refresh).await,
        Err((400, "invalid_grant".into()))
    );
    assert_eq!(
        count(&sso, "access_tokens").await,
        1,
        "the replay issued nothing"
    );
}

async fn expired_code_is_refused_and_issues_nothing(backend: Backend) {
    let Some(sso) = start_with_manual_clock(backend).await else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    let (request, code) = code_for(&browser, &rp, &[]).await;
    sso.h.app.state.clock.advance(61);
    let refused = sso.exchange(&rp, code, request.verifier_secret()).await;
    assert_eq!(refused.unwrap_err(), "invalid_grant");
    assert_eq!(count(&sso, "access_tokens").await, 0);

    // Within its 60 seconds a code works: the refusal above is the clock, nothing else.
    let (request, code) = code_for(&browser, &rp, &[]).await;
    sso.h.app.state.clock.advance(59);
    sso.exchange(&rp, code, request.verifier_secret())
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Refresh tokens and tokens of other clients

async fn reused_refresh_token_revokes_its_whole_family(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let sign_in = sso
        .sign_in(&sso.browser(), &sso.default_rp(), &["offline_access"])
        .await;
    let first = sign_in
        .refresh_token()
        .expect("offline_access gives a refresh token");
    let rotated = refresh_with(&sso, ("rp", SECRET), &first).await.unwrap();
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    let second_access = rotated["access_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second, "refresh tokens rotate");
    assert_eq!(sso.userinfo_status(&second_access).await, 200);

    // The old token again: someone holds a copy, so the whole family goes (RFC 9700 §4.14.2).
    assert_eq!(
        refresh_with(&sso, ("rp", SECRET), &first).await,
        Err((400, "invalid_grant".into()))
    );
    assert_eq!(
        refresh_with(&sso, ("rp", SECRET), &second).await,
        Err((400, "invalid_grant".into()))
    );
    assert_eq!(sso.introspect(&second).await["active"], false);
    assert_eq!(sso.userinfo_status(&second_access).await, 401);
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 401);
}

async fn code_of_another_client_is_refused(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let rp2 = sso.rp("rp2", Some(RP2_SECRET));
    let (request, code) = code_for(&sso.browser(), &sso.default_rp(), &[]).await;
    // rp2 is registered with the same callback, so only the client binding can stop it.
    let refused = sso.exchange(&rp2, code, request.verifier_secret()).await;
    assert_eq!(refused.unwrap_err(), "invalid_grant");
    assert_eq!(count(&sso, "access_tokens").await, 0);
}

async fn refresh_token_of_another_client_is_refused_and_still_works_for_its_own(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let sign_in = sso
        .sign_in(&sso.browser(), &sso.default_rp(), &["offline_access"])
        .await;
    let refresh = sign_in.refresh_token().unwrap();
    assert_eq!(
        refresh_with(&sso, ("rp2", RP2_SECRET), &refresh).await,
        Err((400, "invalid_grant".into()))
    );
    assert_eq!(sso.introspect(&refresh).await["active"], true);
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 200);
    refresh_with(&sso, ("rp", SECRET), &refresh).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Forged access tokens at the UserInfo endpoint (RFC 6750 §3.1)

async fn tampered_access_token_is_refused_at_userinfo(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let sign_in = sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    let access = sign_in.access_token();
    let [head, payload, signature] = jwt_parts(&access);

    // One character of the payload flipped.
    let mut flipped = payload.clone().into_bytes();
    let at = flipped.len() / 2;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    // A payload that still parses, claiming another user.
    let mut claims = jwt_payload(&access);
    claims["sub"] = Value::from(uuid::Uuid::new_v4().to_string());
    let other_sub = encode_json(&claims);

    for forged in [
        format!("{head}.{flipped}.{signature}"),
        format!("{head}.{other_sub}.{signature}"),
    ] {
        assert_refused_as_invalid_token(&sso, &forged).await;
        assert_eq!(sso.introspect(&forged).await["active"], false);
    }
    assert_eq!(sso.userinfo_status(&access).await, 200);
}

async fn unsigned_or_other_algorithm_access_token_is_refused(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let sign_in = sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    let access = sign_in.access_token();
    let [_, payload, _] = jwt_parts(&access);
    let kid = jsonwebtoken::decode_header(&access).unwrap().kid.unwrap();

    let none = encode_json(&serde_json::json!({ "alg": "none", "typ": "at+jwt" }));
    let none_with_kid =
        encode_json(&serde_json::json!({ "alg": "none", "typ": "at+jwt", "kid": kid }));
    let mut hs256 = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs256.kid = Some(kid);
    hs256.typ = Some("at+jwt".into());
    let symmetric = jsonwebtoken::encode(
        &hs256,
        &jwt_payload(&access),
        &jsonwebtoken::EncodingKey::from_secret(b"guessable"),
    )
    .unwrap();

    for forged in [
        format!("{none}.{payload}."),
        format!("{none_with_kid}.{payload}."),
        symmetric,
    ] {
        assert_refused_as_invalid_token(&sso, &forged).await;
    }
    assert_eq!(sso.userinfo_status(&access).await, 200);
}

async fn access_token_signed_with_a_foreign_key_under_our_kid_is_refused(backend: Backend) {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};

    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let sign_in = sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    let access = sign_in.access_token();
    let ours = jsonwebtoken::decode_header(&access).unwrap();

    let foreign = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let pem = foreign.to_pkcs8_pem(LineEnding::LF).unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = ours.kid;
    header.typ = ours.typ;
    let forged = jsonwebtoken::encode(&header, &jwt_payload(&access), &key).unwrap();

    assert_refused_as_invalid_token(&sso, &forged).await;
    assert_eq!(sso.introspect(&forged).await["active"], false);
    assert_eq!(sso.userinfo_status(&access).await, 200);
}

// ---------------------------------------------------------------------------------------------
// The hosted forms

async fn login_form_without_the_right_csrf_token_is_refused_and_logs_no_one_in(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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

// ---------------------------------------------------------------------------------------------
// Oversized and malformed input

async fn oversized_state_is_refused_with_invalid_request_and_no_code(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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

// ---------------------------------------------------------------------------------------------
// Helpers

/// A provider like `Sso::start`, but on a clock that moves only when the test moves it.
async fn start_with_manual_clock(backend: Backend) -> Option<Sso> {
    let db = TestDb::new(backend).await?;
    let keys = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(AppOptions {
        database_url: db.url.clone(),
        keys_dir: keys.path().to_owned(),
        toml: clients_toml(),
        clock: Clock::manual(Clock::System.now()),
    })
    .await
    .unwrap();
    let h = Harness { app, db, keys };
    let alice = add_user(&h.app, "alice@acme.example", Some("alice"), ACME, PASSWORD).await;
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let issuer = IssuerUrl::new(h.app.base.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .unwrap();
    Some(Sso {
        h,
        alice,
        metadata,
        http,
    })
}

/// A browser with a live SSO session, and the sign-in that made it.
async fn signed_in(sso: &Sso) -> (Browser, crate::sso::SignIn) {
    let browser = sso.browser();
    let sign_in = sso.sign_in(&browser, &sso.default_rp(), &[]).await;
    (browser, sign_in)
}

/// A fresh code for `rp`, logging in on the way if the browser has no session yet.
async fn code_for(browser: &Browser, rp: &Rp, scopes: &[&str]) -> (AuthRequest, String) {
    let request = AuthRequest::new(rp, scopes);
    let mut landing = browser.visit(request.url.as_str()).await;
    if landing.is_login_page() {
        landing = browser
            .submit_login(landing.page(), "alice", PASSWORD)
            .await;
    }
    let code = request.code_from(&landing.callback());
    (request, code)
}

fn code_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
    ]
}

fn other_verifier() -> String {
    PkceCodeChallenge::new_random_sha256().1.secret().clone()
}

fn authorize_url(sso: &Sso, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&sso.url("/api/v1/sso/authorize")).unwrap();
    url.query_pairs_mut()
        .extend_pairs([("response_type", "code"), ("scope", "openid")])
        .extend_pairs(params);
    url.to_string()
}

/// The answer of a token endpoint call: the JSON on success, else the status and `error`.
async fn outcome(response: reqwest::Response) -> Result<Value, (u16, String)> {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    if status == 200 {
        Ok(body)
    } else {
        Err((
            status,
            body["error"].as_str().unwrap_or_default().to_owned(),
        ))
    }
}

async fn refresh_with(
    sso: &Sso,
    client: (&str, &str),
    refresh_token: &str,
) -> Result<Value, (u16, String)> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    outcome(sso.token_request(&form, Some(client)).await).await
}

fn tokens_access(tokens: &openidconnect::core::CoreTokenResponse) -> String {
    use openidconnect::OAuth2TokenResponse;
    tokens.access_token().secret().clone()
}

fn tokens_refresh(tokens: &openidconnect::core::CoreTokenResponse) -> String {
    use openidconnect::OAuth2TokenResponse;
    tokens
        .refresh_token()
        .expect("a refresh token")
        .secret()
        .clone()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// The HTML error page: the given status, and no redirect anywhere.
async fn error_page(response: reqwest::Response, status: u16) -> String {
    let url = response.url().to_string();
    assert_eq!(response.status(), status, "{url}");
    assert!(header(&response, "location").is_none(), "{url} redirected");
    let content_type = header(&response, "content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/html"),
        "{url}: {content_type}"
    );
    response.text().await.unwrap()
}

/// The query of an error sent back to the registered callback; it must carry no code.
fn error_at_callback(landing: Landing) -> HashMap<String, String> {
    let callback = landing.callback();
    assert!(callback.as_str().starts_with(CALLBACK), "{callback}");
    let q = query(&callback);
    assert!(!q.contains_key("code"), "{callback}");
    q
}

async fn assert_refused_as_invalid_token(sso: &Sso, token: &str) {
    let response = reqwest::Client::new()
        .get(sso.url("/api/v1/sso/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "{token}");
    let challenge = header(&response, "www-authenticate").unwrap_or_default();
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

fn jwt_parts(token: &str) -> [String; 3] {
    let parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts.try_into().expect("three parts")
}

fn encode_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn base64_std(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The message of the login page's alert.
fn alert(page: &str) -> String {
    let start = page.find("role=\"alert\">").expect("an alert") + "role=\"alert\">".len();
    page[start..start + page[start..].find("</p>").unwrap()].to_owned()
}

async fn count(sso: &Sso, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar::<sqlx::Any, i64>(&sql)
        .fetch_one(sso.h.app.state.db.pool())
        .await
        .unwrap()
}
