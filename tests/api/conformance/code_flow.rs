//! The code flow end to end: the ID token, the access token, UserInfo, and the code's single use.

use openidconnect::core::CoreUserInfoClaims;
use openidconnect::{
    AccessTokenHash, AuthType, Nonce, OAuth2TokenResponse, RefreshToken, TokenResponse as _,
};

use super::userinfo_json;
use crate::on_both_backends;
use crate::support::{jwt_payload, query, AuthRequest, Backend, TestApp, ACME, PASSWORD};

on_both_backends!(
    code_flow_with_state_nonce_id_token_and_userinfo,
    missing_response_type_is_an_error,
    id_token_is_rs256_with_a_kid_from_the_jwks,
    userinfo_answers_get_and_post_with_a_bearer_header,
    code_flow_without_nonce_succeeds,
    claims_follow_the_scopes,
    reused_code_is_rejected_and_revokes_its_tokens,
    client_secret_post_works,
);

async fn code_flow_with_state_nonce_id_token_and_userinfo(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
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
    assert_eq!(payload["company_id"], ACME);
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
    assert_eq!(at["company_id"], ACME);
}

async fn missing_response_type_is_an_error(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
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
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
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
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
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
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
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
    let tokens = sso
        .finish_login(&browser, &rp, &request, &landing, "alice")
        .await;
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
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
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
    assert_eq!(info["company_id"], ACME);
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

async fn reused_code_is_rejected_and_revokes_its_tokens(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
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

async fn client_secret_post_works(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp().set_auth_type(AuthType::RequestBody);
    let sign_in = sso.sign_in(&sso.browser(), &rp, &[]).await;
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 200);
}
