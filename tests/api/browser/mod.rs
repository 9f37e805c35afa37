//! A person signs in with a real browser: headless Chromium, driven over WebDriver, starts at a
//! relying party, fills in the hosted login page and lands back at the relying party signed in.
//! The other SSO tests fill the forms with an HTTP client; this one proves that the pages, the
//! cookies and the redirects also work where they are meant to, in a browser.

pub mod webdriver;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, Redirect};
use axum::routing::get;
use axum::Router;
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreTokenResponse};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, IssuerUrl, PkceCodeVerifier, RedirectUrl,
    TokenResponse,
};

use crate::support::{add_user, AuthRequest, ClientSpec, Rp, TestApp, ACME, PASSWORD};
use webdriver::{ChromeDriver, CHROMIUM};

pub const ALICE: &str = "alice@acme.example";
const RP_SECRET: &str = "browser-rp-secret-0123456789";

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
    let rp = RelyingParty::discover(&h.app.base, &rp_base, no_redirects()).await;
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
pub fn browser_tools() -> Option<PathBuf> {
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

pub fn client(rp_base: &str) -> ClientSpec {
    ClientSpec::new("browser-rp")
        .name("Browser Party")
        .secret(RP_SECRET)
        .redirect_uri(format!("{rp_base}/callback"))
        .skip_consent()
}

/// A small web application that signs its users in with bheem-sso, as a real one would: the
/// `openidconnect` crate, the code flow with PKCE, state and nonce checked, the ID token verified.
pub struct RelyingParty {
    client: Rp,
    http: openidconnect::reqwest::Client,
    /// The one sign-in under way: this RP has a single user, the test's browser.
    pending: Mutex<Option<AuthRequest>>,
    /// The tokens of the last sign-in, for a test to look into.
    pub signed_in: Mutex<Option<CoreTokenResponse>>,
}

/// No redirects on back-channel calls, as the openidconnect crate advises against SSRF.
pub fn no_redirects() -> openidconnect::reqwest::ClientBuilder {
    openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
}

impl RelyingParty {
    /// The RP of `client(rp_base)`, reaching the provider with a client built from `http`.
    pub async fn discover(
        issuer: &str,
        rp_base: &str,
        http: openidconnect::reqwest::ClientBuilder,
    ) -> Arc<Self> {
        let http = http.build().unwrap();
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
            signed_in: Mutex::new(None),
        })
    }

    pub fn router(self: Arc<Self>) -> Router {
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
    let page = format!(
        "<!doctype html><title>Relying party</title><h1 id=\"who\">Signed in as {}</h1>",
        email.as_str()
    );
    *rp.signed_in.lock().unwrap() = Some(tokens);
    Ok(Html(page))
}
