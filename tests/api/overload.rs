//! Excess password logins are refused at once with 503 and `Retry-After`, never queued without
//! bound, and a refused login changes nothing.

use serde_json::Value;

use crate::on_both_backends;
use crate::support::{input_value, AuthRequest, Backend, Sso, TestApp, TestConfig, PASSWORD};

/// One hashing slot, no waiting, and a hash slow enough (64 MiB, 3 passes) that the requests
/// sent together all arrive while the first one holds the slot. The brute-force limits, which
/// answer 429 to the same account, are out of the way: this is about load, not guessing.
fn one_slot_no_queue(config: &mut TestConfig) {
    config
        .set("password.memory_kib", 65536)
        .set("password.iterations", 3)
        .set("password.max_concurrent", 1)
        .set("password.max_queue_ms", 0)
        .set("login_limits.per_account_per_minute", 1000)
        .set("login_limits.per_ip_per_minute", 1000);
}

on_both_backends!(
    api_logins_beyond_the_hashing_slots_get_503_with_retry_after,
    a_hosted_login_while_every_slot_is_busy_gets_503_and_can_retry,
);

async fn sessions(sso: &Sso) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM sso_sessions")
        .fetch_one(sso.h.app.state.db.pool())
        .await
        .unwrap()
}

async fn api_login(url: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .json(&serde_json::json!({"username": "alice@acme.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

async fn api_logins_beyond_the_hashing_slots_get_503_with_retry_after(backend: Backend) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(one_slot_no_queue)
        .start_sso()
        .await
    else {
        return;
    };
    let before = sessions(&sso).await;
    let url = sso.url("/api/v1/auth/login");
    let sent: Vec<_> = (0..8)
        .map(|_| tokio::spawn(api_login(url.clone())))
        .collect();
    let mut served = 0;
    let mut refused = 0;
    for response in sent {
        let response = response.await.unwrap();
        match response.status().as_u16() {
            200 => served += 1,
            503 => {
                refused += 1;
                assert_eq!(response.headers()["retry-after"], "1");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"], "temporarily_unavailable");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(served >= 1, "the login holding the slot is served");
    assert!(
        refused >= 1,
        "logins finding the only slot taken are refused, not queued"
    );
    assert_eq!(
        sessions(&sso).await - before,
        served,
        "a refused login makes no session"
    );
    // Once the slot is free again, the same login succeeds.
    assert_eq!(api_login(url).await.status(), 200);
}

async fn a_hosted_login_while_every_slot_is_busy_gets_503_and_can_retry(backend: Backend) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(one_slot_no_queue)
        .start_sso()
        .await
    else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    let request = AuthRequest::new(&rp, &[]);
    let landing = browser.visit(request.url.as_str()).await;
    let page = landing.page().to_owned();
    let form = [
        ("csrf_token", input_value(&page, "csrf_token").unwrap()),
        ("req", input_value(&page, "req").unwrap()),
        ("login", "alice@acme.example".to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    // An API login takes the only slot; the form arrives while it hashes.
    let holder = tokio::spawn(api_login(sso.url("/api/v1/auth/login")));
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let refused = browser
        .http
        .post(sso.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body = refused.text().await.unwrap();
    assert!(body.contains("Too many people are signing in"), "{body}");
    assert_eq!(holder.await.unwrap().status(), 200);
    // The refusal spent nothing: the page it showed logs in with a fresh CSRF token.
    let retry = browser
        .submit_login(&body, "alice@acme.example", PASSWORD)
        .await;
    let callback = retry.callback();
    assert!(request.code_from(&callback).len() > 20);
}
