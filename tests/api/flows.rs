//! The rest of the single sign-on behaviour: consent, company limits, client credentials,
//! revocation, introspection, the first-party JSON API, sessions and brute-force defence.

use openidconnect::{OAuth2TokenResponse, RefreshToken};
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{
    input_value, jwt_payload, query, AuthRequest, Backend, Browser, Sso, TestApp, ACME, PASSWORD,
    SECRET,
};

on_both_backends!(
    consent_is_asked_once_and_remembered,
    denied_consent_returns_access_denied,
    prompt_consent_asks_again_and_prompt_none_without_consent_is_consent_required,
    a_client_limited_to_other_companies_gets_access_denied,
    client_credentials_issue_a_token_without_a_user,
    introspection_describes_live_tokens_and_needs_client_authentication,
    revoking_a_refresh_token_revokes_its_family_and_access_tokens,
    revoking_an_access_token_ends_it_and_other_clients_cannot_revoke_it,
    first_party_api_logs_in_refreshes_and_answers_me,
    a_disabled_user_loses_userinfo_refresh_a_pending_code_and_sso,
    the_session_cookie_is_http_only_lax_and_renewed_at_login,
    the_session_table_holds_no_cookie_only_its_hash,
    the_login_page_after_authorize_writes_no_session,
    token_responses_are_not_cached_and_options_answers_200,
    repeated_failed_logins_are_rate_limited_with_the_same_page,
    an_idle_session_ends_after_the_idle_lifetime,
    a_busy_session_ends_at_its_absolute_lifetime,
);

fn manual_clock() -> bheem_sso::clock::Clock {
    bheem_sso::clock::Clock::manual(time::OffsetDateTime::now_utc().unix_timestamp())
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

async fn consent_is_asked_once_and_remembered(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso
        .rp("consent-rp", Some(SECRET))
        .set_auth_type(openidconnect::AuthType::RequestBody);
    let browser = sso.browser();
    let request = AuthRequest::new(&rp, &["email", "profile"]);
    let landing = browser.visit(request.url.as_str()).await;
    let consent = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await;
    let page = consent.page();
    assert!(
        page.contains("Consenting Party") && page.contains("See your email address"),
        "{page}"
    );
    let callback = browser.submit_consent(page, "allow").await.callback();
    sso.exchange(&rp, request.code_from(&callback), request.verifier_secret())
        .await
        .unwrap();
    // Same scopes again: no question; a subset: no question.
    for scopes in [&["email", "profile"][..], &["email"][..]] {
        let again = AuthRequest::new(&rp, scopes);
        let callback = browser.visit(again.url.as_str()).await.callback();
        sso.exchange(&rp, again.code_from(&callback), again.verifier_secret())
            .await
            .unwrap();
    }
    // A new scope asks again.
    let wider = AuthRequest::new(&rp, &["email", "profile", "offline_access"]);
    assert!(browser
        .visit(wider.url.as_str())
        .await
        .page()
        .contains("name=\"decision\""));
}

async fn denied_consent_returns_access_denied(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.rp("consent-rp", Some(SECRET));
    let browser = sso.browser();
    let request = AuthRequest::new(&rp, &["email"]);
    let landing = browser.visit(request.url.as_str()).await;
    let consent = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await;
    let q = query(
        &browser
            .submit_consent(consent.page(), "deny")
            .await
            .callback(),
    );
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], *request.state.secret());
    // Nothing remembered: the next request asks again.
    let again = AuthRequest::new(&rp, &["email"]);
    assert!(browser
        .visit(again.url.as_str())
        .await
        .page()
        .contains("name=\"decision\""));
}

async fn prompt_consent_asks_again_and_prompt_none_without_consent_is_consent_required(
    backend: Backend,
) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.rp("consent-rp", Some(SECRET));
    let browser = sso.browser();
    // Logged in through another client, no consent for this one yet.
    sso.sign_in(&browser, &sso.default_rp(), &[]).await;
    let silent = AuthRequest::build(&rp, &["email"], true, &[("prompt", "none")]);
    assert_eq!(
        query(&browser.visit(silent.url.as_str()).await.callback())["error"],
        "consent_required"
    );
    let first = AuthRequest::new(&rp, &["email"]);
    let page = browser.visit(first.url.as_str()).await;
    browser
        .submit_consent(page.page(), "allow")
        .await
        .callback();
    let forced = AuthRequest::build(&rp, &["email"], true, &[("prompt", "consent")]);
    assert!(browser
        .visit(forced.url.as_str())
        .await
        .page()
        .contains("name=\"decision\""));
}

async fn a_client_limited_to_other_companies_gets_access_denied(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.rp("globex-rp", Some(SECRET));
    let browser = sso.browser();
    let request = AuthRequest::new(&rp, &[]);
    let landing = browser.visit(request.url.as_str()).await;
    let q = query(
        &browser
            .submit_login(landing.page(), "alice", PASSWORD)
            .await
            .callback(),
    );
    assert_eq!(q["error"], "access_denied");
    assert!(!q.contains_key("code"));
}

async fn client_credentials_issue_a_token_without_a_user(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let response = sso
        .token_request(
            &[
                ("grant_type", "client_credentials"),
                ("scope", "openid company"),
            ],
            Some(("rp", SECRET)),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none() && body.get("id_token").is_none(),
        "{body}"
    );
    let token = body["access_token"].as_str().unwrap();
    let claims = jwt_payload(token);
    assert_eq!(claims["sub"], "rp");
    assert!(claims.get("company_id").is_none());
    assert_eq!(sso.introspect(token).await["active"], true);
    // No user behind it: userinfo refuses it.
    assert_eq!(sso.userinfo_status(token).await, 401);
    // A client without the grant may not use it.
    let refused = sso
        .token_request(
            &[("grant_type", "client_credentials")],
            Some(("rp2", &format!("{SECRET}-two"))),
        )
        .await;
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
}

async fn introspection_describes_live_tokens_and_needs_client_authentication(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let sign_in = sso
        .sign_in(&sso.browser(), &sso.default_rp(), &["offline_access"])
        .await;
    let access = sso.introspect(&sign_in.access_token()).await;
    assert_eq!(access["active"], true);
    assert_eq!(access["client_id"], "rp");
    assert_eq!(access["sub"], sso.alice.id.to_string());
    assert_eq!(access["company_id"], ACME);
    assert_eq!(access["username"], "alice");
    let refresh = sso.introspect(&sign_in.refresh_token().unwrap()).await;
    assert_eq!(refresh["active"], true);
    assert_eq!(refresh["token_type"], "refresh_token");
    assert_eq!(sso.introspect("not-a-token").await["active"], false);
    let anonymous = reqwest::Client::new()
        .post(sso.url("/api/v1/sso/introspect"))
        .form(&[("token", sign_in.access_token().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let public = reqwest::Client::new()
        .post(sso.url("/api/v1/sso/introspect"))
        .form(&[
            ("token", sign_in.access_token().as_str()),
            ("client_id", "public-rp"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 401);
}

async fn revoke(sso: &Sso, client: (&str, &str), token: &str) -> u16 {
    reqwest::Client::new()
        .post(sso.url("/api/v1/sso/revoke"))
        .basic_auth(client.0, Some(client.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn revoking_a_refresh_token_revokes_its_family_and_access_tokens(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let sign_in = sso.sign_in(&sso.browser(), &rp, &["offline_access"]).await;
    let refreshed = rp
        .exchange_refresh_token(&RefreshToken::new(sign_in.refresh_token().unwrap()))
        .unwrap()
        .request_async(&sso.http)
        .await
        .unwrap();
    let current = refreshed.refresh_token().unwrap().secret().clone();
    assert_eq!(revoke(&sso, ("rp", SECRET), &current).await, 200);
    assert_eq!(sso.introspect(&current).await["active"], false);
    assert_eq!(
        sso.userinfo_status(refreshed.access_token().secret()).await,
        401
    );
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 401);
    // Unknown tokens are answered 200 too (RFC 7009 §2.2).
    assert_eq!(revoke(&sso, ("rp", SECRET), "unknown").await, 200);
}

async fn revoking_an_access_token_ends_it_and_other_clients_cannot_revoke_it(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let sign_in = sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    let token = sign_in.access_token();
    assert_eq!(
        revoke(&sso, ("rp2", &format!("{SECRET}-two")), &token).await,
        200
    );
    assert_eq!(
        sso.userinfo_status(&token).await,
        200,
        "another client's revocation must change nothing"
    );
    assert_eq!(
        revoke(&sso, ("rp", "wrong-secret-0123456789"), &token).await,
        401
    );
    assert_eq!(sso.userinfo_status(&token).await, 200);
    assert_eq!(revoke(&sso, ("rp", SECRET), &token).await, 200);
    assert_eq!(sso.userinfo_status(&token).await, 401);
    assert_eq!(sso.introspect(&token).await["active"], false);
}

async fn first_party_api_logs_in_refreshes_and_answers_me(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let http = reqwest::Client::new();
    let wrong = http
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let login: Value = http
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice@acme.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["user"]["company_id"], ACME);
    assert_eq!(login["user"]["email"], "alice@acme.example");
    let access = login["access_token"].as_str().unwrap();
    assert_eq!(jwt_payload(access)["client_id"], "bheem-workspace");
    let me: Value = http
        .get(sso.url("/api/v1/auth/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], sso.alice.id.to_string());
    let refreshed = http
        .post(sso.url("/api/v1/auth/refresh"))
        .json(&serde_json::json!({"refresh_token": login["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_ne!(refreshed["refresh_token"], login["refresh_token"]);
    let reused = http
        .post(sso.url("/api/v1/auth/refresh"))
        .json(&serde_json::json!({"refresh_token": login["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), 400);
    let no_token = http.get(sso.url("/api/v1/auth/me")).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
}

async fn a_disabled_user_loses_userinfo_refresh_a_pending_code_and_sso(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    let sign_in = sso.sign_in(&browser, &rp, &["offline_access"]).await;
    let state = &sso.h.app.state;
    // Seen once while the user is active, so the token's signature is remembered and the
    // user's row comes from the same look-up as the token's: neither may hide the change.
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 200);
    assert_eq!(
        sso.introspect(&sign_in.access_token()).await["active"],
        true
    );
    // A code issued while the user is active, through the SSO session, redeemed after.
    let pending = AuthRequest::new(&rp, &[]);
    let pending_code = pending.code_from(&browser.visit(pending.url.as_str()).await.callback());
    state
        .db
        .set_user_active(&sso.alice.id.to_string(), false, state.clock.now())
        .await
        .unwrap();
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 401);
    assert_eq!(
        sso.introspect(&sign_in.access_token()).await["active"],
        false
    );
    assert_eq!(
        sso.introspect(&sign_in.refresh_token().unwrap()).await["active"],
        false
    );
    assert!(sso
        .refresh(&rp, &sign_in.refresh_token().unwrap())
        .await
        .is_err());
    assert_eq!(
        sso.exchange(&rp, pending_code, pending.verifier_secret())
            .await
            .unwrap_err(),
        "invalid_grant"
    );
    let request = AuthRequest::build(&rp, &[], true, &[("prompt", "none")]);
    assert_eq!(
        query(&browser.visit(request.url.as_str()).await.callback())["error"],
        "login_required"
    );
    let fresh = AuthRequest::new(&rp, &[]);
    let landing = browser.visit(fresh.url.as_str()).await;
    let again = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await;
    assert_eq!(again.status(), 401);
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
        stored.contains(&bheem_sso::oidc::tokens::hash_secret(&id)),
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

async fn token_responses_are_not_cached_and_options_answers_200(backend: Backend) {
    let Some(sso) = TestApp::builder().backend(backend).start_sso().await else {
        return;
    };
    let response = sso
        .token_request(
            &[("grant_type", "client_credentials")],
            Some(("rp", SECRET)),
        )
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let options = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, sso.url("/api/v1/sso/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), 200);
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
