//! What a visitor who never logs in may store: parameters of bounded size, parked requests that
//! expire within minutes, and a browser session that goes soon after.

use bheem_sso::clock::Clock;

use super::helpers::{authorize_url, count, error_at_callback, error_page};
use crate::on_both_backends;
use crate::support::{input_value, AuthRequest, Backend, Sso, TestApp, PASSWORD};

on_both_backends!(
    an_oversized_authorization_parameter_is_refused_and_stores_nothing,
    a_parked_request_expires_after_ten_minutes,
    an_anonymous_browser_session_lives_minutes_and_a_login_gives_it_hours,
);

fn system_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn session_expiries(sso: &Sso) -> Vec<i64> {
    sqlx::query_scalar::<sqlx::Any, i64>("SELECT expiry_date FROM http_sessions")
        .fetch_all(sso.h.app.state.db.pool())
        .await
        .unwrap()
}

async fn an_oversized_authorization_parameter_is_refused_and_stores_nothing(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    let long_hint = format!("{}@acme.example", "a".repeat(400));
    let long_nonce = "n".repeat(600);
    let many: Vec<(String, String)> = (0..20)
        .map(|i| (format!("extra{i}"), "x".repeat(1000)))
        .collect();
    let mut cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("login_hint", &long_hint)],
        vec![("nonce", &long_nonce)],
        // Each one within bounds, together too much.
        many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
    ];
    for case in &mut cases {
        case.extend([("client_id", "rp"), ("state", "s")]);
        let q = error_at_callback(browser.visit(&authorize_url(&sso, case)).await);
        assert_eq!(q["error"], "invalid_request", "{q:?}");
        assert_eq!(q["state"], "s");
    }
    // Before the redirect URI is known good, the refusal is a page.
    let long_uri = format!("https://rp.example/{}", "c".repeat(3000));
    let url = authorize_url(&sso, &[("client_id", "rp"), ("redirect_uri", &long_uri)]);
    error_page(browser.http.get(&url).send().await.unwrap(), 400).await;
    assert_eq!(count(&sso, "http_sessions").await, 0);

    // What real clients send still goes through, and a login still ends at the client.
    let request = AuthRequest::build(
        &sso.default_rp(),
        &["email"],
        true,
        &[("login_hint", "alice@acme.example")],
    );
    let landing = browser.visit(request.url.as_str()).await;
    assert!(landing.is_login_page(), "{landing:?}");
    let callback = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await
        .callback();
    request.code_from(&callback);
}

async fn a_parked_request_expires_after_ten_minutes(backend: Backend) {
    let clock = Clock::manual(system_now());
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .clock(clock.clone())
        .start_sso()
        .await
    else {
        return;
    };
    let (early, late) = (sso.browser(), sso.browser());
    let late_request = AuthRequest::new(&sso.default_rp(), &[]);
    let late_login = late.visit(late_request.url.as_str()).await;
    let early_request = AuthRequest::new(&sso.default_rp(), &[]);
    let early_login = early.visit(early_request.url.as_str()).await;

    clock.advance(599);
    let callback = early
        .submit_login(early_login.page(), "alice", PASSWORD)
        .await
        .callback();
    early_request.code_from(&callback);

    clock.advance(1);
    let req = input_value(late_login.page(), "req").unwrap();
    let page = late.visit(&sso.url(&format!("/login?req={req}"))).await;
    assert_eq!(page.status(), 400, "{page:?}");
    assert!(page.page().contains("has expired"), "{}", page.page());
    let refused = late
        .submit_login(late_login.page(), "alice", PASSWORD)
        .await;
    assert_eq!(refused.status(), 400, "{refused:?}");
    assert!(refused.page().contains("has expired"), "{}", refused.page());
    assert_eq!(count(&sso, "sso_sessions").await, 1, "only the early login");
}

async fn an_anonymous_browser_session_lives_minutes_and_a_login_gives_it_hours(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    let request = AuthRequest::new(&sso.default_rp(), &[]);
    let landing = browser.visit(request.url.as_str()).await;
    sso.browser().visit(&sso.url("/login")).await;
    let before = system_now();
    let anonymous = session_expiries(&sso).await;
    assert_eq!(
        anonymous.len(),
        2,
        "authorize and the login page each made one"
    );
    for expiry in anonymous {
        assert!(
            expiry <= before + 600 + 5,
            "{expiry} is {}s away",
            expiry - before
        );
    }

    let callback = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await
        .callback();
    request.code_from(&callback);
    let longest = session_expiries(&sso).await.into_iter().max().unwrap();
    // session.idle_seconds, eight hours by default.
    assert!(
        longest >= before + 8 * 3600 - 60,
        "{longest} is {}s away",
        longest - before
    );
    // A request parked while logged in (prompt=login) writes the session again and keeps it so.
    let again = AuthRequest::build(&sso.default_rp(), &[], true, &[("prompt", "login")]);
    assert!(browser.visit(again.url.as_str()).await.is_login_page());
    let longest = session_expiries(&sso).await.into_iter().max().unwrap();
    assert!(
        longest >= before + 8 * 3600 - 60,
        "{}s away",
        longest - before
    );
}
