//! Login throttling that neither a proxy nor an attacker can turn against users: only failures
//! count, an account is limited per client address, a browser that logged in before keeps its
//! way in (`device_cookies`), the client address is read from trusted proxies only, and the
//! answer's timing does not tell who has an account.

mod device_cookies;

use std::time::{Duration, Instant};

use bheem_sso::store::users::LocalUser;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{add_user, AuthRequest, Backend, Sso, TestApp, TestConfig, ACME, PASSWORD};

on_both_backends!(
    an_office_behind_one_address_is_never_throttled_by_its_own_logins,
    failures_from_one_address_do_not_lock_the_owner_out_from_another,
    an_account_is_one_key_whether_named_by_email_or_username,
    forwarded_addresses_are_believed_only_from_trusted_proxies,
    unknown_users_and_legacy_hashes_answer_no_sooner_than_the_floor,
    repeated_failed_logins_are_rate_limited_with_the_same_page,
);

/// The test app is reached from 127.0.0.1, which these tests make a trusted proxy, so that each
/// request can say which client address it stands for.
fn behind_proxy(config: &mut TestConfig) {
    config.set("trusted_proxies", vec!["127.0.0.1/32"]);
}

/// Behind the trusted proxy, with two failures a minute per account and address and three from
/// everywhere together: each limit, once reached, holds for 20 s or more, far longer than a test
/// takes, so no test depends on how fast the machine runs it.
fn tight_limits(config: &mut TestConfig) {
    behind_proxy(config);
    config
        .set("login_limits.per_account_per_minute", 2)
        .set("login_limits.per_account_all_addresses_per_minute", 3);
}

/// `POST /api/v1/auth/login` as the client at `address` (through the trusted proxy, if any).
async fn api_login(
    sso: &Sso,
    http: &reqwest::Client,
    address: Option<&str>,
    login: &str,
    password: &str,
) -> u16 {
    let mut request = http
        .post(sso.url("/api/v1/auth/login"))
        .json(&json!({ "username": login, "password": password }));
    if let Some(address) = address {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn an_office_behind_one_address_is_never_throttled_by_its_own_logins(backend: Backend) {
    // Default limits: at most 30 failures a minute from one address.
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let mut staff: Vec<LocalUser> = Vec::new();
    for n in 0..100 {
        let email = format!("person{n}@acme.example");
        staff.push(add_user(&sso.h.app, &email, None, ACME, PASSWORD).await);
    }
    let http = reqwest::Client::new();
    for (n, person) in staff.iter().enumerate() {
        let status = api_login(&sso, &http, None, person.email.as_str(), PASSWORD).await;
        assert_eq!(status, 200, "person {n} of the office was refused");
    }
}

async fn failures_from_one_address_do_not_lock_the_owner_out_from_another(backend: Backend) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(behind_proxy)
        .start_sso()
        .await
    else {
        return;
    };
    let attacker = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(api_login(&sso, &attacker, Some("203.0.113.66"), "alice", "guess").await);
    }
    assert_eq!(&statuses[..5], [401; 5]);
    assert_eq!(
        &statuses[5..],
        [429; 3],
        "the attacker's address is held back"
    );
    // The owner, at home, has never logged in from this browser before.
    let owner = reqwest::Client::new();
    let status = api_login(&sso, &owner, Some("198.51.100.7"), "alice", PASSWORD).await;
    assert_eq!(
        status, 200,
        "the owner is not locked out by someone else's failures"
    );
    let status = api_login(&sso, &attacker, Some("203.0.113.66"), "alice", PASSWORD).await;
    assert_eq!(
        status, 429,
        "the right password from the held-back address still waits"
    );
}

async fn an_account_is_one_key_whether_named_by_email_or_username(backend: Backend) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .set("login_limits.per_account_per_minute", 3)
        .set("login_limits.per_ip_per_minute", 100)
        .start_sso()
        .await
    else {
        return;
    };
    let http = reqwest::Client::new();
    for login in ["alice@acme.example", "alice", "ALICE@acme.example"] {
        assert_eq!(api_login(&sso, &http, None, login, "guess").await, 401);
    }
    // Three failures against one account, however it was named: the fourth waits.
    assert_eq!(api_login(&sso, &http, None, "Alice", PASSWORD).await, 429);
    // A login that names nobody is keyed by its folded form.
    for login in [
        "nobody@acme.example",
        "NOBODY@acme.example",
        " nobody@acme.example",
    ] {
        assert_eq!(api_login(&sso, &http, None, login, "guess").await, 401);
    }
    assert_eq!(
        api_login(&sso, &http, None, "Nobody@Acme.Example", "guess").await,
        429
    );
}

async fn forwarded_addresses_are_believed_only_from_trusted_proxies(backend: Backend) {
    // No trusted proxies: an X-Forwarded-For header is the client's own word, not believed.
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .set("login_limits.per_account_per_minute", 2)
        .set("login_limits.per_ip_per_minute", 100)
        .start_sso()
        .await
    else {
        return;
    };
    let http = reqwest::Client::new();
    for n in 0..2 {
        let status = api_login(&sso, &http, Some(&format!("203.0.113.{n}")), "alice", "x").await;
        assert_eq!(status, 401);
    }
    let status = api_login(&sso, &http, Some("203.0.113.99"), "alice", PASSWORD).await;
    assert_eq!(
        status, 429,
        "a forged X-Forwarded-For bought a fresh allowance"
    );
}

async fn unknown_users_and_legacy_hashes_answer_no_sooner_than_the_floor(backend: Backend) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .set("password.memory_kib", 8192)
        .set("password.iterations", 1)
        .set("password.min_verify_ms", 400)
        .start_sso()
        .await
    else {
        return;
    };
    // A user from an ERP whose hash is bcrypt (cost 4: a millisecond to check), made by
    // Python's bcrypt, for the password "correct horse".
    let mut legacy = add_user(&sso.h.app, "bob@acme.example", Some("bob"), ACME, "unused").await;
    legacy.password_hash = "$2a$04$cvq90/JR5kRh/fY0PfEx1On8UBH5xiQ3yEzACqVllXbfoRnsxvSUS".into();
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(legacy.password_hash.clone())
        .bind(legacy.id.to_string())
        .execute(sso.h.app.state.db.pool())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    for (login, password, expected) in [
        ("bob", "correct horse", 200),
        ("alice", PASSWORD, 200),
        ("nobody@acme.example", "correct horse", 401),
    ] {
        let started = Instant::now();
        let status = api_login(&sso, &http, None, login, password).await;
        let took = started.elapsed();
        assert_eq!(status, expected, "{login}");
        assert!(
            took >= Duration::from_millis(400),
            "{login} answered after {took:?}, before the floor"
        );
    }
}

async fn repeated_failed_logins_are_rate_limited_with_the_same_page(backend: Backend) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .set("login_limits.per_account_per_minute", 3)
        .set("login_limits.per_ip_per_minute", 100)
        .start_sso()
        .await
    else {
        return;
    };
    let browser = sso.browser();
    let request = AuthRequest::new(&sso.default_rp(), &[]);
    let mut landing = browser.visit(request.url.as_str()).await;
    for _ in 0..3 {
        landing = browser
            .submit_login(landing.page(), "alice", "wrong password")
            .await;
        assert_eq!(landing.status(), 401);
    }
    // Even the right password is refused while the account is limited.
    let limited = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await;
    assert_eq!(limited.status(), 429);
    assert!(limited.page().contains("Too many sign-in attempts"));
    assert!(
        limited.page().contains("name=\"password\""),
        "the same login page"
    );
}
