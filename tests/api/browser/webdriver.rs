//! Just enough of W3C WebDriver to drive headless Chromium through chromedriver as a person
//! would: open a page, type, click, read.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// Where Debian's `chromium` package puts the browser; `chromium-driver` puts chromedriver on PATH.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Generous: the first start of Chromium on a cold machine takes seconds.
const PATIENCE: Duration = Duration::from_secs(30);

/// A chromedriver process of this test's own, ended when the test ends, also on a panic.
pub struct ChromeDriver {
    process: Child,
    url: String,
}

impl ChromeDriver {
    pub async fn start(program: &Path) -> Self {
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
    pub async fn open_chromium(&self, profile: &Path) -> Chromium {
        self.open_chromium_with(profile, &[]).await
    }

    /// As [`ChromeDriver::open_chromium`], with more command-line switches (for a test's
    /// self-signed certificate, `--ignore-certificate-errors`).
    pub async fn open_chromium_with(&self, profile: &Path, switches: &[&str]) -> Chromium {
        let mut options = json!({
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
        let args = options["args"].as_array_mut().expect("a list of switches");
        args.extend(switches.iter().map(|s| Value::from(*s)));
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
pub struct Chromium {
    http: reqwest::Client,
    session: String,
}

/// A WebDriver element reference (W3C WebDriver §12.1, "web element identifier").
pub struct Element(String);

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

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await.unwrap();
    }

    pub async fn current_url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn find(&self, css: &str) -> Result<Element, String> {
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

    pub async fn wait_for(&self, css: &str) -> Element {
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

    pub async fn type_into(&self, element: &Element, text: &str) {
        self.post(
            &format!("/element/{}/value", element.0),
            json!({ "text": text }),
        )
        .await
        .unwrap();
    }

    pub async fn click(&self, element: &Element) {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await
            .unwrap();
    }

    pub async fn text(&self, element: &Element) -> String {
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

    pub async fn screenshot(&self) -> Vec<u8> {
        let png = self.get("/screenshot").await;
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("a base64 PNG"))
            .unwrap()
    }

    /// Waits until the browser shows a loaded page whose address starts with `prefix`; its text.
    pub async fn wait_for_page_at(&self, prefix: &str) -> String {
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

    /// The cookies the browser would send to the page it is on (W3C WebDriver §14.1): each with
    /// its `name`, `secure`, `httpOnly`, `path` and `sameSite`.
    pub async fn cookies(&self) -> Vec<Value> {
        match self.get("/cookie").await {
            Value::Array(cookies) => cookies,
            other => panic!("not a list of cookies: {other}"),
        }
    }

    /// Ends the session, which closes Chromium.
    pub async fn quit(self) {
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
