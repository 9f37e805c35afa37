//! What a refusal logs: a refused login says why (`reason`), where (`via`), and whose account
//! by user id or by a digest of the login, never the password or the login as typed; a failed
//! client authentication says the `client_id` presented, the `method` tried and why, never the
//! secret, and is an audit event too.

use serde_json::Value;

use crate::audit::{of_kind, trail};
use crate::on_both_backends;
use crate::support::{add_user, Backend, Logs, TestApp, ACME, PASSWORD, SECRET};

on_both_backends!(
    each_refused_login_logs_its_reason_without_the_password_or_the_login,
    each_failed_client_authentication_logs_the_client_method_and_reason,
);

/// The one "login refused" line of the request answered by `response`.
fn refusal_of(logs: &Logs, response: &reqwest::Response) -> Value {
    let id = response.headers()["x-request-id"].to_str().unwrap();
    let lines: Vec<Value> = logs
        .with_message_starting("login refused")
        .into_iter()
        .filter(|line| line["request_id"] == id)
        .collect();
    assert_eq!(lines.len(), 1, "one refusal line for {id}: {lines:#?}");
    lines.into_iter().next().unwrap()
}

async fn each_refused_login_logs_its_reason_without_the_password_or_the_login(backend: Backend) {
    let logs = Logs::capture();
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .set("login_limits.per_account_per_minute", 3)
        .set("login_limits.per_ip_per_minute", 100)
        .start_sso()
        .await
    else {
        return;
    };
    let alice = sso.alice.id.to_string();
    let bob = add_user(&sso.h.app, "bob@acme.example", None, ACME, PASSWORD).await;
    let state = &sso.h.app.state;
    state
        .db
        .set_user_active(&bob.id.to_string(), false, state.clock.now())
        .await
        .unwrap();
    let carol = add_user(&sso.h.app, "carol@acme.example", None, ACME, PASSWORD).await;
    state
        .db
        .set_user_password_hash(
            &carol.id.to_string(),
            "{MD5}no-longer-checkable",
            state.clock.now(),
        )
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let api = |login: &str, password: &str| {
        http.post(sso.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": login, "password": password}))
            .send()
    };
    // Typed in another case and with spaces: the digest is of the folded login.
    let typo = " Nobody.Mistyped@Acme.example ";
    let wrong = "wrong-guess-of-alice-1";
    let too_long = "p".repeat(2000);

    let unknown = api(typo, wrong).await.unwrap();
    assert_eq!(unknown.status(), 401);
    let line = refusal_of(&logs, &unknown);
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["reason"], "unknown_user");
    assert_eq!(line["via"], "api");
    let digest = bheem_sso::audit::login_digest("nobody.mistyped@acme.example");
    assert_eq!(line["login_digest"], digest.as_str());
    assert!(line.get("user_id").is_none());

    let mistyped = api("alice", wrong).await.unwrap();
    let line = refusal_of(&logs, &mistyped);
    assert_eq!(line["reason"], "wrong_password");
    assert_eq!(line["user_id"], alice.as_str());
    assert!(line.get("login_digest").is_none());

    let disabled = api("bob@acme.example", PASSWORD).await.unwrap();
    assert_eq!(disabled.status(), 401);
    let line = refusal_of(&logs, &disabled);
    assert_eq!(line["reason"], "inactive");
    assert_eq!(line["user_id"], bob.id.to_string());

    let unusable = api("carol@acme.example", PASSWORD).await.unwrap();
    assert_eq!(unusable.status(), 401);
    let line = refusal_of(&logs, &unusable);
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["reason"], "unusable_password_hash");
    assert_eq!(line["user_id"], carol.id.to_string());
    assert_eq!(line["directory"], "local");

    let long = api(typo, &too_long).await.unwrap();
    let line = refusal_of(&logs, &long);
    assert_eq!(line["reason"], "password_too_long");
    assert_eq!(line["login_digest"], digest.as_str());

    // The hosted page logs the same lines, `via` the page; alice's third failure in a minute
    // holds her account back.
    let browser = sso.browser();
    let landing = browser.visit(&sso.url("/login")).await;
    let page = browser
        .submit_login(landing.page(), "alice", "wrong-guess-of-alice-2")
        .await;
    assert_eq!(page.status(), 401);
    let page_lines: Vec<Value> = logs
        .with_message_starting("login refused")
        .into_iter()
        .filter(|line| line["via"] == "page")
        .collect();
    assert_eq!(page_lines.len(), 1, "{page_lines:#?}");
    assert_eq!(page_lines[0]["reason"], "wrong_password");
    assert_eq!(page_lines[0]["route"], "/login");
    let mut throttled = api("alice", wrong).await.unwrap();
    for _ in 0..3 {
        if throttled.status() == 429 {
            break;
        }
        throttled = api("alice", wrong).await.unwrap();
    }
    assert_eq!(throttled.status(), 429);
    let line = refusal_of(&logs, &throttled);
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["reason"], "throttled");
    assert_eq!(
        line["login_digest"],
        bheem_sso::audit::login_digest("alice").as_str()
    );
    assert!(line["retry_after_seconds"].as_u64().unwrap() >= 1);

    // The audit trail gives the same words.
    let events = trail(&sso.h, &[]).await;
    let mut reasons: Vec<&str> = of_kind(&events, "login_failed")
        .iter()
        .map(|e| e["detail"]["reason"].as_str().unwrap())
        .collect();
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(
        reasons,
        [
            "inactive",
            "password_too_long",
            "unknown_user",
            "unusable_password_hash",
            "wrong_password"
        ]
    );
    assert_eq!(of_kind(&events, "login_throttled").len(), 1);

    for password in [wrong, "wrong-guess-of-alice-2", PASSWORD, too_long.as_str()] {
        logs.assert_absent("password", password);
    }
    logs.assert_absent("login as typed", "nobody.mistyped");
    logs.assert_absent("login as typed", "Nobody.Mistyped");
}

async fn each_failed_client_authentication_logs_the_client_method_and_reason(backend: Backend) {
    let logs = Logs::capture();
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let http = reqwest::Client::new();
    let wrong_secret = "not-the-rp-secret-0123456789";
    let long_id = format!("intruder-{}", "x".repeat(300));
    let token = sso.url("/api/v1/sso/token");
    let introspect = sso.url("/api/v1/sso/introspect");
    let revoke = sso.url("/api/v1/sso/revoke");
    let grant = [("grant_type", "client_credentials")];
    let cases = [
        (
            http.post(&token)
                .basic_auth("rp", Some(wrong_secret))
                .form(&grant),
            Some("rp"),
            "client_secret_basic",
            "wrong_secret",
        ),
        (
            http.post(&token).form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "rp"),
                ("client_secret", wrong_secret),
            ]),
            Some("rp"),
            "client_secret_post",
            "wrong_secret",
        ),
        (
            http.post(&token)
                .basic_auth(&long_id, Some(wrong_secret))
                .form(&grant),
            Some(&long_id[..64]),
            "client_secret_basic",
            "unknown_client",
        ),
        (
            http.post(&token)
                .form(&[("grant_type", "client_credentials"), ("client_id", "rp")]),
            Some("rp"),
            "none",
            "method_not_allowed",
        ),
        (http.post(&token).form(&grant), None, "missing", "missing"),
        (
            http.post(&introspect)
                .form(&[("token", "whatever"), ("client_id", "public-rp")]),
            Some("public-rp"),
            "none",
            "method_not_allowed",
        ),
        (
            http.post(&revoke)
                .basic_auth("rp", Some(wrong_secret))
                .form(&[("token", "whatever")]),
            Some("rp"),
            "client_secret_basic",
            "wrong_secret",
        ),
    ];
    for (request, client_id, method, reason) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{method} {reason}");
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let lines: Vec<Value> = logs
            .with_message_starting("client authentication failed")
            .into_iter()
            .filter(|line| line["request_id"] == id.as_str())
            .collect();
        assert_eq!(lines.len(), 1, "{method} {reason}: {lines:#?}");
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["method"], method);
        assert_eq!(line["reason"], reason);
        match client_id {
            Some(client_id) => assert_eq!(line["client_id"], client_id),
            None => assert!(line.get("client_id").is_none(), "{line}"),
        }
    }

    let events = trail(&sso.h, &[]).await;
    let failed = of_kind(&events, "client_auth_failed");
    assert_eq!(failed.len(), 7, "{failed:#?}");
    let newest = failed[0];
    assert_eq!(newest["actor"], "anonymous");
    assert_eq!(newest["client_id"], "rp");
    assert_eq!(newest["detail"]["method"], "client_secret_basic");
    assert_eq!(newest["detail"]["reason"], "wrong_secret");
    let capped = &long_id[..64];
    assert!(failed
        .iter()
        .any(|e| e["client_id"] == capped && e["detail"]["reason"] == "unknown_client"));
    logs.assert_absent("client secret", wrong_secret);
    logs.assert_absent("client secret", SECRET);
    logs.assert_absent("client_id past its cap", &long_id[..65]);
}
