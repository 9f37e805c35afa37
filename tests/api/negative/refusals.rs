//! Refusals made before a handler runs (wrong Content-Type, a body too large, a repeated form
//! field, a method the endpoint does not take, the session store failing) answer as every other
//! error does: the OAuth JSON error to a client (RFC 6749 §5.2), the error page to a browser.
//! And a protected resource asked without a token gets the bare challenge (RFC 6750 §3.1).

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::helpers::{code_for, code_form, count, header};
use crate::on_both_backends;
use crate::support::{input_value, AuthRequest, Backend, Sso, TestApp, PASSWORD, SECRET};

on_both_backends!(
    refusals_at_the_oauth_endpoints_are_oauth_json_errors_and_spend_nothing,
    refusals_at_the_hosted_pages_are_the_error_page_and_change_nothing,
    a_failing_session_store_shows_the_error_page,
    a_protected_resource_asked_without_a_token_answers_with_a_bare_challenge,
);

const BIG: usize = 100 * 1024;

/// The OAuth JSON error: status, `error`, no caching.
async fn assert_oauth_error(what: &str, response: reqwest::Response, status: u16, error: &str) {
    assert_eq!(response.status(), status, "{what}");
    let content_type = header(&response, "content-type").unwrap_or_default();
    assert_eq!(content_type, "application/json", "{what}");
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("no-store"),
        "{what}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{what}: {body}");
    assert!(body["error_description"].is_string(), "{what}: {body}");
}

/// The HTML error page with its security headers.
async fn assert_error_page(what: &str, response: reqwest::Response, status: u16) {
    assert_eq!(response.status(), status, "{what}");
    assert!(header(&response, "location").is_none(), "{what} redirected");
    let content_type = header(&response, "content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/html"),
        "{what}: {content_type}"
    );
    assert_eq!(
        header(&response, "x-frame-options").as_deref(),
        Some("DENY"),
        "{what}"
    );
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("no-store"),
        "{what}"
    );
    assert!(
        header(&response, "content-security-policy").is_some(),
        "{what}"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("<h1>"), "{what}: {page}");
}

/// A POST whose body comes in chunks, so no Content-Length warns the server before it reads:
/// the body limit is hit by the extractor, not by the layer.
async fn chunked_post(sso: &Sso, path: &str, size: usize) -> (u16, String) {
    let address = sso.h.app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{size:x}\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(&vec![b'a'; size]).await;
    let _ = stream.write_all(b"\r\n0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server answers");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer[9..12].parse().unwrap();
    (status, answer)
}

async fn refusals_at_the_oauth_endpoints_are_oauth_json_errors_and_spend_nothing(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    let (request, code) = code_for(&browser, &rp, &[]).await;
    let verifier = request.verifier_secret().unwrap();
    let (_, sign_in) = super::helpers::signed_in(&sso).await;
    let access = sign_in.access_token();
    let http = reqwest::Client::new();
    let url = |path: &str| sso.url(path);
    let form: String = code_form(&code, &verifier)
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let padding = "x".repeat(BIG);

    for (path, content_type) in [
        ("/api/v1/sso/token", Some("application/json")),
        ("/api/v1/sso/token", None),
        ("/api/v1/sso/revoke", Some("text/plain")),
        ("/api/v1/sso/introspect", Some("application/json")),
    ] {
        let mut post = http
            .post(url(path))
            .basic_auth("rp", Some(SECRET))
            .body(format!("{form}&token={access}"));
        if let Some(content_type) = content_type {
            post = post.header("content-type", content_type);
        }
        let what = format!("{path} as {content_type:?}");
        assert_oauth_error(&what, post.send().await.unwrap(), 400, "invalid_request").await;
    }
    for path in [
        "/api/v1/sso/token",
        "/api/v1/sso/revoke",
        "/api/v1/sso/introspect",
        "/api/v1/sso/userinfo",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
    ] {
        let response = http
            .post(url(path))
            .basic_auth("rp", Some(SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("{form}&token={access}&padding={padding}"))
            .send()
            .await
            .unwrap();
        assert_oauth_error(
            &format!("{path}, too large"),
            response,
            413,
            "invalid_request",
        )
        .await;
    }
    let (status, answer) = chunked_post(&sso, "/api/v1/sso/token", BIG).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("\"error\":\"invalid_request\""), "{answer}");
    for (method, path) in [
        (reqwest::Method::PUT, "/api/v1/sso/token"),
        (reqwest::Method::DELETE, "/api/v1/sso/userinfo"),
        (reqwest::Method::GET, "/api/v1/sso/revoke"),
    ] {
        let response = http
            .request(method.clone(), url(path))
            .send()
            .await
            .unwrap();
        assert!(header(&response, "allow").is_some(), "{method} {path}");
        assert_oauth_error(
            &format!("{method} {path}"),
            response,
            405,
            "invalid_request",
        )
        .await;
    }

    // None of it spent the code or revoked the token.
    assert_eq!(sso.userinfo_status(&access).await, 200);
    assert_eq!(count(&sso, "access_tokens").await, 1, "only the sign-in's");
    sso.exchange(&rp, code, Some(verifier)).await.unwrap();
}

async fn refusals_at_the_hosted_pages_are_the_error_page_and_change_nothing(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let browser = sso.browser();
    let request = AuthRequest::new(&sso.default_rp(), &[]);
    let login = browser.visit(request.url.as_str()).await;
    let csrf = input_value(login.page(), "csrf_token").unwrap();
    let req = input_value(login.page(), "req").unwrap();
    let good = format!("csrf_token={csrf}&req={req}&login=alice&password={PASSWORD}");
    let http = &browser.http;
    let url = |path: &str| sso.url(path);
    let padding = "x".repeat(BIG);

    let cases = [
        ("/login", "application/json", good.clone(), 400),
        (
            "/login",
            "application/x-www-form-urlencoded",
            format!("{good}&login=bob"),
            400,
        ),
        (
            "/login",
            "application/x-www-form-urlencoded",
            format!("{good}&padding={padding}"),
            413,
        ),
        (
            "/consent",
            "text/plain",
            format!("csrf_token={csrf}&req={req}&decision=allow"),
            400,
        ),
        (
            "/logout",
            "application/json",
            format!("csrf_token={csrf}&confirm=yes"),
            400,
        ),
        ("/api/v1/sso/logout", "application/json", String::new(), 400),
        (
            "/api/v1/sso/authorize",
            "application/json",
            "client_id=rp".to_owned(),
            400,
        ),
    ];
    for (path, content_type, body, status) in cases {
        let response = http
            .post(url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_error_page(&format!("POST {path} as {content_type}"), response, status).await;
    }
    let (status, answer) = chunked_post(&sso, "/login", BIG).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("text/html"), "{answer}");
    let repeated = http
        .get(url(&format!("/login?req={req}&req={req}")))
        .send()
        .await
        .unwrap();
    assert_error_page("a repeated req", repeated, 400).await;
    let put = http.put(url("/login")).send().await.unwrap();
    assert!(header(&put, "allow").is_some());
    assert_error_page("PUT /login", put, 405).await;

    // No one was logged in, and the parked request still completes with the real form.
    assert_eq!(count(&sso, "sso_sessions").await, 0);
    let callback = browser
        .submit_login(login.page(), "alice", PASSWORD)
        .await
        .callback();
    request.code_from(&callback);
}

async fn a_failing_session_store_shows_the_error_page(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    // The login page makes a session, which the session layer then cannot save.
    sqlx::query("DROP TABLE http_sessions")
        .execute(sso.h.app.state.db.pool())
        .await
        .unwrap();
    let response = sso
        .browser()
        .http
        .get(sso.url("/login"))
        .send()
        .await
        .unwrap();
    assert_error_page("the session not saved", response, 500).await;
}

async fn a_protected_resource_asked_without_a_token_answers_with_a_bare_challenge(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let http = reqwest::Client::new();
    let url = |path: &str| sso.url(path);
    for path in ["/api/v1/sso/userinfo", "/api/v1/auth/me"] {
        let requests = [
            ("no header", http.get(url(path))),
            (
                "an empty header",
                http.get(url(path)).header("authorization", ""),
            ),
            (
                "another scheme",
                http.get(url(path)).basic_auth("rp", Some(SECRET)),
            ),
        ];
        for (what, request) in requests {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{path}, {what}");
            assert_eq!(
                header(&response, "www-authenticate").as_deref(),
                Some("Bearer realm=\"bheem-sso\""),
                "{path}, {what}"
            );
        }
    }
    let response = http
        .post(url("/api/v1/sso/userinfo"))
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(&response, "www-authenticate").as_deref(),
        Some("Bearer realm=\"bheem-sso\""),
        "a form without access_token"
    );
}
