//! The OpenID Foundation's Basic OP checks (REFERENCE.md), each its own test, with the
//! `openidconnect` crate as the relying party, on SQLite and on PostgreSQL.

use openidconnect::core::CoreUserInfoClaims;
use openidconnect::{
    AccessTokenHash, AuthType, Nonce, OAuth2TokenResponse, RefreshToken, TokenResponse as _,
};

use crate::helpers::Backend;
use crate::on_both_backends;
use crate::sso::{
    jwt_payload, query, AuthRequest, Landing, Sso, CALLBACK, LOGOUT_RETURN, PASSWORD, SECRET,
};

on_both_backends!(
    code_flow_with_state_nonce_id_token_and_userinfo,
    missing_response_type_is_an_error,
    id_token_is_rs256_with_a_kid_from_the_jwks,
    userinfo_answers_get_and_post_with_a_bearer_header,
    code_flow_without_nonce_succeeds,
    claims_follow_the_scopes,
    parameter_order_does_not_matter,
    display_hints_locales_acr_and_unknown_parameters_cause_no_error,
    prompt_login_forces_a_fresh_login_and_auth_time_increases,
    prompt_none_without_a_session_redirects_with_login_required,
    prompt_none_with_a_session_succeeds_silently,
    max_age_1_forces_a_fresh_login,
    max_age_10000_does_not_force_a_login,
    id_token_hint_with_prompt_none_returns_the_same_sub,
    reused_code_is_rejected_and_revokes_its_tokens,
    unregistered_redirect_uri_gets_an_error_page_and_no_redirect,
    missing_redirect_uri_with_several_registered_gets_an_error_page,
    authorization_request_may_be_a_form_post,
    client_secret_post_works,
    request_and_request_uri_are_refused_with_their_errors,
    claims_parameter_is_honoured,
    refresh_tokens_work_and_are_bound_to_their_client,
    s256_pkce_works_for_a_public_client,
    logout_redirects_to_the_registered_uri_with_state,
    logout_never_redirects_to_an_unregistered_uri,
    logout_never_redirects_with_a_tampered_or_foreign_id_token_hint,
    logout_without_parameters_confirms_and_shows_the_logged_out_page,
    after_logout_prompt_none_fails_and_the_sessions_tokens_are_dead,
);

async fn code_flow_with_state_nonce_id_token_and_userinfo(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    let sign_in = sso.sign_in(&browser, &rp, &["email", "profile"]).await;
    let id_token = sign_in.tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&rp.id_token_verifier(), &sign_in.request.nonce)
        .expect("ID token verifies");
    assert_eq!(claims.subject().as_str(), sso.alice.id.to_string());
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@acme.example")
    );
    // at_hash binds the access token to the ID token.
    let expected = AccessTokenHash::from_token(
        sign_in.tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&rp.id_token_verifier()).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));
    let payload = jwt_payload(&sign_in.id_token());
    assert_eq!(payload["company_id"], crate::sso::ACME);
    assert_eq!(payload["azp"], "rp");
    assert!(payload["sid"].is_string() && payload["auth_time"].is_i64());

    let userinfo: CoreUserInfoClaims = rp
        .user_info(sign_in.tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&sso.http)
        .await
        .expect("userinfo");
    assert_eq!(userinfo.subject().as_str(), sso.alice.id.to_string());
    assert_eq!(
        userinfo.email().map(|e| e.as_str()),
        Some("alice@acme.example")
    );

    // The access token is an RFC 9068 JWT carrying the company.
    let access = sign_in.access_token();
    let header: serde_json::Value = {
        use base64::Engine;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(access.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(header["typ"], "at+jwt");
    let at = jwt_payload(&access);
    assert_eq!(
        (at["client_id"].as_str(), at["aud"].as_str()),
        (Some("rp"), Some("rp"))
    );
    assert_eq!(at["company_id"], crate::sso::ACME);
}

async fn missing_response_type_is_an_error(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let request = AuthRequest::new(&sso.default_rp(), &[]);
    let mut url = request.url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "response_type")
        .collect();
    url.query_pairs_mut().clear().extend_pairs(kept);
    let callback = sso.browser().visit(url.as_str()).await.callback();
    let q = query(&callback);
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], *request.state.secret());
    assert_eq!(q["iss"], sso.h.app.base);
    assert!(!q.contains_key("code"));
}

async fn id_token_is_rs256_with_a_kid_from_the_jwks(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let sign_in = sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    let token = sign_in.id_token();
    let header: serde_json::Value = {
        use base64::Engine;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(header["alg"], "RS256");
    let jwks: serde_json::Value = sso
        .h
        .app
        .get("/api/v1/sso/jwks")
        .await
        .json()
        .await
        .unwrap();
    assert!(jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == header["kid"]));
}

async fn userinfo_answers_get_and_post_with_a_bearer_header(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let sign_in = sso
        .sign_in(&sso.browser(), &sso.default_rp(), &["email"])
        .await;
    let token = sign_in.access_token();
    let http = reqwest::Client::new();
    let get: serde_json::Value = http
        .get(sso.url("/api/v1/sso/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let post = http
        .post(sso.url("/api/v1/sso/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200);
    assert_eq!(post.headers()["cache-control"], "no-store");
    let post: serde_json::Value = post.json().await.unwrap();
    assert_eq!(get, post);
    // The token may also come in a form body instead of the header.
    let body: serde_json::Value = http
        .post(sso.url("/api/v1/sso/userinfo"))
        .form(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, get);
    assert_eq!(get["email"], "alice@acme.example");
}

async fn code_flow_without_nonce_succeeds(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let rp = sso.default_rp();
    let request = AuthRequest::new(&rp, &[]);
    let mut url = request.url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "nonce")
        .collect();
    url.query_pairs_mut().clear().extend_pairs(kept);
    let browser = sso.browser();
    let landing = browser.visit(url.as_str()).await;
    let callback = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await
        .callback();
    let tokens = sso
        .exchange(&rp, request.code_from(&callback), request.verifier_secret())
        .await
        .unwrap();
    let id_token = tokens.id_token().unwrap();
    let claims = id_token
        .claims(&rp.id_token_verifier(), |n: Option<&Nonce>| {
            if n.is_none() {
                Ok(())
            } else {
                Err("unexpected nonce".to_owned())
            }
        })
        .unwrap();
    assert!(claims.nonce().is_none());
}

async fn claims_follow_the_scopes(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let rp = sso.default_rp();
    let only_openid = sso.sign_in(&sso.browser(), &rp, &[]).await;
    let info = userinfo_json(&sso, &only_openid.access_token()).await;
    assert!(
        info.get("email").is_none() && info.get("name").is_none(),
        "{info}"
    );
    assert!(jwt_payload(&only_openid.id_token()).get("email").is_none());

    let all = sso
        .sign_in(
            &sso.browser(),
            &rp,
            &["profile", "email", "address", "phone"],
        )
        .await;
    let info = userinfo_json(&sso, &all.access_token()).await;
    assert_eq!(info["email"], "alice@acme.example");
    assert_eq!(info["email_verified"], true);
    assert_eq!(info["name"], "Name of alice@acme.example");
    assert_eq!(info["preferred_username"], "alice");
    assert_eq!(info["company_id"], crate::sso::ACME);
    let granted = all
        .tokens
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect::<Vec<_>>();
    assert!(
        granted.contains(&"address".to_owned()) && granted.contains(&"phone".to_owned()),
        "{granted:?}"
    );
}

async fn userinfo_json(sso: &Sso, token: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(sso.url("/api/v1/sso/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn parameter_order_does_not_matter(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
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
    let callback = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await
        .callback();
    sso.exchange(&rp, request.code_from(&callback), request.verifier_secret())
        .await
        .unwrap();
}

async fn display_hints_locales_acr_and_unknown_parameters_cause_no_error(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
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
        crate::sso::input_value(landing.page(), "login").as_deref(),
        Some("alice@acme.example")
    );
    let callback = browser
        .submit_login(landing.page(), "alice@acme.example", PASSWORD)
        .await
        .callback();
    sso.exchange(&rp, request.code_from(&callback), request.verifier_secret())
        .await
        .unwrap();
}

async fn prompt_login_forces_a_fresh_login_and_auth_time_increases(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
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
    let callback = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await
        .callback();
    let tokens = sso
        .exchange(&rp, request.code_from(&callback), request.verifier_secret())
        .await
        .unwrap();
    let second_auth = jwt_payload(&tokens.id_token().unwrap().to_string())["auth_time"]
        .as_i64()
        .unwrap();
    assert!(second_auth > first_auth, "{second_auth} <= {first_auth}");
}

async fn prompt_none_without_a_session_redirects_with_login_required(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let request = AuthRequest::build(&sso.default_rp(), &[], true, &[("prompt", "none")]);
    let callback = sso.browser().visit(request.url.as_str()).await.callback();
    let q = query(&callback);
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], *request.state.secret());
}

async fn prompt_none_with_a_session_succeeds_silently(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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
    let callback = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await
        .callback();
    let tokens = sso
        .exchange(&rp, request.code_from(&callback), request.verifier_secret())
        .await
        .unwrap();
    assert!(jwt_payload(&tokens.id_token().unwrap().to_string())["auth_time"].is_i64());
}

async fn max_age_10000_does_not_force_a_login(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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

async fn reused_code_is_rejected_and_revokes_its_tokens(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    let request = AuthRequest::new(&rp, &["offline_access"]);
    let landing = browser.visit(request.url.as_str()).await;
    let callback = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await
        .callback();
    let code = request.code_from(&callback);
    let tokens = sso
        .exchange(&rp, code.clone(), request.verifier_secret())
        .await
        .unwrap();
    let access = tokens.access_token().secret().clone();
    let refresh = tokens
        .refresh_token()
        .expect("offline_access gives a refresh token")
        .secret()
        .clone();
    assert_eq!(sso.userinfo_status(&access).await, 200);

    let again = sso
        .exchange(&rp, code, request.verifier_secret())
        .await
        .unwrap_err();
    assert_eq!(again, "invalid_grant");
    assert_eq!(sso.userinfo_status(&access).await, 401);
    assert_eq!(sso.introspect(&access).await["active"], false);
    assert_eq!(sso.introspect(&refresh).await["active"], false);
    let refreshed = rp
        .exchange_refresh_token(&RefreshToken::new(refresh))
        .unwrap()
        .request_async(&sso.http)
        .await;
    assert!(refreshed.is_err());
}

async fn unregistered_redirect_uri_gets_an_error_page_and_no_redirect(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let rp = sso.default_rp();
    let request = AuthRequest::new(&rp, &["email"]);
    let form: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let browser = sso.browser();
    let landing = browser.post(&sso.url("/api/v1/sso/authorize"), &form).await;
    let callback = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await
        .callback();
    sso.exchange(&rp, request.code_from(&callback), request.verifier_secret())
        .await
        .unwrap();
}

async fn client_secret_post_works(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let rp = sso.default_rp().set_auth_type(AuthType::RequestBody);
    let sign_in = sso.sign_in(&sso.browser(), &rp, &[]).await;
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 200);
}

async fn request_and_request_uri_are_refused_with_their_errors(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let rp = sso.default_rp();
    let claims = r#"{"id_token":{"email":{"essential":true}},"userinfo":{"name":null,"preferred_username":null}}"#;
    let request = AuthRequest::build(&rp, &[], true, &[("claims", claims)]);
    let browser = sso.browser();
    let landing = browser.visit(request.url.as_str()).await;
    let callback = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await
        .callback();
    let tokens = sso
        .exchange(&rp, request.code_from(&callback), request.verifier_secret())
        .await
        .unwrap();
    let id = jwt_payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(id["email"], "alice@acme.example");
    assert!(id.get("name").is_none());
    let info = userinfo_json(&sso, tokens.access_token().secret()).await;
    assert_eq!(info["name"], "Name of alice@acme.example");
    assert_eq!(info["preferred_username"], "alice");
    assert!(info.get("email").is_none(), "{info}");
}

async fn refresh_tokens_work_and_are_bound_to_their_client(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
        return;
    };
    let rp = sso.rp("public-rp", None);
    let sign_in = sso.sign_in(&sso.browser(), &rp, &["email"]).await;
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 200);
}

fn logout_url(sso: &Sso, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&sso.url("/api/v1/sso/logout")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

async fn logout_redirects_to_the_registered_uri_with_state(backend: Backend) {
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(other) = Sso::start(Backend::Sqlite).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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
    let Some(sso) = Sso::start(backend).await else {
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
