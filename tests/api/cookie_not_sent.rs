//! A sign-in form whose browser did not send the session cookie back says so, and why it may
//! not have: a page opened over http:// while the issuer is https:// (its cookie is `Secure`),
//! or cookies blocked; only a cookie that came back with nothing behind it is "expired". Driven
//! over real HTTP by a client without a cookie jar, which is such a browser.

use crate::on_both_backends;
use crate::support::{input_value, Backend, Logs, TestApp};

on_both_backends!(an_https_issuer_reached_over_http_explains_the_missing_cookie);

const ISSUER: &str = "https://sso.example.test";
const OVER_HTTP: &str = "because this page was opened over http://";
const NOT_SENT: &str = "Your browser did not send the sign-in cookie";
const EXPIRED: &str = "This sign-in request has expired or was already used";

/// The status, the page and the request id of `response`.
async fn answer(response: reqwest::Response) -> (u16, String, String) {
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (
        response.status().as_u16(),
        id,
        response.text().await.unwrap(),
    )
}

async fn an_https_issuer_reached_over_http_explains_the_missing_cookie(backend: Backend) {
    let logs = Logs::capture();
    let Some(h) = TestApp::builder()
        .backend(backend)
        .set("issuer", ISSUER)
        // This test is the proxy: it says https or not.
        .set("trusted_proxies", vec!["127.0.0.1/32"])
        .start()
        .await
    else {
        return;
    };
    let app = &h.app;
    // The login page sets the cookie (`__Host-`, Secure); this client does not keep it.
    let form_page = app.get("/login").await;
    let cookie = form_page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("__Host-bheem_sso="), "{cookie}");
    let csrf = input_value(&form_page.text().await.unwrap(), "csrf_token").unwrap();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("req", ""),
        ("login", "alice"),
        ("password", "irrelevant-password-1"),
    ];
    let login = || app.http.post(app.url("/login")).form(&form);

    // (a) No cookie, over plain http: the page says why and links the https address.
    let (status, id, page) = answer(login().send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(page.contains(OVER_HTTP), "{page}");
    assert!(page.contains(ISSUER), "{page}");
    assert!(
        page.contains(&format!("<a href=\"{ISSUER}/login\">")),
        "{page}"
    );
    assert!(
        page.contains(&format!("request <code>{id}</code>")),
        "{page}"
    );
    // The same for a parked request looked up by a browser that dropped the cookie, and at
    // the consent page.
    let (status, _, page) = answer(app.get("/login?req=abcdefghijklmnopqrstuv").await).await;
    assert_eq!(status, 400);
    assert!(page.contains(OVER_HTTP), "{page}");
    let consent = app.http.post(app.url("/consent")).form(&[
        ("csrf_token", "x"),
        ("req", "y"),
        ("decision", "allow"),
    ]);
    let (status, _, page) = answer(consent.send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(page.contains(OVER_HTTP), "{page}");

    // (b) No cookie, though the proxy says the browser used https: cookies blocked or cleared.
    let behind_tls = login().header("x-forwarded-proto", "https");
    let (status, blocked_id, page) = answer(behind_tls.send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(page.contains(NOT_SENT), "{page}");
    assert!(page.contains("Cookies may be blocked"), "{page}");
    assert!(!page.contains(OVER_HTTP), "{page}");

    // (c) The cookie came back but its session holds no such request, or another form token:
    // expired, as before.
    let with_cookie = || login().header("cookie", &cookie);
    let gone = with_cookie().form(&[
        ("csrf_token", csrf.as_str()),
        ("req", "abcdefghijklmnopqrstuv"),
        ("login", "alice"),
        ("password", "irrelevant-password-1"),
    ]);
    let (status, expired_id, page) = answer(gone.send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(page.contains(EXPIRED), "{page}");
    assert!(!page.contains(NOT_SENT), "{page}");
    let stale = with_cookie().form(&[("csrf_token", "another"), ("login", "alice")]);
    let (status, _, page) = answer(stale.send().await.unwrap()).await;
    assert_eq!(status, 403);
    assert!(page.contains("This form has expired"), "{page}");

    // Each case is one line at info that names it.
    let reason_of = |id: &str| {
        let lines: Vec<_> = logs
            .with_message_starting("sign-in state not found")
            .into_iter()
            .filter(|l| l["request_id"] == id)
            .collect();
        assert_eq!(lines.len(), 1, "{id}: {lines:#?}");
        assert_eq!(lines[0]["level"], "INFO");
        lines[0]["reason"].as_str().unwrap().to_owned()
    };
    assert_eq!(reason_of(&id), "cookie_not_sent_over_http");
    assert_eq!(reason_of(&blocked_id), "cookie_not_sent");
    assert_eq!(reason_of(&expired_id), "expired");
}

#[tokio::test]
async fn an_http_issuer_says_the_cookie_was_not_sent_without_blaming_http() {
    let h = TestApp::builder().start().await.unwrap();
    let consent = h.app.http.post(h.app.url("/consent")).form(&[
        ("csrf_token", "x"),
        ("req", "y"),
        ("decision", "allow"),
    ]);
    let (status, _, page) = answer(consent.send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(page.contains(NOT_SENT), "{page}");
    assert!(!page.contains(OVER_HTTP), "{page}");
    let (status, _, page) = answer(h.app.get("/login?req=abcdefghijklmnopqrstuv").await).await;
    assert_eq!(status, 400);
    assert!(page.contains("Cookies may be blocked"), "{page}");
}
