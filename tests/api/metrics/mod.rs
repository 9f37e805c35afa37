//! The Prometheus metrics, as an operator scrapes them: the real binary (the recorder is
//! process-wide, so each test runs a server process of its own), with `metrics_listen` set,
//! driven as its users drive it, and every counter read back from the scrape with its labels;
//! the outbox gauges' query on its own; and the Grafana dashboard in deploy/grafana, which must
//! ask only for metrics the server exports.

mod dashboard;
mod mail;
mod meet;
mod outbox;
mod server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bheem_sso::telemetry::{Kind, METRICS};
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, RedirectUrl};
use serde_json::json;

use crate::on_both_backends;
use crate::support::{AuthRequest, Backend, Browser, ClientSpec, TestConfig, CALLBACK};
use server::{bheem_sso, free_port, scrape, value, Server, ALICE, PASSWORD, SECRET, WORKSPACE};

/// A back-channel logout endpoint that is down: it answers 503 and counts the calls.
async fn unavailable_backchannel() -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = axum::Router::new().route(
        "/backchannel",
        axum::routing::post(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { axum::http::StatusCode::SERVICE_UNAVAILABLE }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/backchannel", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

async fn api_login(server: &Server, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({ "username": ALICE, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn api_refresh(server: &Server, refresh_token: &str) -> u16 {
    reqwest::Client::new()
        .post(server.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Logs alice in on the hosted page, once with a wrong password first, and exchanges the code.
async fn page_login(server: &Server) {
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http)
            .await
            .unwrap();
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("rp".into()),
        Some(ClientSecret::new(SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());
    let request = AuthRequest::new(&rp, &["openid"]);
    let browser = Browser::new(&server.base);
    let landing = browser.visit(request.url.as_str()).await;
    let landing = browser
        .submit_login(landing.page(), ALICE, "not her password")
        .await;
    assert!(landing.is_login_page(), "{landing:?}");
    let callback = browser
        .submit_login(landing.page(), ALICE, PASSWORD)
        .await
        .callback();
    let code = request.code_from(&callback);
    let verifier = request.verifier_secret().unwrap();
    let exchanged = reqwest::Client::new()
        .post(server.url("/api/v1/sso/token"))
        .basic_auth("rp", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        exchanged.status(),
        200,
        "{}",
        exchanged.text().await.unwrap()
    );
}

/// Every event the metrics count, once or twice each, and each count read back with its labels
/// from the scrape; the outbox gauges from a back-channel logout whose receiver is down.
async fn each_event_is_counted_once_with_its_labels(backend: Backend) {
    let (backchannel, calls) = unavailable_backchannel().await;
    let metrics_port = free_port();
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    let mut config = TestConfig::default();
    config
        .set("metrics_listen", format!("127.0.0.1:{metrics_port}"))
        .set("outbox.poll_interval_ms", 50)
        // The failed delivery is not tried again while the test looks.
        .set("outbox.retry_base_seconds", 3600)
        .client(
            ClientSpec::new("rp")
                .secret(SECRET)
                .redirect_uri(CALLBACK)
                .backchannel_logout_uri(backchannel.as_str())
                .grant_types(&["authorization_code", "refresh_token", "client_credentials"])
                .skip_consent(),
        );
    let Some(mut server) = Server::start(backend, config).await else {
        return;
    };
    server.wait_for(metrics_port);

    let ok = api_login(&server, PASSWORD).await;
    assert_eq!(ok.status(), 200);
    let tokens: serde_json::Value = ok.json().await.unwrap();
    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(api_login(&server, "not her password").await.status(), 401);
    let nobody = reqwest::Client::new()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({ "username": "nobody@acme.example", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(nobody.status(), 401);
    assert_eq!(api_refresh(&server, &first_refresh).await, 200);
    assert_eq!(api_refresh(&server, &first_refresh).await, 400, "a reuse");
    let service = reqwest::Client::new()
        .post(server.url("/api/v1/sso/token"))
        .basic_auth("rp", Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(service.status(), 200);
    page_login(&server).await;
    // The site has no /metrics: that is the metrics listener's alone.
    let not_here = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(not_here.status(), 404);
    // And the metrics listener serves nothing of the site's.
    let discovery = reqwest::get(format!("{metrics}/.well-known/openid-configuration"))
        .await
        .unwrap();
    assert_eq!(discovery.status(), 404);

    // Ending alice's sessions queues a back-channel logout for rp; its delivery fails.
    let logout = bheem_sso(server.dir.path())
        .args(["users", "logout", ALICE])
        .output()
        .unwrap();
    assert!(
        logout.status.success(),
        "{}",
        String::from_utf8_lossy(&logout.stderr)
    );
    let delivered = [("target", "backchannel"), ("outcome", "retry")];
    let retrying = [("kind", "backchannel_logout"), ("state", "pending")];
    let deadline = Instant::now() + Duration::from_secs(30);
    // The delivery is counted when the call fails, and the job is put back to wait a moment
    // later: until then it reads as `running`. Both, before anything is read.
    let text = loop {
        let text = scrape(&metrics).await;
        if value(&text, "bheem_sso_deliveries_total", &delivered).is_some()
            && value(&text, "bheem_sso_outbox_jobs", &retrying) == Some(1.0)
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no delivery was counted:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let expect = |name: &str, labels: &[(&str, &str)], wanted: f64| {
        assert_eq!(
            value(&text, name, labels),
            Some(wanted),
            "{name}{labels:?} in:\n{text}"
        );
    };
    for via in ["api", "page"] {
        expect(
            "bheem_sso_logins_total",
            &[("outcome", "ok"), ("via", via)],
            1.0,
        );
        let wrong = [("outcome", "wrong_password"), ("via", via)];
        expect("bheem_sso_logins_total", &wrong, 1.0);
    }
    let nobody = [("outcome", "unknown_user"), ("via", "api")];
    expect("bheem_sso_logins_total", &nobody, 1.0);
    let tokens = "bheem_sso_tokens_issued_total";
    expect(
        tokens,
        &[("grant", "first_party_login"), ("client_id", WORKSPACE)],
        1.0,
    );
    expect(
        tokens,
        &[("grant", "refresh_token"), ("client_id", WORKSPACE)],
        1.0,
    );
    expect(
        tokens,
        &[("grant", "client_credentials"), ("client_id", "rp")],
        1.0,
    );
    expect(
        tokens,
        &[("grant", "authorization_code"), ("client_id", "rp")],
        1.0,
    );
    expect(
        "bheem_sso_refresh_reuse_detected_total",
        &[("client_id", WORKSPACE)],
        1.0,
    );
    expect("bheem_sso_deliveries_total", &delivered, 1.0);

    let requests = "bheem_sso_http_requests_total";
    let login = "/api/v1/auth/login";
    expect(
        requests,
        &[("route", login), ("method", "POST"), ("status", "200")],
        1.0,
    );
    expect(
        requests,
        &[("route", login), ("method", "POST"), ("status", "401")],
        2.0,
    );
    let refresh = [("route", "/api/v1/auth/refresh"), ("method", "POST")];
    expect(requests, &[refresh[0], refresh[1], ("status", "200")], 1.0);
    expect(requests, &[refresh[0], refresh[1], ("status", "400")], 1.0);
    expect(
        requests,
        &[("route", "unmatched"), ("method", "GET"), ("status", "404")],
        1.0,
    );
    assert!(
        !text.contains("route=\"/metrics\""),
        "an unmatched path is not a label value of its own"
    );
    let timed = value(
        &text,
        "bheem_sso_http_request_duration_seconds_count",
        &[("route", login), ("method", "POST")],
    );
    assert_eq!(timed, Some(3.0));

    // The retry waits an hour: one job pending, none due.
    let outbox = "bheem_sso_outbox_jobs";
    expect(
        outbox,
        &[("kind", "backchannel_logout"), ("state", "pending")],
        1.0,
    );
    expect(
        outbox,
        &[("kind", "backchannel_logout"), ("state", "failed")],
        0.0,
    );
    expect(
        outbox,
        &[("kind", "provision_nextcloud"), ("state", "pending")],
        0.0,
    );
    expect(
        "bheem_sso_outbox_oldest_due_seconds",
        &[("kind", "backchannel_logout")],
        0.0,
    );

    let most = match backend {
        Backend::Sqlite => 8.0,
        Backend::Postgres => 16.0,
    };
    expect("bheem_sso_db_pool_max_connections", &[], most);
    let open: f64 = ["idle", "kept", "busy"]
        .iter()
        .map(|state| value(&text, "bheem_sso_db_pool_connections", &[("state", state)]).unwrap())
        .sum();
    assert!(open >= 1.0 && open <= most, "{open} connections open");
    let waits = value(&text, "bheem_sso_db_acquire_duration_seconds_count", &[]).unwrap();
    assert!(
        waits >= 4.0,
        "the token grants took hot connections: {waits}"
    );
    expect("bheem_sso_password_hash_queue", &[], 0.0);
    expect("bheem_sso_password_hashes_in_flight", &[], 0.0);
    assert!(value(&text, "bheem_sso_password_hash_slots", &[]).unwrap() >= 1.0);
    let version = env!("CARGO_PKG_VERSION");
    expect("bheem_sso_build_info", &[("version", version)], 1.0);

    // Every metric of the table is there, typed as the table says.
    for metric in METRICS {
        let kind = match metric.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let typed = format!("# TYPE {} {kind}", metric.name);
        assert!(text.contains(&typed), "{typed} missing from:\n{text}");
    }
    // No secret reached a label.
    for secret in [PASSWORD, SECRET, first_refresh.as_str()] {
        assert!(!text.contains(secret));
    }
    drop(server);
}

/// Without `metrics_listen` nothing is recorded and no metrics listener starts.
async fn metrics_are_off_unless_asked_for(backend: Backend) {
    let Some(server) = Server::start(backend, TestConfig::default()).await else {
        return;
    };
    assert_eq!(api_login(&server, PASSWORD).await.status(), 200);
    assert_eq!(
        reqwest::get(server.url("/metrics")).await.unwrap().status(),
        404
    );
    let log = server.stop();
    assert!(log.contains("bheem-sso listening"), "{log}");
    assert!(!log.contains("metrics listening"), "{log}");
}

/// A refused login is counted by why: the right password of a disabled account, then the
/// attempt the account's limit holds back.
async fn refused_logins_are_counted_by_why(backend: Backend) {
    let metrics_port = free_port();
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    let mut config = TestConfig::default();
    config
        .set("metrics_listen", format!("127.0.0.1:{metrics_port}"))
        .set("login_limits.per_account_per_minute", 1);
    let Some(mut server) = Server::start(backend, config).await else {
        return;
    };
    server.wait_for(metrics_port);
    let disable = bheem_sso(server.dir.path())
        .args(["users", "disable", ALICE])
        .output()
        .unwrap();
    assert!(
        disable.status.success(),
        "{}",
        String::from_utf8_lossy(&disable.stderr)
    );
    assert_eq!(api_login(&server, PASSWORD).await.status(), 401);
    assert_eq!(api_login(&server, PASSWORD).await.status(), 429);

    let text = scrape(&metrics).await;
    let logins = |outcome: &str| {
        value(
            &text,
            "bheem_sso_logins_total",
            &[("outcome", outcome), ("via", "api")],
        )
    };
    assert_eq!(logins("disabled"), Some(1.0), "{text}");
    assert_eq!(logins("throttled"), Some(1.0), "{text}");
    assert_eq!(logins("ok"), None, "{text}");
    assert_eq!(logins("wrong_password"), None, "{text}");
    let throttled = [
        ("route", "/api/v1/auth/login"),
        ("method", "POST"),
        ("status", "429"),
    ];
    assert_eq!(
        value(&text, "bheem_sso_http_requests_total", &throttled),
        Some(1.0)
    );
}

on_both_backends!(
    each_event_is_counted_once_with_its_labels,
    metrics_are_off_unless_asked_for,
    refused_logins_are_counted_by_why
);
