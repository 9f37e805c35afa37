//! Every request has an id: a trusted proxy's `X-Request-Id`, or a new one. It comes back in
//! the response, on the error page, and in every log line of the request, with the route, the
//! client's address, the status and the latency, and the client and user once they are known.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{ClientSpec, TestApp, TestConfig};

const ID: &str = "x-request-id";

fn id_of(response: &reqwest::Response) -> String {
    response.headers()[ID].to_str().unwrap().to_owned()
}

fn is_generated(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn each_response_has_a_new_id_and_a_clients_own_is_not_believed() {
    let h = TestApp::builder().start().await.unwrap();
    let (a, b) = (
        h.app.get("/.well-known/openid-configuration").await,
        h.app.get("/no/such/path").await,
    );
    let (a, b) = (id_of(&a), id_of(&b));
    assert!(is_generated(&a) && is_generated(&b), "{a} {b}");
    assert_ne!(a, b);
    // No trusted proxies: the peer is a client, and writes what it likes.
    let sent = h
        .app
        .http
        .get(h.app.url("/health"))
        .header(ID, "chosen-by-the-client")
        .send()
        .await
        .unwrap();
    let id = id_of(&sent);
    assert!(is_generated(&id), "{id}");
}

#[tokio::test]
async fn a_trusted_proxys_id_is_kept_when_it_is_plain() {
    let h = TestApp::builder()
        .set("trusted_proxies", vec!["127.0.0.1/32"])
        .start()
        .await
        .unwrap();
    let send = |id: &'static str| h.app.http.get(h.app.url("/health")).header(ID, id).send();
    let kept = send("0f8e2a9b6c5d4e3f2a1b0c9d8e7f6a5b").await.unwrap();
    assert_eq!(id_of(&kept), "0f8e2a9b6c5d4e3f2a1b0c9d8e7f6a5b");
    let replaced = send("<script>alert(1)</script>").await.unwrap();
    assert!(is_generated(&id_of(&replaced)));
}

#[tokio::test]
async fn the_error_page_shows_the_id_a_person_can_quote() {
    let h = TestApp::builder().start().await.unwrap();
    let response = h
        .app
        .get("/api/v1/sso/authorize?client_id=nobody&response_type=code&scope=openid")
        .await;
    assert_eq!(response.status(), 400);
    let id = id_of(&response);
    let page = response.text().await.unwrap();
    assert!(
        page.contains(&format!("request <code>{id}</code>")),
        "{page}"
    );
    // Refusals rendered outside the handlers (a method not taken) carry it too.
    let refused = h.app.http.put(h.app.url("/login")).send().await.unwrap();
    let id = id_of(&refused);
    assert!(refused.text().await.unwrap().contains(&id));
}

/// The binary, with `log_format = "json"` and `access_log = true`, behind a "proxy" (this test,
/// trusted on 127.0.0.1) that forwards for 198.51.100.7.
#[tokio::test]
async fn json_log_lines_carry_the_request_id_route_client_status_and_latency() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut config = TestConfig::default();
    config
        .set("issuer", base.as_str())
        .set("listen", format!("127.0.0.1:{port}"))
        .set("database_url", "sqlite://data/sso.db")
        .set("keys_dir", "keys")
        .set("trusted_proxies", vec!["127.0.0.1/32"])
        .set("log_format", "json")
        .set("access_log", true)
        .client(
            ClientSpec::new("logged-rp")
                .secret("logged-rp-secret-0123456789")
                .grant_types(&["client_credentials"]),
        );
    std::fs::write(dir.path().join("sso.toml"), config.to_string()).unwrap();
    let bheem_sso = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bheem-sso"));
        for (name, _) in std::env::vars() {
            if name.starts_with("BHEEM_SSO_") || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        command.current_dir(dir.path());
        command
    };
    // Admin commands act only on a database that exists: made first, as an operator would.
    let migrated = bheem_sso()
        .args(["migrate", "--config", "sso.toml"])
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let mut add = bheem_sso()
        .args([
            "users",
            "add",
            "--config",
            "sso.toml",
            "--email",
            "ada@example.com",
        ])
        .args([
            "--name",
            "Ada",
            "--company-id",
            "0b6c1f0e-2f57-4f43-9a49-6a0e2f1f3c55",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    add.stdin
        .take()
        .unwrap()
        .write_all(b"ada-password-12345\n")
        .unwrap();
    assert!(add.wait().unwrap().success());
    let mut child = Killed(
        bheem_sso()
            .args(["serve", "--config", "sso.toml"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let token = loop {
        let sent = http
            .post(format!("{base}/api/v1/sso/token"))
            .basic_auth("logged-rp", Some("logged-rp-secret-0123456789"))
            .header("x-forwarded-for", "198.51.100.7")
            .header("user-agent", "request-id-test/1")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await;
        match sent {
            Ok(response) => break response,
            Err(_) if Instant::now() < deadline => {
                assert!(child.try_wait().unwrap().is_none(), "the server exited");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the server never answered: {e}"),
        }
    };
    assert_eq!(token.status(), 200);
    let id = id_of(&token);
    let missing = http.get(format!("{base}/nowhere")).send().await.unwrap();
    let missing_id = id_of(&missing);
    let login = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "ada@example.com", "password": "ada-password-12345"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let login_id = id_of(&login);
    let user_id = login.json::<serde_json::Value>().await.unwrap()["user"]["id"]
        .as_str()
        .expect("the login answer names the user")
        .to_owned();

    let mut lines: Vec<serde_json::Value> = Vec::new();
    let has = |lines: &[serde_json::Value], id: &str| {
        lines
            .iter()
            .any(|l| l["request_id"] == id && l["message"] == "request answered")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = |lines: &[serde_json::Value]| {
        [&id, &missing_id, &login_id]
            .iter()
            .all(|id| has(lines, id))
    };
    while !done(&lines) && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
        }
    }
    let answered = lines
        .iter()
        .find(|l| l["request_id"] == id.as_str() && l["message"] == "request answered")
        .unwrap_or_else(|| panic!("no access line for {id} in {lines:#?}"));
    assert_eq!(answered["level"], "INFO");
    assert_eq!(answered["route"], "/api/v1/sso/token");
    assert_eq!(answered["method"], "POST");
    assert_eq!(answered["status"], 200);
    assert_eq!(answered["client_addr"], "198.51.100.7");
    assert_eq!(answered["client_id"], "logged-rp");
    assert!(answered["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(answered["timestamp"].as_str().unwrap().ends_with('Z'));
    let unmatched = lines
        .iter()
        .find(|l| l["request_id"] == missing_id.as_str() && l["message"] == "request answered")
        .unwrap();
    assert_eq!(unmatched["status"], 404);
    assert_eq!(unmatched["route"], "unmatched");
    let logged_in = lines
        .iter()
        .find(|l| l["request_id"] == login_id.as_str() && l["message"] == "request answered")
        .unwrap();
    assert_eq!(logged_in["user"], user_id.as_str());
    assert_eq!(logged_in["client_id"], "bheem-workspace");
    assert_eq!(logged_in["route"], "/api/v1/auth/login");
    // The start-up line is JSON too, and nothing in the log is the client's secret.
    assert!(lines.iter().any(|l| l["message"] == "bheem-sso listening"));
    let all = lines
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!all.contains("logged-rp-secret") && !all.contains("ada-password"));
}

/// The server, killed when the test ends, whether it passed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
