//! The events of users and relying parties: logins, tokens, consent, revocation, logout.

use openidconnect::OAuth2TokenResponse;

use super::{assert_no_secret, of_kind, the, trail};
use crate::on_both_backends;
use crate::support::{
    add_user, jwt_payload, AuthRequest, Backend, Logs, TestApp, ACME, LOGOUT_RETURN, PASSWORD,
    SECRET,
};

on_both_backends!(
    a_sign_in_refresh_reuse_revocation_and_logout_are_recorded_with_who_and_which_client,
    failed_and_throttled_logins_say_why_without_the_password_or_an_unknown_login,
    consent_and_client_credentials_are_recorded,
    a_disabled_user_found_on_their_return_is_recorded_with_the_session_it_ends,
    each_event_carries_its_requests_id_address_and_user_agent,
    logins_refused_while_every_hashing_slot_is_busy_are_recorded,
);

async fn a_sign_in_refresh_reuse_revocation_and_logout_are_recorded_with_who_and_which_client(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let alice = sso.alice.id.to_string();
    let rp = sso.default_rp();
    let browser = sso.browser();
    let sign_in = sso.sign_in(&browser, &rp, &["offline_access"]).await;
    let first_refresh = sign_in.refresh_token().unwrap();
    let refreshed = sso.refresh(&rp, &first_refresh).await.unwrap();
    assert_eq!(
        sso.refresh(&rp, &first_refresh).await.unwrap_err(),
        "invalid_grant"
    );
    let revoked = reqwest::Client::new()
        .post(sso.url("/api/v1/sso/revoke"))
        .basic_auth("rp", Some(SECRET))
        .form(&[("token", sign_in.access_token())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let mut logout = url::Url::parse(&sso.url("/api/v1/sso/logout")).unwrap();
    logout.query_pairs_mut().extend_pairs([
        ("id_token_hint", sign_in.id_token().as_str()),
        ("post_logout_redirect_uri", LOGOUT_RETURN),
    ]);
    browser.visit(logout.as_str()).await.callback();

    let events = trail(&sso.h, &[]).await;
    let login = the(&events, "login_succeeded");
    assert_eq!(login["actor"], alice.as_str());
    assert_eq!(login["user_id"], alice.as_str());
    assert_eq!(login["company_id"], ACME);
    assert_eq!(login["client_id"], "rp");
    assert_eq!(login["client_addr"], "127.0.0.1");

    let issued = of_kind(&events, "token_issued");
    assert_eq!(issued.len(), 2, "{issued:#?}");
    // Newest first: the refresh, then the code exchange.
    let (by_refresh, by_code) = (issued[0], issued[1]);
    assert_eq!(by_code["detail"]["grant"], "authorization_code");
    assert_eq!(
        by_code["detail"]["tokens"],
        serde_json::json!(["access_token", "id_token", "refresh_token"])
    );
    assert_eq!(by_refresh["detail"]["grant"], "refresh_token");
    assert_eq!(
        by_code["detail"]["jti"],
        jwt_payload(&sign_in.access_token())["jti"]
    );
    assert_eq!(by_code["detail"]["family"], by_refresh["detail"]["family"]);
    for event in issued {
        assert_eq!(event["actor"], alice.as_str());
        assert_eq!(event["user_id"], alice.as_str());
        assert_eq!(event["company_id"], ACME);
        assert_eq!(event["client_id"], "rp");
    }

    let reuse = the(&events, "refresh_reuse_detected");
    assert_eq!(reuse["actor"], "rp");
    assert_eq!(reuse["user_id"], alice.as_str());
    assert_eq!(reuse["detail"]["family"], by_code["detail"]["family"]);

    let revocation = the(&events, "token_revoked");
    assert_eq!(revocation["actor"], "rp");
    assert_eq!(revocation["user_id"], alice.as_str());
    assert_eq!(revocation["company_id"], ACME);
    assert_eq!(revocation["detail"]["token_type"], "access_token");
    assert_eq!(revocation["detail"]["jti"], by_code["detail"]["jti"]);

    let logout = the(&events, "logout");
    assert_eq!(logout["actor"], alice.as_str());
    assert_eq!(logout["client_id"], "rp");
    let ended = the(&events, "session_ended");
    assert_eq!(ended["user_id"], alice.as_str());
    assert_eq!(ended["company_id"], ACME);
    assert_eq!(ended["detail"]["reason"], "logout");

    let refreshed_access = refreshed.access_token().secret().clone();
    let refreshed_refresh = refreshed.refresh_token().unwrap().secret().clone();
    assert_no_secret(
        &events,
        &[
            PASSWORD,
            SECRET,
            &sign_in.access_token(),
            &sign_in.id_token(),
            &first_refresh,
            &refreshed_access,
            &refreshed_refresh,
        ],
    );
}

async fn failed_and_throttled_logins_say_why_without_the_password_or_an_unknown_login(
    backend: Backend,
) {
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
    let browser = sso.browser();
    let request = AuthRequest::new(&sso.default_rp(), &[]);
    let mut landing = browser.visit(request.url.as_str()).await;
    for (login, password) in [
        ("nobody@acme.example", "a wrong guess"),
        ("bob@acme.example", PASSWORD),
        ("alice", "a wrong guess"),
        ("alice", "a wrong guess"),
        ("alice", "a wrong guess"),
    ] {
        landing = browser.submit_login(landing.page(), login, password).await;
        assert_eq!(landing.status(), 401, "{login}");
    }
    let limited = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await;
    assert_eq!(limited.status(), 429);

    let events = trail(&sso.h, &[]).await;
    let failed = of_kind(&events, "login_failed");
    assert_eq!(failed.len(), 5, "{failed:#?}");
    let reasons: Vec<&str> = failed
        .iter()
        .rev()
        .map(|e| e["detail"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "unknown_user",
            "inactive",
            "wrong_password",
            "wrong_password",
            "wrong_password"
        ]
    );
    let unknown = failed[4];
    assert_eq!(unknown["actor"], "anonymous");
    assert!(unknown["user_id"].is_null());
    let digest = unknown["detail"]["login"].as_str().unwrap();
    assert!(
        digest.len() == 16 && digest.chars().all(|c| c.is_ascii_hexdigit()),
        "{digest}"
    );
    assert_eq!(failed[3]["user_id"], bob.id.to_string());
    for wrong in &failed[..3] {
        assert_eq!(wrong["actor"], "anonymous");
        assert_eq!(wrong["user_id"], alice.as_str());
        assert_eq!(wrong["company_id"], ACME);
        assert_eq!(wrong["client_id"], "rp");
        assert_eq!(wrong["client_addr"], "127.0.0.1");
    }
    let throttled = the(&events, "login_throttled");
    assert_eq!(throttled["client_id"], "rp");
    assert!(throttled["detail"]["retry_after_seconds"].as_u64().unwrap() >= 1);
    assert_ne!(throttled["detail"]["login"], unknown["detail"]["login"]);
    assert!(of_kind(&events, "login_succeeded").is_empty());
    assert_no_secret(&events, &[PASSWORD, "a wrong guess", "nobody"]);
}

async fn consent_and_client_credentials_are_recorded(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let alice = sso.alice.id.to_string();
    let rp = sso
        .rp("consent-rp", Some(SECRET))
        .set_auth_type(openidconnect::AuthType::RequestBody);
    let browser = sso.browser();
    let request = AuthRequest::new(&rp, &["email"]);
    let landing = browser.visit(request.url.as_str()).await;
    let consent = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await;
    browser
        .submit_consent(consent.page(), "allow")
        .await
        .callback();
    let machine = sso
        .token_request(
            &[("grant_type", "client_credentials")],
            Some(("rp", SECRET)),
        )
        .await;
    assert_eq!(machine.status(), 200);
    let machine: serde_json::Value = machine.json().await.unwrap();

    let events = trail(&sso.h, &[]).await;
    let consent = the(&events, "consent_granted");
    assert_eq!(consent["actor"], alice.as_str());
    assert_eq!(consent["user_id"], alice.as_str());
    assert_eq!(consent["company_id"], ACME);
    assert_eq!(consent["client_id"], "consent-rp");
    assert!(
        consent["detail"]["scope"]
            .as_str()
            .unwrap()
            .contains("email"),
        "{consent}"
    );
    let issued = the(&events, "token_issued");
    assert_eq!(issued["actor"], "rp");
    assert_eq!(issued["client_id"], "rp");
    assert!(issued["user_id"].is_null() && issued["company_id"].is_null());
    assert_eq!(issued["detail"]["grant"], "client_credentials");
    assert_no_secret(
        &events,
        &[SECRET, PASSWORD, machine["access_token"].as_str().unwrap()],
    );
}

async fn a_disabled_user_found_on_their_return_is_recorded_with_the_session_it_ends(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let alice = sso.alice.id.to_string();
    let rp = sso.default_rp();
    let browser = sso.browser();
    sso.sign_in(&browser, &rp, &[]).await;
    let state = &sso.h.app.state;
    state
        .db
        .set_user_active(&alice, false, state.clock.now())
        .await
        .unwrap();
    let again = AuthRequest::new(&rp, &[]);
    assert!(browser.visit(again.url.as_str()).await.is_login_page());
    // Noticed once: a second visit finds nothing left to do.
    let third = AuthRequest::new(&rp, &[]);
    assert!(browser.visit(third.url.as_str()).await.is_login_page());

    let events = trail(&sso.h, &[]).await;
    let disabled = the(&events, "user_disabled");
    assert_eq!(disabled["actor"], "system");
    assert_eq!(disabled["user_id"], alice.as_str());
    assert_eq!(disabled["company_id"], ACME);
    assert_eq!(disabled["detail"]["noticed_by"], "returning session");
    assert_eq!(disabled["detail"]["sessions_ended"], 1);
    let ended = the(&events, "session_ended");
    assert_eq!(ended["actor"], "system");
    assert_eq!(ended["detail"]["reason"], "user disabled");
}

async fn each_event_carries_its_requests_id_address_and_user_agent(backend: Backend) {
    // The test talks to the app from 127.0.0.1, made a trusted proxy here, so each request can
    // say which client it forwards for.
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .set("trusted_proxies", vec!["127.0.0.1/32"])
        .start_sso()
        .await
    else {
        return;
    };
    let http = reqwest::Client::builder()
        .user_agent("audit-test/1.0 (a browser)")
        .build()
        .unwrap();
    let login = http
        .post(sso.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-request-id", "proxy-request-1")
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert_eq!(login.headers()["x-request-id"], "proxy-request-1");
    let machine = http
        .post(sso.url("/api/v1/sso/token"))
        .header("x-forwarded-for", "198.51.100.4")
        .basic_auth("rp", Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(machine.status(), 200);
    let generated = machine.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    let events = trail(&sso.h, &[]).await;
    let by_login: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["request_id"] == "proxy-request-1")
        .collect();
    let kinds: Vec<&str> = by_login
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["token_issued", "login_succeeded"]);
    for event in by_login {
        assert_eq!(event["client_addr"], "203.0.113.9");
        assert_eq!(event["user_agent"], "audit-test/1.0 (a browser)");
    }
    let by_client: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["request_id"] == generated.as_str())
        .collect();
    assert_eq!(by_client.len(), 1, "{events:#?}");
    assert_eq!(by_client[0]["kind"], "token_issued");
    assert_eq!(by_client[0]["actor"], "rp");
    assert_eq!(by_client[0]["client_addr"], "198.51.100.4");
}

async fn logins_refused_while_every_hashing_slot_is_busy_are_recorded(backend: Backend) {
    let logs = Logs::capture();
    // One hashing slot, no queue, and a hash slow enough that logins sent together find it
    // taken (as in the overload tests).
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .set("password.memory_kib", 65536)
        .set("password.iterations", 3)
        .set("password.max_concurrent", 1)
        .set("password.max_queue_ms", 0)
        .set("login_limits.per_account_per_minute", 1000)
        .set("login_limits.per_ip_per_minute", 1000)
        .start_sso()
        .await
    else {
        return;
    };
    let url = sso.url("/api/v1/auth/login");
    let sent: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for response in sent {
        statuses.push(response.await.unwrap());
    }
    let refused = statuses.iter().filter(|s| **s == 503).count();
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert!(refused >= 1 && served >= 1, "{statuses:?}");

    let events = trail(&sso.h, &[]).await;
    let busy = of_kind(&events, "login_refused_busy");
    assert_eq!(busy.len(), refused);
    for event in busy {
        assert_eq!(event["actor"], "anonymous");
        assert_eq!(event["detail"]["login"].as_str().unwrap().len(), 16);
    }
    assert_eq!(of_kind(&events, "login_succeeded").len(), served);
    // And each is a log line saying why.
    let lines = logs.with_message_starting("login refused");
    assert_eq!(lines.len(), refused, "{lines:#?}");
    for line in lines {
        assert_eq!(line["reason"], "busy");
        assert_eq!(line["via"], "api");
        assert_eq!(line["level"], "WARN");
    }
}
