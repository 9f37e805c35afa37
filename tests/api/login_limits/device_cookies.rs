//! Device cookies: a browser that logged in to an account before keeps its way in while a
//! distributed attack holds back everyone else, until the account's password changes.

use serde_json::json;

use super::{api_login, tight_limits};
use crate::on_both_backends;
use crate::support::{add_user, input_value, Backend, TestApp, ACME, PASSWORD};

on_both_backends!(
    a_browser_that_logged_in_before_is_not_held_back_by_a_distributed_attack,
    the_hosted_login_page_gives_the_browser_its_device_cookie,
    a_device_cookie_lapses_when_the_password_changes,
);

async fn a_browser_that_logged_in_before_is_not_held_back_by_a_distributed_attack(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(tight_limits)
        .start_sso()
        .await
    else {
        return;
    };
    // The owner's browser logged in last week, and keeps its device cookie.
    let owners_browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let response = owners_browser
        .post(sso.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "198.51.100.7")
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("bheem_device="))
        .expect("a device cookie after a successful login");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    // A botnet: one failure from each of three addresses, sent at once as a botnet does; none
    // of them reaches the per-address limit.
    let botnet = reqwest::Client::new();
    let mut attacks = tokio::task::JoinSet::new();
    for n in 0..3 {
        let (url, http) = (sso.url("/api/v1/auth/login"), botnet.clone());
        attacks.spawn(async move {
            http.post(url)
                .header("x-forwarded-for", format!("203.0.113.{n}"))
                .json(&json!({ "username": "alice", "password": "guess" }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    while let Some(status) = attacks.join_next().await {
        assert_eq!(status.unwrap(), 401);
    }
    // A browser that never logged in to the account is held back, even from a fresh address
    // and with the right password...
    let status = api_login(&sso, &botnet, Some("192.0.2.200"), "alice", PASSWORD).await;
    assert_eq!(status, 429);
    // ...but the owner's browser is not, from wherever it is today.
    let status = api_login(
        &sso,
        &owners_browser,
        Some("192.0.2.201"),
        "alice",
        PASSWORD,
    )
    .await;
    assert_eq!(
        status, 200,
        "the owner's browser is held back by the attack"
    );

    // A device cookie is the key of that one browser, and only for the account it was made for:
    // with it, another account's failures count as anyone's.
    add_user(&sso.h.app, "bob@acme.example", Some("bob"), ACME, PASSWORD).await;
    for _ in 0..2 {
        let status = api_login(&sso, &owners_browser, Some("192.0.2.201"), "bob", "guess").await;
        assert_eq!(status, 401);
    }
    let status = api_login(&sso, &owners_browser, Some("192.0.2.201"), "bob", PASSWORD).await;
    assert_eq!(status, 429);
}

async fn the_hosted_login_page_gives_the_browser_its_device_cookie(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(sso.url("/login")).send().await.unwrap();
    let page = page.text().await.unwrap();
    let csrf = input_value(&page, "csrf_token").unwrap();
    let form = |password: &'static str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("login", "alice".to_owned()),
            ("password", password.to_owned()),
        ]
    };
    let device_cookie = |response: &reqwest::Response| {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("bheem_device="))
    };
    let failed = browser
        .post(sso.url("/login"))
        .form(&form("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 401);
    assert_eq!(
        device_cookie(&failed),
        None,
        "a failed login makes no device known"
    );
    let signed_in = browser
        .post(sso.url("/login"))
        .form(&form(PASSWORD))
        .send()
        .await
        .unwrap();
    assert!(signed_in.status().is_redirection());
    let cookie = device_cookie(&signed_in).expect("a device cookie after the login");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing from {cookie}"
        );
    }
}

async fn a_device_cookie_lapses_when_the_password_changes(backend: Backend) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(tight_limits)
        .start_sso()
        .await
    else {
        return;
    };
    // A browser that logged in once (a shared computer, say), and keeps its device cookie.
    let old_browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let status = api_login(&sso, &old_browser, Some("198.51.100.7"), "alice", PASSWORD).await;
    assert_eq!(status, 200);
    // The owner changes the password.
    let state = &sso.h.app.state;
    let new_hash = state
        .logins
        .passwords
        .hash(&secrecy::SecretString::from("a new password 42"))
        .await
        .unwrap();
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(new_hash)
        .bind(sso.alice.id.to_string())
        .execute(state.db.pool())
        .await
        .unwrap();
    // A distributed attack holds back every browser the account does not know...
    let botnet = reqwest::Client::new();
    for n in 0..3 {
        let address = format!("203.0.113.{n}");
        let status = api_login(&sso, &botnet, Some(&address), "alice", "guess").await;
        assert_eq!(status, 401);
    }
    // ...and the old browser is one of them now: its cookie was made for the old password.
    let status = api_login(
        &sso,
        &old_browser,
        Some("192.0.2.201"),
        "alice",
        "a new password 42",
    )
    .await;
    assert_eq!(status, 429, "a device cookie outlived a password change");
}
