//! Helpers shared by the refused-request tests.

use std::collections::HashMap;

use openidconnect::PkceCodeChallenge;
use serde_json::Value;
use url::Url;

use crate::support::{query, AuthRequest, Browser, Landing, Rp, SignIn, Sso, CALLBACK, PASSWORD};

pub(super) const RP2_SECRET: &str = "rp-secret-0123456789abcdef-two";

/// A browser with a live SSO session, and the sign-in that made it.
pub(super) async fn signed_in(sso: &Sso) -> (Browser, SignIn) {
    let browser = sso.browser();
    let sign_in = sso.sign_in(&browser, &sso.default_rp(), &[]).await;
    (browser, sign_in)
}

/// A fresh code for `rp`, logging in on the way if the browser has no session yet.
pub(super) async fn code_for(browser: &Browser, rp: &Rp, scopes: &[&str]) -> (AuthRequest, String) {
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

pub(super) fn code_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
    ]
}

pub(super) fn other_verifier() -> String {
    PkceCodeChallenge::new_random_sha256().1.secret().clone()
}

pub(super) fn authorize_url(sso: &Sso, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&sso.url("/api/v1/sso/authorize")).unwrap();
    url.query_pairs_mut()
        .extend_pairs([("response_type", "code"), ("scope", "openid")])
        .extend_pairs(params);
    url.to_string()
}

/// The answer of a token endpoint call: the JSON on success, else the status and `error`.
pub(super) async fn outcome(response: reqwest::Response) -> Result<Value, (u16, String)> {
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

pub(super) async fn refresh_with(
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

pub(super) fn tokens_access(tokens: &openidconnect::core::CoreTokenResponse) -> String {
    use openidconnect::OAuth2TokenResponse;
    tokens.access_token().secret().clone()
}

pub(super) fn tokens_refresh(tokens: &openidconnect::core::CoreTokenResponse) -> String {
    use openidconnect::OAuth2TokenResponse;
    tokens
        .refresh_token()
        .expect("a refresh token")
        .secret()
        .clone()
}

pub(super) fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// The HTML error page: the given status, and no redirect anywhere.
pub(super) async fn error_page(response: reqwest::Response, status: u16) -> String {
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
pub(super) fn error_at_callback(landing: Landing) -> HashMap<String, String> {
    let callback = landing.callback();
    assert!(callback.as_str().starts_with(CALLBACK), "{callback}");
    let q = query(&callback);
    assert!(!q.contains_key("code"), "{callback}");
    q
}

pub(super) async fn count(sso: &Sso, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar::<sqlx::Any, i64>(&sql)
        .fetch_one(sso.h.app.state.db.pool())
        .await
        .unwrap()
}
