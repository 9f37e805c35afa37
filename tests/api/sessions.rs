//! The SSO session: its cookie (HttpOnly, SameSite=Lax, a new id at login), what the database
//! keeps of it, and its idle and absolute lifetimes.

use bheem_sso::clock::Clock;

use crate::on_both_backends;
use crate::support::{input_value, query, AuthRequest, Backend, Browser, Sso, TestApp, PASSWORD};

on_both_backends!(
    an_idle_session_ends_after_the_idle_lifetime,
    a_busy_session_ends_at_its_absolute_lifetime,
    the_session_cookie_is_http_only_lax_and_renewed_at_login,
    the_session_table_holds_no_cookie_only_its_hash,
    the_login_page_after_authorize_writes_no_session,
);

fn manual_clock() -> Clock {
    Clock::manual(time::OffsetDateTime::now_utc().unix_timestamp())
}

async fn silent_login_works(sso: &Sso, browser: &Browser) -> bool {
    let request = AuthRequest::build(&sso.default_rp(), &[], true, &[("prompt", "none")]);
    query(&browser.visit(request.url.as_str()).await.callback()).contains_key("code")
}

async fn an_idle_session_ends_after_the_idle_lifetime(backend: Backend) {
    let clock = manual_clock();
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .clock(clock.clone())
        .set("session.idle_seconds", 600)
        .set("session.absolute_seconds", 3600)
        .start_sso()
        .await
    else {
        return;
    };
    let browser = sso.browser();
    sso.sign_in(&browser, &sso.default_rp(), &[]).await;
    clock.advance(599);
    assert!(
        silent_login_works(&sso, &browser).await,
        "still within the idle lifetime"
    );
    clock.advance(601);
    assert!(
        !silent_login_works(&sso, &browser).await,
        "idle for longer than idle_seconds"
    );
}

async fn a_busy_session_ends_at_its_absolute_lifetime(backend: Backend) {
    let clock = manual_clock();
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .clock(clock.clone())
        .set("session.idle_seconds", 600)
        .set("session.absolute_seconds", 1500)
        .start_sso()
        .await
    else {
        return;
    };
    let browser = sso.browser();
    sso.sign_in(&browser, &sso.default_rp(), &[]).await;
    for _ in 0..2 {
        clock.advance(500);
        assert!(silent_login_works(&sso, &browser).await);
    }
    clock.advance(501);
    assert!(
        !silent_login_works(&sso, &browser).await,
        "past absolute_seconds, however busy"
    );
}

/// The session cookies a response sets (`Set-Cookie: bheem_sso=…`).
fn session_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .filter(|c| c.starts_with("bheem_sso="))
        .collect()
}

async fn the_session_cookie_is_http_only_lax_and_renewed_at_login(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    let request = AuthRequest::new(&sso.default_rp(), &[]);
    let first = browser.http.get(request.url.as_str()).send().await.unwrap();
    let cookie = |r: &reqwest::Response| session_cookies(r).into_iter().next();
    let before = cookie(&first).expect("a session cookie");
    assert!(
        before.contains("HttpOnly") && before.contains("SameSite=Lax") && before.contains("Path=/"),
        "{before}"
    );
    let landing = browser.visit(request.url.as_str()).await;
    let csrf = input_value(landing.page(), "csrf_token").unwrap();
    let req = input_value(landing.page(), "req").unwrap();
    let login = browser
        .http
        .post(sso.url("/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("req", req.as_str()),
            ("login", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let after = cookie(&login).expect("a new cookie at login");
    let value = |c: &str| c.split(';').next().unwrap().to_owned();
    assert_ne!(
        value(&before),
        value(&after),
        "the session id must change at login"
    );
}

/// The database holds a browser session under the SHA-256 of its id: the cookie itself, a live
/// login to put in any browser, is not there to be read from a backup or a dump.
async fn the_session_table_holds_no_cookie_only_its_hash(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    let request = AuthRequest::new(&sso.default_rp(), &[]);
    let landing = browser.visit(request.url.as_str()).await;
    let csrf = input_value(landing.page(), "csrf_token").unwrap();
    let req = input_value(landing.page(), "req").unwrap();
    let login = browser
        .http
        .post(sso.url("/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("req", req.as_str()),
            ("login", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let cookie = session_cookies(&login)
        .into_iter()
        .next()
        .expect("a cookie at login");
    let id = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("bheem_sso=")
        .to_owned();
    let stored: Vec<String> = sqlx::query_scalar("SELECT id FROM http_sessions")
        .fetch_all(sso.h.app.state.db.pool())
        .await
        .unwrap();
    assert!(!stored.contains(&id), "the cookie is in the database");
    assert!(
        stored.contains(&bheem_sso::secrets::hash_secret(&id)),
        "its hash is: {stored:?}"
    );
    assert!(
        silent_login_works(&sso, &browser).await,
        "the session found by its hash"
    );
}

/// Authorize parks the request and makes the form's CSRF token in the same new session, so the
/// login page only reads it: a session that was written again would be sent again.
async fn the_login_page_after_authorize_writes_no_session(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    let request = AuthRequest::new(&sso.default_rp(), &[]);
    let authorize = browser.http.get(request.url.as_str()).send().await.unwrap();
    assert_eq!(authorize.status(), 303, "{:?}", authorize.headers());
    assert_eq!(
        session_cookies(&authorize).len(),
        1,
        "authorize starts the session"
    );
    let location = authorize.headers()["location"].to_str().unwrap().to_owned();
    let page = browser.http.get(sso.url(&location)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        session_cookies(&page).len(),
        0,
        "the login page saved the session"
    );
    let page = page.text().await.unwrap();
    assert!(input_value(&page, "csrf_token").is_some());
    let landing = browser.submit_login(&page, "alice", PASSWORD).await;
    let code = request.code_from(&landing.callback());
    assert!(sso
        .exchange(&sso.default_rp(), code, request.verifier_secret())
        .await
        .is_ok());
}
