//! `Caller<A>`: which access tokens a workspace API takes, and how it refuses the others
//! (RFC 6750 §3, in the one error shape).

use openidconnect::OAuth2TokenResponse;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::Value;

use super::{challenge, refused, Workspace};
use crate::on_both_backends;
use crate::support::{jwt_payload, Backend, GLOBEX, LOGOUT_RETURN, SECRET};

on_both_backends!(
    a_token_of_this_provider_passes_and_every_forgery_is_an_invalid_token,
    a_request_without_a_readable_bearer_token_gets_the_bare_challenge_or_invalid_request,
    a_revoked_token_an_ended_session_and_a_service_token_are_refused,
    a_disabled_user_and_a_user_moved_to_another_company_are_refused,
    a_key_rotation_is_picked_up_without_a_restart,
);

/// `claims` signed with a fresh RSA key of nobody's, under `kid`.
fn signed_by_a_stranger(claims: &Value, kid: &str) -> String {
    let foreign = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let pem = foreign.to_pkcs8_pem(LineEnding::LF).unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

async fn a_token_of_this_provider_passes_and_every_forgery_is_an_invalid_token(backend: Backend) {
    let Some(ws) = Workspace::start(backend, |_| {}).await else {
        return;
    };
    let token = ws.spa_token().await;
    let ok = ws.get("/api/v1/meet/probe", Some(&token)).await;
    assert_eq!(ok.status(), 200);
    let caller: Value = ok.json().await.unwrap();
    assert_eq!(caller["user"], ws.sso.alice.id.to_string());
    assert_eq!(caller["company_id"], ws.sso.alice.company_id.to_string());
    assert_eq!(caller["client_id"], "bheem-workspace");
    assert_eq!(caller["company_admin"], false);

    // Each forgery differs from the good token in one thing only: the claims are the good
    // token's, its `jti` is in the registry, and re-signed as it was it passes.
    let state = &ws.sso.h.app.state;
    let keys = state.keys();
    let now = state.clock.now();
    let claims = jwt_payload(&token);
    let ours = |claims: &Value, typ: Option<&str>| {
        bheem_sso::oidc::jwt::sign(&keys, now, typ, claims).unwrap()
    };
    assert_eq!(ws.meet_status(&ours(&claims, Some("at+jwt"))).await, 200);

    let mut other_issuer = claims.clone();
    other_issuer["iss"] = "https://sso.other.example".into();
    let mut expired = claims.clone();
    expired["exp"] = (now - 1).into();
    let kid = ws.sso.h.app.signing_kid();
    let mut hs256 = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs256.kid = Some(kid.clone());
    hs256.typ = Some("at+jwt".into());
    let symmetric = jsonwebtoken::encode(
        &hs256,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"a guessable secret"),
    )
    .unwrap();
    let id_token = ws.login("alice").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let forgeries = [
        ("another issuer", ours(&other_issuer, Some("at+jwt"))),
        (
            "another issuer's key",
            signed_by_a_stranger(&other_issuer, "their-key"),
        ),
        (
            "a foreign key under our kid",
            signed_by_a_stranger(&claims, &kid),
        ),
        ("HS256 under our kid", symmetric),
        ("expired", ours(&expired, Some("at+jwt"))),
        ("no typ", ours(&claims, None)),
        ("typ JWT", ours(&claims, Some("JWT"))),
        ("an ID token", id_token),
        ("not a JWT", "not-a-jwt-at-all".to_owned()),
    ];
    for (what, forged) in forgeries {
        let response = ws.get("/api/v1/meet/probe", Some(&forged)).await;
        let header = challenge(&response);
        assert!(
            header.starts_with("Bearer realm=\"bheem-sso\", error=\"invalid_token\""),
            "{what}: {header}"
        );
        refused(response, 401, "invalid_token").await;
    }
    let response = ws
        .get("/api/v1/meet/probe", Some(&ours(&expired, Some("at+jwt"))))
        .await;
    assert!(challenge(&response).contains("the access token expired"));
    assert_eq!(ws.meet_status(&token).await, 200);
}

async fn a_request_without_a_readable_bearer_token_gets_the_bare_challenge_or_invalid_request(
    backend: Backend,
) {
    let Some(ws) = Workspace::start(backend, |_| {}).await else {
        return;
    };
    // RFC 6750 §3.1: no token, or one of another scheme, is not an error of a token.
    let none = ws.get("/api/v1/meet/probe", None).await;
    assert_eq!(challenge(&none), "Bearer realm=\"bheem-sso\"");
    refused(none, 401, "invalid_request").await;
    let http = reqwest::Client::new();
    let basic = http
        .get(ws.probe.url("/api/v1/meet/probe"))
        .basic_auth("alice", Some("alice-password-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge(&basic), "Bearer realm=\"bheem-sso\"");
    refused(basic, 401, "invalid_request").await;
    // A Bearer header without a token is malformed (400 invalid_request).
    let empty = http
        .get(ws.probe.url("/api/v1/meet/probe"))
        .header("authorization", "Bearer ")
        .send()
        .await
        .unwrap();
    assert!(challenge(&empty).contains("error=\"invalid_request\""));
    refused(empty, 400, "invalid_request").await;
    // A token in the query string is not looked at (RFC 6750 §2.3 is not offered).
    let token = ws.spa_token().await;
    let in_query = http
        .get(ws.probe.url("/api/v1/meet/probe"))
        .query(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap();
    refused(in_query, 401, "invalid_request").await;
}

async fn a_revoked_token_an_ended_session_and_a_service_token_are_refused(backend: Backend) {
    let Some(ws) = Workspace::start(backend, |_| {}).await else {
        return;
    };
    let sso = &ws.sso;
    let app = sso.rp("meet-app", Some(SECRET));
    let first = sso.sign_in(&sso.browser(), &app, &["meet"]).await;
    assert_eq!(ws.meet_status(&first.access_token()).await, 200);
    let revoked = reqwest::Client::new()
        .post(sso.url("/api/v1/sso/revoke"))
        .basic_auth("meet-app", Some(SECRET))
        .form(&[("token", first.access_token())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let response = ws
        .get("/api/v1/meet/probe", Some(&first.access_token()))
        .await;
    assert!(challenge(&response).contains("the access token was revoked"));
    refused(response, 401, "invalid_token").await;

    // Another sign-in, then the user logs out of that SSO session.
    let browser = sso.browser();
    let second = sso.sign_in(&browser, &app, &["meet"]).await;
    assert_eq!(ws.meet_status(&second.access_token()).await, 200);
    let mut logout = url::Url::parse(&sso.url("/api/v1/sso/logout")).unwrap();
    logout.query_pairs_mut().extend_pairs([
        ("id_token_hint", second.id_token().as_str()),
        ("post_logout_redirect_uri", LOGOUT_RETURN),
    ]);
    browser.visit(logout.as_str()).await.callback();
    let response = ws
        .get("/api/v1/meet/probe", Some(&second.access_token()))
        .await;
    // The logout ends the session and revokes what it issued: either refuses the token.
    let header = challenge(&response);
    assert!(
        header.contains("the login session has ended") || header.contains("was revoked"),
        "{header}"
    );
    refused(response, 401, "invalid_token").await;

    // A client's own token (client_credentials) speaks for no user.
    let service = sso
        .token_request(
            &[("grant_type", "client_credentials")],
            Some(("rp", SECRET)),
        )
        .await;
    assert_eq!(service.status(), 200);
    let service: Value = service.json().await.unwrap();
    let service = service["access_token"].as_str().unwrap().to_owned();
    crate::support::remember_secret(&service);
    let response = ws.get("/api/v1/meet/probe", Some(&service)).await;
    assert!(challenge(&response).contains("does not belong to a user"));
    refused(response, 401, "invalid_token").await;
}

async fn a_disabled_user_and_a_user_moved_to_another_company_are_refused(backend: Backend) {
    let Some(ws) = Workspace::start(backend, |_| {}).await else {
        return;
    };
    let state = &ws.sso.h.app.state;
    let alice = ws.sso.alice.id.to_string();
    let token = ws.spa_token().await;
    assert_eq!(ws.meet_status(&token).await, 200);
    state
        .db
        .set_user_active(&alice, false, state.clock.now())
        .await
        .unwrap();
    refused(
        ws.get("/api/v1/meet/probe", Some(&token)).await,
        401,
        "invalid_token",
    )
    .await;
    state
        .db
        .set_user_active(&alice, true, state.clock.now())
        .await
        .unwrap();

    // Active again, with a new login; then moved to another company by the directory.
    let token = ws.spa_token().await;
    assert_eq!(ws.meet_status(&token).await, 200);
    sqlx::query("UPDATE users SET company_id = $1 WHERE id = $2")
        .bind(GLOBEX)
        .bind(alice.as_str())
        .execute(state.db.pool())
        .await
        .unwrap();
    let response = ws.get("/api/v1/meet/probe", Some(&token)).await;
    assert!(challenge(&response).contains("no longer belongs to the company"));
    refused(response, 401, "invalid_token").await;
    // A login after the move speaks for the new company.
    let moved: Value = ws
        .get("/api/v1/meet/probe", Some(&ws.spa_token().await))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moved["company_id"], GLOBEX);
}

async fn a_key_rotation_is_picked_up_without_a_restart(backend: Backend) {
    let Some(ws) = Workspace::start(backend, |_| {}).await else {
        return;
    };
    let app = &ws.sso.h.app;
    let before = ws.spa_token().await;
    let old_kid = app.signing_kid();
    assert_eq!(ws.meet_status(&before).await, 200);
    let new_kid = app.rotate_keys(true).await;
    assert_ne!(new_kid, old_kid);
    let after = ws.spa_token().await;
    let header = jsonwebtoken::decode_header(&after).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    assert_eq!(ws.meet_status(&after).await, 200);
    // The old key is still published for its grace period: its tokens live out their time.
    assert_eq!(ws.meet_status(&before).await, 200);
    // A token of the OIDC flow is signed by the new key too.
    let sign_in = ws
        .sso
        .sign_in(
            &ws.sso.browser(),
            &ws.sso.rp("meet-app", Some(SECRET)),
            &["meet"],
        )
        .await;
    assert_eq!(
        jsonwebtoken::decode_header(sign_in.tokens.access_token().secret())
            .unwrap()
            .kid,
        Some(new_kid)
    );
    assert_eq!(ws.meet_status(&sign_in.access_token()).await, 200);
}
