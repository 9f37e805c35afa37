//! bheem-sso behind Debian's nginx, as deploy/ ships them: nginx terminates TLS with a
//! self-signed certificate made for the test, bheem-sso (the real binary) has an https issuer
//! and trusts nginx as its proxy. Through it, a person logs in with headless Chromium; failed
//! logins are throttled per client address, not per proxy; and one request id is in nginx's
//! log, bheem-sso's log and the response.

mod nginx;
mod server;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::{json, Value};

use crate::browser::webdriver::ChromeDriver;
use crate::browser::{browser_tools, client, no_redirects, RelyingParty, ALICE};
use crate::support::{jwt_payload, Certificate, TestConfig, ACME, PASSWORD};
use nginx::Nginx;
use server::Server;

/// nginx in front of bheem-sso, each in a folder of its own under one temporary folder.
struct Deployment {
    issuer: String,
    cert: Certificate,
    // Dropped in this order: nginx first, then bheem-sso, then the folder they used.
    nginx: Nginx,
    server: Server,
    _dir: tempfile::TempDir,
}

impl Deployment {
    /// `None` (skip) outside CI when nginx is not installed.
    async fn start(edit: impl FnOnce(&mut TestConfig)) -> Option<Self> {
        Nginx::installed()?;
        let dir = tempfile::tempdir().unwrap();
        let (https_port, http_port) = (free_port(), free_port());
        let issuer = format!("https://127.0.0.1:{https_port}");
        let cert = Certificate::self_signed(dir.path());
        let mut config = TestConfig::default();
        config
            .set("issuer", issuer.as_str())
            .set("trusted_proxies", vec!["127.0.0.1/32"])
            // Cheap hashes, as in every test that is not about hashing.
            .set("password.memory_kib", 8192)
            .set("password.iterations", 1);
        edit(&mut config);
        let (bheem_dir, nginx_dir) = (dir.path().join("bheem-sso"), dir.path().join("nginx"));
        std::fs::create_dir(&bheem_dir).unwrap();
        std::fs::create_dir(&nginx_dir).unwrap();
        let server = Server::start(&bheem_dir, config, (ALICE, "alice", ACME, PASSWORD)).await;
        let nginx = Nginx::start(&nginx_dir, https_port, http_port, server.addr, &cert).await;
        Some(Self {
            issuer,
            cert,
            nginx,
            server,
            _dir: dir,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Polls the access log of nginx until a line satisfies `matches`.
    async fn access_log_line(&self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.nginx.access_log();
            if let Some(line) = log.lines().find(|l| matches(l)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no line in nginx's access log {what}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A port nobody listens on just now. nginx must be told its ports in its configuration, so it
/// cannot be given port 0 as the other servers in the tests are; another process taking the
/// port in between would make nginx's start fail loudly, not the test pass wrongly.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_person_logs_in_through_nginx_over_https_in_chromium() {
    let Some(chromedriver) = browser_tools() else {
        return;
    };
    let rp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rp_base = format!("http://{}", rp_listener.local_addr().unwrap());
    let Some(d) = Deployment::start(|config| {
        config.client(client(&rp_base));
    })
    .await
    else {
        return;
    };
    // The relying party trusts the test's certificate, and no other.
    let rp_http = no_redirects()
        .tls_built_in_root_certs(false)
        .add_root_certificate(openidconnect::reqwest::Certificate::from_pem(&d.cert.pem).unwrap());
    let rp = RelyingParty::discover(&d.issuer, &rp_base, rp_http).await;
    let rp_router = rp.clone().router();
    tokio::spawn(async move { axum::serve(rp_listener, rp_router).await });

    let profile = tempfile::tempdir().unwrap();
    let driver = ChromeDriver::start(&chromedriver).await;
    let browser = driver
        .open_chromium_with(profile.path(), &["--ignore-certificate-errors"])
        .await;
    browser.goto(&format!("{rp_base}/start")).await;
    let login = browser.wait_for("input[name=login]").await;
    let login_page = browser.current_url().await;
    assert!(
        login_page.starts_with(&d.url("/login")),
        "the login page is at {login_page}"
    );
    d.access_log_line("for the login page, answered 200", |l| {
        l.contains("\"GET /login ") && l.contains(" 200 ")
    })
    .await;
    assert_host_only_secure(&browser.cookies().await, &["__Host-bheem_sso"]);

    browser.type_into(&login, ALICE).await;
    let password = browser.find("input[name=password]").await.unwrap();
    browser.type_into(&password, PASSWORD).await;
    let submit = browser.find("button[type=submit]").await.unwrap();
    browser.click(&submit).await;
    let landed = browser
        .wait_for_page_at(&format!("{rp_base}/callback"))
        .await;
    assert!(
        landed.contains("Signed in as alice@acme.example"),
        "{landed}"
    );

    // Every token names the https issuer, as discovery does.
    let tokens = rp
        .signed_in
        .lock()
        .unwrap()
        .take()
        .expect("the RP signed alice in");
    let id_token = jwt_payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(id_token["iss"], d.issuer);
    let access_token = jwt_payload(tokens.access_token().secret());
    assert_eq!(access_token["iss"], d.issuer);
    let discovery: Value = d
        .cert
        .client(None)
        .get(d.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], d.issuer);
    assert_eq!(discovery["token_endpoint"], d.url("/api/v1/sso/token"));
    d.access_log_line("for the RP's code exchange", |l| {
        l.contains("\"POST /api/v1/sso/token ") && l.contains(" 200 ")
    })
    .await;

    // Back on the provider's site, the browser holds the renewed session and its device cookie.
    browser
        .goto(&d.url("/.well-known/openid-configuration"))
        .await;
    assert_host_only_secure(
        &browser.cookies().await,
        &["__Host-bheem_sso", "__Host-bheem_device"],
    );
    browser.quit().await;

    // An RP-initiated logout carries the ID token in its query: neither log may keep it, nor
    // the password or the access token.
    let id_token = tokens.id_token().unwrap().to_string();
    let access_token = tokens.access_token().secret().clone();
    let logout = d
        .cert
        .client(None)
        .get(d.url("/api/v1/sso/logout"))
        .query(&[("id_token_hint", id_token.as_str())])
        .send()
        .await
        .unwrap();
    let logout_id = logout.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    d.access_log_line("for the logout", |l| {
        l.contains(&logout_id) && l.contains("\"GET /api/v1/sso/logout ")
    })
    .await;
    for (name, log) in [
        ("nginx", d.nginx.access_log()),
        ("bheem-sso", d.server.log()),
    ] {
        for secret in [PASSWORD, id_token.as_str(), access_token.as_str()] {
            assert!(!log.contains(secret), "{name}'s log holds {secret}:\n{log}");
        }
        assert!(!log.contains("eyJ"), "{name}'s log holds a JWT:\n{log}");
    }
}

/// Each of `names` is there, and every cookie is `__Host-`, Secure, HttpOnly, for path `/`:
/// RFC 6265bis §4.1.3.2, a cookie no other host or plain-http page can set or read.
fn assert_host_only_secure(cookies: &[Value], names: &[&str]) {
    for name in names {
        assert!(
            cookies.iter().any(|c| c["name"] == *name),
            "no {name} among {cookies:#?}"
        );
    }
    for cookie in cookies {
        let name = cookie["name"].as_str().unwrap_or_default();
        assert!(name.starts_with("__Host-"), "{cookie}");
        assert_eq!(cookie["secure"], true, "{cookie}");
        assert_eq!(cookie["httpOnly"], true, "{cookie}");
        assert_eq!(cookie["path"], "/", "{cookie}");
    }
}

/// `POST /api/v1/auth/login` for alice through nginx, from `client`; the status.
async fn api_login(d: &Deployment, client: &reqwest::Client, password: &str) -> u16 {
    client
        .post(d.url("/api/v1/auth/login"))
        .json(&json!({ "username": "alice", "password": password }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn failed_logins_are_throttled_per_client_address_through_the_proxy() {
    let Some(d) = Deployment::start(|config| {
        config
            .set("login_limits.per_account_per_minute", 2)
            .set("login_limits.per_account_all_addresses_per_minute", 20);
    })
    .await
    else {
        return;
    };
    // Both reach nginx from addresses of their own; bheem-sso sees only nginx (127.0.0.1).
    let attacker_addr: IpAddr = "127.0.0.2".parse().unwrap();
    let attacker = d.cert.client(Some(attacker_addr));
    let owner = d.cert.client(Some("127.0.0.3".parse().unwrap()));

    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(api_login(&d, &attacker, "guess").await);
    }
    assert_eq!(statuses, [401, 401, 429, 429], "the attacker is held back");
    assert_eq!(
        api_login(&d, &owner, "wrong once").await,
        401,
        "another address is not held back by the attacker's failures"
    );
    assert_eq!(api_login(&d, &owner, PASSWORD).await, 200);
    assert_eq!(
        api_login(&d, &attacker, PASSWORD).await,
        429,
        "the held-back address waits even with the right password"
    );
    d.access_log_line("for the attacker's 429", |l| {
        l.starts_with("127.0.0.2 ")
            && l.contains("\"POST /api/v1/auth/login ")
            && l.contains(" 429 ")
    })
    .await;
}

#[tokio::test]
async fn one_request_id_is_in_nginx_log_bheem_log_and_the_response() {
    let Some(d) = Deployment::start(|_| {}).await else {
        return;
    };
    // A client's own id is replaced by nginx's: only the proxy names requests.
    let response = d
        .cert
        .client(Some("127.0.0.4".parse().unwrap()))
        .post(d.url("/api/v1/auth/login"))
        .header("x-request-id", "chosen-by-the-client")
        .json(&json!({ "username": "alice", "password": "wrong" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(id, "chosen-by-the-client");
    // nginx's $request_id: 16 random bytes in hex.
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    d.access_log_line(&format!("with request_id={id}"), |l| {
        l.contains(&format!("request_id={id}")) && l.contains("\"POST /api/v1/auth/login ")
    })
    .await;
    // bheem-sso took nginx's id: every line it logged for the request carries it, the access
    // line of the answered request among them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let log = d.server.log();
        let complete = &log[..log.rfind('\n').map_or(0, |end| end + 1)];
        let lines: Vec<Value> = server::json_lines(complete)
            .into_iter()
            .filter(|line| line.to_string().contains(&id))
            .collect();
        if lines
            .iter()
            .any(|line| line["message"] == "request answered")
        {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "no access line of bheem-sso names {id}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for line in &lines {
        assert_eq!(line["request_id"], id, "{line}");
    }
    let access = lines
        .iter()
        .find(|line| line["message"] == "request answered")
        .unwrap();
    assert_eq!(access["status"], 401, "{access}");
    assert_eq!(
        access["client_addr"], "127.0.0.4",
        "the client behind nginx: {access}"
    );
}

#[tokio::test]
async fn plain_http_is_sent_to_https_and_https_answers_with_hsts() {
    let Some(d) = Deployment::start(|_| {}).await else {
        return;
    };
    let http = d.cert.client(None);
    let response = http
        .get(format!(
            "http://127.0.0.1:{}/.well-known/openid-configuration",
            d.nginx.http_port
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 301);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://127.0.0.1")
            && location.ends_with("/.well-known/openid-configuration"),
        "{location}"
    );
    let response = http.get(d.url("/health/ready")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
}
