//! Forged access tokens at the UserInfo endpoint (RFC 6750 §3.1).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use super::helpers::header;
use crate::on_both_backends;
use crate::support::{jwt_payload, Backend, Sso, TestApp};

on_both_backends!(
    tampered_access_token_is_refused_at_userinfo,
    unsigned_or_other_algorithm_access_token_is_refused,
    access_token_signed_with_a_foreign_key_under_our_kid_is_refused,
);

async fn tampered_access_token_is_refused_at_userinfo(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
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
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
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

    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
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
