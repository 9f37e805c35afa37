//! Back-channel logout through the durable outbox, checked by a relying party that validates
//! the logout token the way Nextcloud's user_oidc does (its `lib/Controller/LoginController.php`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Form, Router};
use bheem_sso::config::ProvisionTarget;
use bheem_sso::store::outbox::Job;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{
    jwt_payload, AuthRequest, Backend, Browser, ClientSpec, Sso, TestApp, TestConfig,
    LOGOUT_RETURN, SECRET,
};

/// A relying party's back-channel endpoint: answers `script` in turn (then 200) and keeps what
/// it was sent.
#[derive(Clone, Default)]
struct Receiver {
    tokens: Arc<Mutex<Vec<String>>>,
    script: Arc<Mutex<Vec<StatusCode>>>,
}

impl Receiver {
    async fn start(script: Vec<StatusCode>) -> (Self, String) {
        let receiver = Receiver {
            script: Arc::new(Mutex::new(script)),
            ..Default::default()
        };
        let app = Router::new()
            .route("/backchannel", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/backchannel", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn received(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize) -> Vec<String> {
        for _ in 0..100 {
            if self.received().len() >= count {
                return self.received();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "expected {count} back-channel calls, got {}",
            self.received().len()
        );
    }
}

#[derive(serde::Deserialize)]
struct LogoutForm {
    logout_token: String,
}

async fn receive(State(r): State<Receiver>, Form(form): Form<LogoutForm>) -> StatusCode {
    r.tokens.lock().unwrap().push(form.logout_token);
    let mut script = r.script.lock().unwrap();
    if script.is_empty() {
        StatusCode::OK
    } else {
        script.remove(0)
    }
}

/// An outbox that retries within seconds, and the `docs` client, whose back-channel logout
/// endpoint is `uri`.
fn docs_logs_out_at(config: &mut TestConfig, uri: &str) {
    config
        .set("outbox.poll_interval_ms", 100)
        .set("outbox.retry_base_seconds", 1)
        .set("outbox.retry_max_seconds", 2)
        .set("outbox.max_attempts", 4)
        .client(
            ClientSpec::new("docs")
                .name("Bheem Docs")
                .secret(SECRET)
                .redirect_uri("https://rp.example/callback")
                .post_logout_redirect_uri(LOGOUT_RETURN)
                .backchannel_logout_uri(uri)
                .auth_method("client_secret_post")
                .skip_consent(),
        );
}

/// What Nextcloud checks of a logout token: signature by a JWKS key named by `kid`, `iss`,
/// `aud`, `iat`, `exp`, `jti`, the event, `sid` and/or `sub`, and no `nonce`.
pub async fn accepted_claims(sso: &Sso, token: &str, client_id: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(header.alg, Algorithm::RS256);
    let kid = header.kid.expect("kid");
    let jwks: Value = sso
        .h
        .app
        .get("/api/v1/sso/jwks")
        .await
        .json()
        .await
        .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("kid in JWKS")
        .clone();
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[sso.h.app.base.as_str()]);
    validation.set_audience(&[client_id]);
    validation.leeway = 60;
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat"]);
    let claims = jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .expect("logout token verifies")
        .claims;
    assert!(claims["jti"].is_string());
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());
    claims
}

async fn sign_in_to_docs(sso: &Sso, browser: &Browser) -> String {
    let rp = sso
        .rp("docs", Some(SECRET))
        .set_auth_type(openidconnect::AuthType::RequestBody);
    sso.sign_in(browser, &rp, &[]).await.id_token()
}

fn logout_url(sso: &Sso, hint: &str) -> String {
    let mut url = url::Url::parse(&sso.url("/api/v1/sso/logout")).unwrap();
    url.query_pairs_mut().append_pair("id_token_hint", hint);
    url.to_string()
}

on_both_backends!(
    rp_initiated_logout_sends_a_logout_token_the_client_accepts,
    clients_that_got_no_tokens_in_the_session_are_not_called,
    a_failing_back_channel_endpoint_is_retried_until_it_answers,
    a_refusing_endpoint_fails_the_job_with_its_message_and_retry_queues_it_again,
    disabling_a_user_logs_them_out_of_the_clients,
    concurrent_workers_claim_each_job_once,
);

async fn rp_initiated_logout_sends_a_logout_token_the_client_accepts(backend: Backend) {
    let (receiver, uri) = Receiver::start(vec![]).await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| docs_logs_out_at(c, &uri))
        .start_sso()
        .await
    else {
        return;
    };
    let discovery: Value = sso
        .h
        .app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);
    let browser = sso.browser();
    let id_token = sign_in_to_docs(&sso, &browser).await;
    // Another client in the same session, without a back-channel URI: single sign-on.
    let other = sso.default_rp();
    let request = AuthRequest::new(&other, &[]);
    let callback = browser.visit(request.url.as_str()).await.callback();
    sso.exchange(
        &other,
        request.code_from(&callback),
        request.verifier_secret(),
    )
    .await
    .unwrap();
    browser.visit(&logout_url(&sso, &id_token)).await;
    let tokens = receiver.wait_for(1).await;
    let claims = accepted_claims(&sso, &tokens[0], "docs").await;
    let id = jwt_payload(&id_token);
    assert_eq!(
        claims["sid"], id["sid"],
        "the sid Nextcloud stored from the ID token"
    );
    assert_eq!(claims["sub"], id["sub"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1, "sent once");
    let jobs = sso.h.app.state.db.job_statuses().await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, "done");
}

async fn clients_that_got_no_tokens_in_the_session_are_not_called(backend: Backend) {
    let (receiver, uri) = Receiver::start(vec![]).await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| docs_logs_out_at(c, &uri))
        .start_sso()
        .await
    else {
        return;
    };
    let browser = sso.browser();
    let sign_in = sso.sign_in(&browser, &sso.default_rp(), &[]).await;
    browser.visit(&logout_url(&sso, &sign_in.id_token())).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(receiver.received().is_empty());
    assert!(sso.h.app.state.db.job_statuses().await.unwrap().is_empty());
}

async fn a_failing_back_channel_endpoint_is_retried_until_it_answers(backend: Backend) {
    let (receiver, uri) = Receiver::start(vec![
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::BAD_GATEWAY,
    ])
    .await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| docs_logs_out_at(c, &uri))
        .start_sso()
        .await
    else {
        return;
    };
    let browser = sso.browser();
    let id_token = sign_in_to_docs(&sso, &browser).await;
    browser.visit(&logout_url(&sso, &id_token)).await;
    let tokens = receiver.wait_for(3).await;
    accepted_claims(&sso, &tokens[2], "docs").await;
    for _ in 0..50 {
        let jobs = sso.h.app.state.db.job_statuses().await.unwrap();
        if jobs[0].state == "done" {
            assert_eq!(jobs[0].attempts, 3);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the job never completed");
}

async fn a_refusing_endpoint_fails_the_job_with_its_message_and_retry_queues_it_again(
    backend: Backend,
) {
    let (receiver, uri) = Receiver::start(vec![StatusCode::BAD_REQUEST]).await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| docs_logs_out_at(c, &uri))
        .start_sso()
        .await
    else {
        return;
    };
    let browser = sso.browser();
    let id_token = sign_in_to_docs(&sso, &browser).await;
    browser.visit(&logout_url(&sso, &id_token)).await;
    receiver.wait_for(1).await;
    let db = &sso.h.app.state.db;
    let mut failed = None;
    for _ in 0..50 {
        let jobs = db.job_statuses().await.unwrap();
        if jobs[0].state == "failed" {
            failed = Some(jobs[0].clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed = failed.expect("a 400 fails the job for good");
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("400"),
        "{failed:?}"
    );
    assert_eq!(
        db.retry_failed_jobs(None, sso.h.app.state.clock.now())
            .await
            .unwrap(),
        1
    );
    receiver.wait_for(2).await;
}

async fn disabling_a_user_logs_them_out_of_the_clients(backend: Backend) {
    let (receiver, uri) = Receiver::start(vec![]).await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| docs_logs_out_at(c, &uri))
        .start_sso()
        .await
    else {
        return;
    };
    let browser = sso.browser();
    sign_in_to_docs(&sso, &browser).await;
    let state = &sso.h.app.state;
    state
        .db
        .set_user_active(&sso.alice.id.to_string(), false, state.clock.now())
        .await
        .unwrap();
    // Noticed at the next visit.
    let request = AuthRequest::build(&sso.default_rp(), &[], true, &[("prompt", "none")]);
    browser.visit(request.url.as_str()).await;
    let tokens = receiver.wait_for(1).await;
    accepted_claims(&sso, &tokens[0], "docs").await;
}

async fn concurrent_workers_claim_each_job_once(backend: Backend) {
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .set("outbox.poll_interval_ms", 3_600_000)
        .start_sso()
        .await
    else {
        return;
    };
    let db = sso.h.app.state.db.clone();
    // Due an hour from now, and claimed as of then: the server's own worker, whose first round
    // may run late on a loaded machine, claims as of its clock and so never takes one of these.
    let due = sso.h.app.state.clock.now() + 3600;
    let mut tx = db.pool().begin().await.unwrap();
    for i in 0..60 {
        let job = Job::disable_account(ProvisionTarget::Nextcloud, &format!("user-{i}"));
        bheem_sso::store::outbox::enqueue(&mut tx, &job, due)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let claim = |db: bheem_sso::store::Db| async move {
        let mut ids = Vec::new();
        loop {
            let jobs = db.claim_jobs(due, 600, 5).await.unwrap();
            // An empty batch is not "all done": SKIP LOCKED also passes over rows the other
            // worker is claiming, and a LIMIT can then come back short or empty.
            if jobs.is_empty() {
                let pending: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
                        .fetch_one(db.pool())
                        .await
                        .unwrap();
                if pending == 0 {
                    return ids;
                }
                tokio::task::yield_now().await;
                continue;
            }
            ids.extend(jobs.into_iter().map(|j| j.id));
        }
    };
    let (a, b) = tokio::join!(claim(db.clone()), claim(db.clone()));
    let mut all: Vec<String> = a.iter().chain(b.iter()).cloned().collect();
    all.sort();
    let total = all.len();
    all.dedup();
    assert_eq!(total, 60, "every job claimed");
    assert_eq!(all.len(), 60, "no job claimed twice");
}
