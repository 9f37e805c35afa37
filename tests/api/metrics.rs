//! The Prometheus metrics, as an operator scrapes them: the real binary (the recorder is
//! process-wide, so each test runs a server process of its own), with `metrics_listen` set,
//! driven as its users drive it, and every counter read back from the scrape with its labels.
//! And the Grafana dashboard in deploy/grafana asks only for metrics the server exports.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bheem_sso::telemetry::{Kind, METRICS};
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, RedirectUrl};
use serde_json::json;

use crate::on_both_backends;
use crate::support::{AuthRequest, Backend, Browser, ClientSpec, TestConfig, TestDb, CALLBACK};

const COMPANY: &str = "0b6c1f0e-2f57-4f43-9a49-6a0e2f1f3c55";
const ALICE: &str = "alice@acme.example";
const PASSWORD: &str = "alice-password-1";
const SECRET: &str = "rp-secret-0123456789abcdef";
const WORKSPACE: &str = "bheem-workspace";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary in `dir`, with no `BHEEM_SSO_*` variable of the test's environment.
fn bheem_sso(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bheem-sso"));
    command.current_dir(dir).env("RUST_LOG", "info");
    for (name, _) in std::env::vars() {
        if name.starts_with("BHEEM_SSO_") {
            command.env_remove(name);
        }
    }
    command
}

/// A bheem-sso process in a folder of its own, stopped (SIGTERM) when dropped.
struct Server {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
    /// What it logs, read as it comes so the pipe never fills.
    log: Option<std::thread::JoinHandle<String>>,
    _db: TestDb,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    /// Writes `config` (with its listener, database and keys), adds alice, starts `serve` and
    /// waits until the site answers. `None` where the backend is not available.
    async fn start(backend: Backend, mut config: TestConfig) -> Option<Self> {
        let db = TestDb::new(backend).await?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        config
            .set("issuer", base.as_str())
            .set("listen", format!("127.0.0.1:{port}"))
            .set("database_url", db.url.as_str())
            .set("keys_dir", dir.path().join("keys").display().to_string())
            .set("password.memory_kib", 8192)
            .set("password.iterations", 1);
        std::fs::write(dir.path().join("bheem-sso.toml"), config.to_string()).unwrap();
        let mut add = bheem_sso(dir.path())
            .args(["users", "add", "--email", ALICE, "--name", "Alice"])
            .args(["--company-id", COMPANY, "--username", "alice"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        let added = add.wait_with_output().unwrap();
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
        let mut child = bheem_sso(dir.path())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::thread::spawn(move || {
            let lines: Vec<String> = BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .collect();
            lines.join("\n")
        });
        let mut server = Self {
            child,
            base,
            dir,
            log: Some(log),
            _db: db,
        };
        server.wait_for(port);
        Some(server)
    }

    /// Probes `port` until it takes connections.
    fn wait_for(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nothing listens on {port}");
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the server exited"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and returns what it logged.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        let log = self.log.take().unwrap().join().unwrap();
        assert!(status.success(), "{status:?}\n{log}");
        log
    }
}

/// One line of the text format, `name{label="value",…} value`, as a name, its labels and its
/// value. Comments and blank lines are `None`.
fn sample(line: &str) -> Option<(String, BTreeMap<String, String>, f64)> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let (name, labels) = match series.split_once('{') {
        Some((name, labels)) => (name, labels.strip_suffix('}')?),
        None => (series, ""),
    };
    let labels = labels
        .split("\",")
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once("=\"").expect("label=\"value\"");
            (key.to_owned(), value.trim_end_matches('"').to_owned())
        })
        .collect();
    Some((name.to_owned(), labels, value.parse().ok()?))
}

/// The value of the series `name` with exactly `labels` in the scrape `text`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    text.lines()
        .filter_map(sample)
        .find(|(n, l, _)| n == name && *l == wanted)
        .map(|(_, _, v)| v)
}

async fn scrape(metrics: &str) -> String {
    let response = reqwest::get(format!("{metrics}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

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
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = scrape(&metrics).await;
        if value(&text, "bheem_sso_deliveries_total", &delivered).is_some() {
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
        let wrong = [("outcome", "invalid_credentials"), ("via", via)];
        expect("bheem_sso_logins_total", &wrong, 1.0);
    }
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
        1.0,
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
    assert_eq!(timed, Some(2.0));

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

on_both_backends!(
    each_event_is_counted_once_with_its_labels,
    metrics_are_off_unless_asked_for
);

/// The metric names a PromQL expression uses: every `bheem_sso_…` word, less the suffixes
/// Prometheus adds to a histogram's series.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("bheem_sso_") {
        let word: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + word.len()..];
        names.insert(word);
    }
    names
}

fn exported(name: &str) -> bool {
    METRICS.iter().any(|m| {
        m.name == name
            || m.kind == Kind::Histogram
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| name.strip_suffix(suffix) == Some(m.name))
    })
}

#[test]
fn the_dashboard_asks_only_for_metrics_the_server_exports() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/bheem-sso.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut used = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr} uses no metric of ours");
            used.extend(names);
        }
    }
    let unknown: Vec<_> = used.iter().filter(|name| !exported(name)).collect();
    assert!(unknown.is_empty(), "not exported: {unknown:?}");
    // And the other way round: each metric has a panel.
    for metric in METRICS {
        assert!(
            used.iter().any(|name| name.starts_with(metric.name)),
            "{} has no panel",
            metric.name
        );
    }
}

#[test]
fn the_dashboard_check_catches_a_misspelt_metric() {
    let names =
        metric_names("sum(rate(bheem_sso_http_request_total[5m])) / sum(bheem_sso_logins_total)");
    assert_eq!(
        names.iter().map(String::as_str).collect::<Vec<_>>(),
        ["bheem_sso_http_request_total", "bheem_sso_logins_total"]
    );
    assert!(!exported("bheem_sso_http_request_total"));
    assert!(exported("bheem_sso_logins_total"));
    assert!(exported("bheem_sso_http_request_duration_seconds_bucket"));
    assert!(!exported("bheem_sso_logins_total_bucket"));
}
