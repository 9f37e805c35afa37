//! A person signs in with a real browser: headless Chromium, driven over WebDriver, starts at a
//! relying party, fills in the hosted login page and lands back at the relying party signed in.
//! The other SSO tests fill the forms with an HTTP client; this one proves that the pages, the
//! cookies and the redirects also work where they are meant to, in a browser.

use std::collections::HashMap;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, Redirect};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, IssuerUrl, PkceCodeVerifier, RedirectUrl,
    TokenResponse,
};
use serde_json::{json, Value};

use crate::support::{add_user, AuthRequest, ClientSpec, Rp, TestApp, ACME, PASSWORD};

/// Where Debian's `chromium` package puts the browser; `chromium-driver` puts chromedriver on PATH.
const CHROMIUM: &str = "/usr/bin/chromium";
const ALICE: &str = "alice@acme.example";
const RP_SECRET: &str = "browser-rp-secret-0123456789";
/// Generous: the first start of Chromium on a cold machine takes seconds.
const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_person_logs_in_on_the_hosted_page_in_chromium_and_lands_at_the_relying_party() {
    let Some(chromedriver) = browser_tools() else {
        return;
    };
    // The RP's port goes into the provider's client registration, so it is bound first.
    let rp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rp_base = format!("http://{}", rp_listener.local_addr().unwrap());
    let Some(h) = TestApp::builder().client(client(&rp_base)).start().await else {
        return;
    };
    add_user(&h.app, ALICE, Some("alice"), ACME, PASSWORD).await;
    let rp = RelyingParty::discover(&h.app.base, &rp_base).await;
    tokio::spawn(async move { axum::serve(rp_listener, rp.router()).await });

    let dir = tempfile::tempdir().unwrap();
    let driver = ChromeDriver::start(&chromedriver).await;
    let browser = driver.open_chromium(&dir.path().join("profile")).await;

    browser.goto(&format!("{rp_base}/start")).await;
    let login = browser.wait_for("input[name=login]").await;
    let screenshot = browser.screenshot().await;
    std::fs::write(dir.path().join("login.png"), &screenshot).unwrap();
    assert!(
        screenshot.len() > 1000 && screenshot.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the login page renders to a PNG"
    );
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
        "the relying party signs alice in, but shows:\n{landed}"
    );
    let who = browser.find("#who").await.unwrap();
    assert_eq!(browser.text(&who).await, "Signed in as alice@acme.example");
    browser.quit().await;
}

/// chromedriver's path, or `None` (skip) when the browser is not installed here. CI must run this
/// test, so there a missing browser is a failure.
fn browser_tools() -> Option<PathBuf> {
    let chromedriver = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromedriver"))
            .find(|p| p.is_file())
    });
    match chromedriver {
        Some(chromedriver) if Path::new(CHROMIUM).is_file() => Some(chromedriver),
        _ if std::env::var_os("CI").is_some() => panic!(
            "CI must run the browser test, but {CHROMIUM} or chromedriver is missing: \
             install Debian's chromium and chromium-driver (scripts/test does)"
        ),
        _ => {
            eprintln!(
                "SKIPPED: {CHROMIUM} or chromedriver is missing; \
                 install Debian's chromium and chromium-driver to run this test"
            );
            None
        }
    }
}

fn client(rp_base: &str) -> ClientSpec {
    ClientSpec::new("browser-rp")
        .name("Browser Party")
        .secret(RP_SECRET)
        .redirect_uri(format!("{rp_base}/callback"))
        .skip_consent()
}

/// A small web application that signs its users in with bheem-sso, as a real one would: the
/// `openidconnect` crate, the code flow with PKCE, state and nonce checked, the ID token verified.
struct RelyingParty {
    client: Rp,
    http: openidconnect::reqwest::Client,
    /// The one sign-in under way: this RP has a single user, the test's browser.
    pending: Mutex<Option<AuthRequest>>,
}

impl RelyingParty {
    async fn discover(issuer: &str, rp_base: &str) -> Arc<Self> {
        // No redirects on back-channel calls, as the openidconnect crate advises against SSRF.
        let http = openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let metadata =
            CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.into()).unwrap(), &http)
                .await
                .unwrap();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new("browser-rp".into()),
            Some(ClientSecret::new(RP_SECRET.into())),
        )
        .set_redirect_uri(RedirectUrl::new(format!("{rp_base}/callback")).unwrap());
        Arc::new(Self {
            client,
            http,
            pending: Mutex::new(None),
        })
    }

    fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/start", get(start))
            .route("/callback", get(callback))
            .with_state(self)
    }
}

async fn start(State(rp): State<Arc<RelyingParty>>) -> Redirect {
    let request = AuthRequest::new(&rp.client, &["email", "profile"]);
    let url = request.url.to_string();
    *rp.pending.lock().unwrap() = Some(request);
    Redirect::to(&url)
}

/// Errors are shown on the page, so that a failing test prints what went wrong.
async fn callback(
    State(rp): State<Arc<RelyingParty>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Html<String>, (StatusCode, String)> {
    let fail = |what: String| (StatusCode::BAD_REQUEST, what);
    let request = rp
        .pending
        .lock()
        .unwrap()
        .take()
        .ok_or_else(|| fail("no sign-in under way".into()))?;
    if q.get("state") != Some(request.state.secret()) {
        return Err(fail(format!("state not echoed: {q:?}")));
    }
    let code = q
        .get("code")
        .ok_or_else(|| fail(format!("no code: {q:?}")))?;
    let verifier = request
        .verifier_secret()
        .expect("the RP always sends a PKCE challenge");
    let tokens = rp
        .client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .map_err(|e| fail(format!("{e:?}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&rp.http)
        .await
        .map_err(|e| fail(format!("code exchange failed: {e:?}")))?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| fail("no ID token".into()))?;
    let claims = id_token
        .claims(&rp.client.id_token_verifier(), &request.nonce)
        .map_err(|e| fail(format!("ID token rejected: {e:?}")))?;
    let email = claims
        .email()
        .ok_or_else(|| fail("no email in the ID token".into()))?;
    Ok(Html(format!(
        "<!doctype html><title>Relying party</title><h1 id=\"who\">Signed in as {}</h1>",
        email.as_str()
    )))
}

/// A chromedriver process of this test's own, ended when the test ends, also on a panic.
struct ChromeDriver {
    process: Child,
    url: String,
}

impl ChromeDriver {
    async fn start(program: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(program)
            .arg(format!("--port={port}"))
            // A group of its own, which the Chromium it starts joins: see `Drop`.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + PATIENCE;
        while !driver.ready().await {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer at {}",
                driver.url
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    async fn ready(&self) -> bool {
        let Ok(response) = reqwest::get(format!("{}/status", self.url)).await else {
            return false;
        };
        let status: Value = response.json().await.unwrap_or_default();
        status["value"]["ready"] == true
    }

    /// A fresh headless Chromium with a profile of its own in `profile`.
    async fn open_chromium(&self, profile: &Path) -> Chromium {
        let options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                // Containers run tests as root, where Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                // Nothing but the test's own servers on loopback: no update or sync traffic.
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        // The console log goes into failure messages: it says why Chromium refused something.
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "goog:chromeOptions": options,
            "goog:loggingPrefs": { "browser": "ALL" },
        } } });
        let http = reqwest::Client::new();
        let session = command(
            http.post(format!("{}/session", self.url))
                .json(&capabilities),
        )
        .await
        .unwrap_or_else(|e| panic!("chromedriver could not start {CHROMIUM}: {e}"));
        let id = session["sessionId"]
            .as_str()
            .expect("a WebDriver session id");
        Chromium {
            http,
            session: format!("{}/session/{id}", self.url),
        }
    }
}

impl Drop for ChromeDriver {
    /// Chromium outlives a killed chromedriver, so after a failed test (no `quit`) the whole
    /// process group goes, the browser with it.
    fn drop(&mut self) {
        let group = format!("-{}", self.process.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A browser session, driven with just enough of W3C WebDriver (https://www.w3.org/TR/webdriver2/)
/// to act as a person does: open a page, type, click, read. Not fantoccini: its rustls feature
/// brings hyper-rustls with the aws-lc-rs provider, and beside the ring provider of reqwest and
/// sqlx, rustls then has no process default and `ClientBuilder::rustls()` panics. Plain HTTP to
/// chromedriver needs no client library.
struct Chromium {
    http: reqwest::Client,
    session: String,
}

/// A WebDriver element reference (W3C WebDriver §12.1, "web element identifier").
struct Element(String);

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Chromium {
    async fn get(&self, path: &str) -> Value {
        self.try_get(path).await.unwrap()
    }

    async fn try_get(&self, path: &str) -> Result<Value, String> {
        command(self.http.get(format!("{}{path}", self.session))).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        command(
            self.http
                .post(format!("{}{path}", self.session))
                .json(&body),
        )
        .await
    }

    async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await.unwrap();
    }

    async fn current_url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn find(&self, css: &str) -> Result<Element, String> {
        let found = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await?;
        Ok(Element(
            found[ELEMENT_KEY]
                .as_str()
                .expect("an element reference")
                .to_owned(),
        ))
    }

    async fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.find(css).await {
                Ok(element) => return element,
                Err(e) if Instant::now() > deadline => {
                    panic!(
                        "no {css} on {} after {PATIENCE:?}: {e}",
                        self.current_url().await
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn type_into(&self, element: &Element, text: &str) {
        self.post(
            &format!("/element/{}/value", element.0),
            json!({ "text": text }),
        )
        .await
        .unwrap();
    }

    async fn click(&self, element: &Element) {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await
            .unwrap();
    }

    async fn text(&self, element: &Element) -> String {
        self.try_text(element).await.unwrap()
    }

    /// The element's text, or the error that says it is gone: an element found just before the
    /// browser moved on to the next page is stale by the time its text is asked for.
    async fn try_text(&self, element: &Element) -> Result<String, String> {
        let text = self
            .try_get(&format!("/element/{}/text", element.0))
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    async fn screenshot(&self) -> Vec<u8> {
        let png = self.get("/screenshot").await;
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("a base64 PNG"))
            .unwrap()
    }

    /// Waits until the browser shows a loaded page whose address starts with `prefix`; its text.
    async fn wait_for_page_at(&self, prefix: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            // While the login's redirects are followed, the page can change between any two of
            // these commands, so an element gone stale only means "not there yet".
            let url = self.current_url().await;
            let text = match self.find("body").await {
                Ok(body) => self.try_text(&body).await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if url.starts_with(prefix) && !text.is_empty() {
                return text;
            }
            if Instant::now() > deadline {
                let console = self.console().await;
                panic!("the browser never reached {prefix}; it is at {url}, showing:\n{text}\nconsole:\n{console}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Chromium's console messages so far (chromedriver's log extension to WebDriver).
    async fn console(&self) -> String {
        let entries = self
            .post("/se/log", json!({ "type": "browser" }))
            .await
            .unwrap_or_default();
        let lines = entries.as_array().into_iter().flatten();
        lines
            .map(|e| format!("{} {}\n", e["level"], e["message"]))
            .collect()
    }

    /// Ends the session, which closes Chromium.
    async fn quit(self) {
        command(self.http.delete(&self.session)).await.unwrap();
    }
}

/// Sends a WebDriver command: its `value` on success, the error it names otherwise.
async fn command(request: reqwest::RequestBuilder) -> Result<Value, String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("chromedriver unreachable: {e}"))?;
    let ok = response.status().is_success();
    let mut body: Value = response
        .json()
        .await
        .map_err(|e| format!("not a WebDriver answer: {e}"))?;
    let value = body["value"].take();
    if ok {
        Ok(value)
    } else {
        Err(format!("{}: {}", value["error"], value["message"]))
    }
}
