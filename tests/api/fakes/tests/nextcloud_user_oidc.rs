//! The fake Nextcloud's user_oidc endpoints against what user_oidc answers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::client;
use super::nextcloud_ocs::{nextcloud, ocs, status_and_json};
use crate::fakes::nextcloud::FakeNextcloud;

const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A compact JWS with these claims; the fake does not check signatures.
fn logout_token(claims: &Value) -> String {
    let encode = |part: &Value| URL_SAFE_NO_PAD.encode(part.to_string());
    let header = json!({"alg": "RS256", "kid": "k1", "typ": "logout+jwt"});
    format!("{}.{}.c2lnbmF0dXJl", encode(&header), encode(claims))
}

fn logout_claims() -> Value {
    json!({
        "iss": "https://sso.example.org",
        "aud": "bheem-docs",
        "iat": 1_700_000_000,
        "exp": 4_000_000_000_u64,
        "jti": "a6f1",
        "sub": "alice",
        "sid": "session-1",
        "events": { LOGOUT_EVENT: {} },
    })
}

async fn post_logout(
    nc: &FakeNextcloud,
    provider: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let url = format!(
        "{}/index.php/apps/user_oidc/backchannel-logout/{provider}",
        nc.url()
    );
    status_and_json(client().post(url).form(form)).await
}

#[tokio::test]
async fn user_oidc_creates_a_user_then_updates_the_same_one() {
    let nc = nextcloud().await;
    let provision =
        |body: Value| ocs(&nc, Method::POST, 2, "/apps/user_oidc/api/v1/user").json(&body);

    let (status, body) = status_and_json(provision(json!({
        "providerId": 1,
        "userId": "bob",
        "displayName": "Bob",
        "email": "bob@ex.org",
        "quota": "1 GB",
    })))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"ocs":{"meta":{"status":"ok","statuscode":200,"message":"OK"},"data":{"user_id":"bob"}}})
    );
    let bob = nc.user("bob").unwrap();
    assert_eq!(
        (
            bob.display_name.as_str(),
            bob.email.as_deref(),
            bob.quota.as_str()
        ),
        ("Bob", Some("bob@ex.org"), "1 GB")
    );
    assert_eq!(bob.backend, "user_oidc");

    let again = provision(json!({"providerId": 1, "userId": "bob", "displayName": "Robert"}));
    assert_eq!(status_and_json(again).await.0, StatusCode::OK);
    let bob = nc.user("bob").unwrap();
    assert_eq!(bob.display_name, "Robert");
    assert_eq!(bob.email.as_deref(), Some("bob@ex.org"), "left alone");
    assert_eq!(nc.users().len(), 2, "the admin and bob");
    assert_eq!(nc.create_calls(), 0, "not the provisioning API's endpoint");

    let no_user_id = provision(json!({"providerId": 1}));
    assert_eq!(
        no_user_id.send().await.unwrap().status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn user_oidc_provisioning_needs_the_admin_and_the_ocs_header() {
    let nc = nextcloud().await;
    let url = format!(
        "{}/ocs/v2.php/apps/user_oidc/api/v1/user?format=json",
        nc.url()
    );
    let body = json!({"providerId": 1, "userId": "bob"});

    let wrong_password = client()
        .post(&url)
        .basic_auth("admin", Some("wrong"))
        .header("OCS-APIRequest", "true")
        .json(&body);
    assert_eq!(
        status_and_json(wrong_password).await.0,
        StatusCode::UNAUTHORIZED
    );
    let no_header = client()
        .post(&url)
        .basic_auth("admin", Some("admin-secret"))
        .json(&body);
    assert_eq!(
        status_and_json(no_header).await.0,
        StatusCode::PRECONDITION_FAILED
    );
    assert!(nc.user("bob").is_none());
}

#[tokio::test]
async fn backchannel_logout_records_the_token_and_answers_200() {
    let nc = nextcloud().await;
    let token = logout_token(&logout_claims());

    let (status, body) = post_logout(&nc, "bheem", &[("logout_token", &token)]).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!([]));
    assert_eq!(
        nc.backchannel_tokens(),
        [("bheem".to_owned(), token.clone())]
    );

    // With pretty URLs on there is no /index.php.
    let pretty = client()
        .post(format!(
            "{}/apps/user_oidc/backchannel-logout/bheem",
            nc.url()
        ))
        .form(&[("logout_token", &token)]);
    assert_eq!(pretty.send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(nc.backchannel_tokens().len(), 2);
}

#[tokio::test]
async fn backchannel_logout_answers_a_malformed_request_with_400_and_an_error() {
    let nc = nextcloud().await;
    let without = |claim: &str| {
        let mut claims = logout_claims();
        claims.as_object_mut().unwrap().remove(claim);
        claims
    };
    let mut with_nonce = logout_claims();
    with_nonce["nonce"] = json!("n-0S6");
    let mut without_sid_or_sub = without("sid");
    without_sid_or_sub.as_object_mut().unwrap().remove("sub");

    let (status, body) = post_logout(&nc, "bheem", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"].is_string());

    let cases = [
        ("not-a-jwt".to_owned(), "invalid_request"),
        (logout_token(&without("events")), "invalid event"),
        (logout_token(&with_nonce), "invalid nonce"),
        (logout_token(&without("iss")), "invalid iss"),
        (logout_token(&without_sid_or_sub), "invalid sid+sub"),
    ];
    for (token, error) in cases {
        let (status, body) = post_logout(&nc, "bheem", &[("logout_token", &token)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert_eq!(body["error"], error);
    }
    assert!(nc.backchannel_tokens().is_empty());

    // Either of sid and sub is enough.
    let sub_only = logout_token(&without("sid"));
    let (status, _) = post_logout(&nc, "bheem", &[("logout_token", &sub_only)]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn backchannel_logout_checks_provider_and_audience_once_providers_are_registered() {
    let nc = nextcloud().await;
    nc.add_oidc_provider("bheem", "bheem-docs");
    let token = logout_token(&logout_claims());

    let (status, body) = post_logout(&nc, "other", &[("logout_token", &token)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "provider not found");

    let mut foreign = logout_claims();
    foreign["aud"] = json!(["bheem-mail"]);
    let foreign = logout_token(&foreign);
    let (status, body) = post_logout(&nc, "bheem", &[("logout_token", &foreign)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid audience");

    let mut listed = logout_claims();
    listed["aud"] = json!(["bheem-mail", "bheem-docs"]);
    let listed = logout_token(&listed);
    for accepted in [&token, &listed] {
        let (status, _) = post_logout(&nc, "bheem", &[("logout_token", accepted)]).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(nc.backchannel_tokens().len(), 2);
}
