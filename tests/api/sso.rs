//! Helpers for single sign-on tests: a provider with registered relying parties and a user, a
//! relying party built with the `openidconnect` crate, and a cookie-keeping "browser" that
//! follows the provider's redirects and fills in its forms.

use bheem_sso::store::users::LocalUser;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, Scope,
};
use secrecy::SecretString;
use url::Url;
use uuid::Uuid;

use crate::helpers::{spawn_app_with_clock, Backend, Harness, TestApp};

pub const SECRET: &str = "rp-secret-0123456789abcdef";
pub const CALLBACK: &str = "https://rp.example/callback";
pub const OTHER_CALLBACK: &str = "https://rp.example/other-callback";
pub const LOGOUT_RETURN: &str = "https://rp.example/signed-out";
pub const ACME: &str = "11111111-2222-4333-8444-555555555555";
pub const GLOBEX: &str = "99999999-2222-4333-8444-555555555555";
pub const PASSWORD: &str = "alice-password-1";

/// Relying parties: `rp` (confidential, skips consent), `consent-rp` (asks for consent),
/// `public-rp` (no secret, PKCE), `multi-rp` (two redirect URIs), `globex-rp` (GLOBEX only).
pub fn clients_toml() -> String {
    format!(
        r#"
[[clients]]
client_id = "rp"
name = "Relying Party"
client_secret = "{SECRET}"
redirect_uris = ["{CALLBACK}"]
post_logout_redirect_uris = ["{LOGOUT_RETURN}"]
grant_types = ["authorization_code", "refresh_token", "client_credentials"]
skip_consent = true

[[clients]]
client_id = "rp2"
name = "Second Party"
client_secret = "{SECRET}-two"
redirect_uris = ["{CALLBACK}"]
grant_types = ["authorization_code", "refresh_token"]
skip_consent = true

[[clients]]
client_id = "consent-rp"
name = "Consenting Party"
client_secret = "{SECRET}"
redirect_uris = ["{CALLBACK}"]
token_endpoint_auth_method = "client_secret_post"

[[clients]]
client_id = "public-rp"
name = "Public Party"
token_endpoint_auth_method = "none"
redirect_uris = ["{CALLBACK}"]
skip_consent = true

[[clients]]
client_id = "multi-rp"
client_secret = "{SECRET}"
redirect_uris = ["{CALLBACK}", "{OTHER_CALLBACK}"]
skip_consent = true

[[clients]]
client_id = "globex-rp"
client_secret = "{SECRET}"
redirect_uris = ["{CALLBACK}"]
skip_consent = true
allowed_company_ids = ["{GLOBEX}"]
"#
    )
}

pub struct Sso {
    pub h: Harness,
    pub alice: LocalUser,
    pub metadata: CoreProviderMetadata,
    pub http: openidconnect::reqwest::Client,
}

pub type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

impl Sso {
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, "").await
    }

    pub async fn start_with(backend: Backend, extra_toml: &str) -> Option<Self> {
        Self::start_with_clock(backend, extra_toml, bheem_sso::clock::Clock::System).await
    }

    pub async fn start_with_clock(
        backend: Backend,
        extra_toml: &str,
        clock: bheem_sso::clock::Clock,
    ) -> Option<Self> {
        let h = spawn_app_with_clock(backend, &format!("{extra_toml}\n{}", clients_toml()), clock)
            .await?;
        let alice = add_user(&h.app, "alice@acme.example", Some("alice"), ACME, PASSWORD).await;
        let http = openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let metadata = CoreProviderMetadata::discover_async(
            IssuerUrl::new(h.app.base.clone()).unwrap(),
            &http,
        )
        .await
        .unwrap();
        Some(Self {
            h,
            alice,
            metadata,
            http,
        })
    }

    pub fn rp(&self, client_id: &str, secret: Option<&str>) -> Rp {
        CoreClient::from_provider_metadata(
            self.metadata.clone(),
            ClientId::new(client_id.into()),
            secret.map(|s| ClientSecret::new(s.into())),
        )
        .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap())
    }

    pub fn default_rp(&self) -> Rp {
        self.rp("rp", Some(SECRET))
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.h.app.base)
    }

    pub fn url(&self, path: &str) -> String {
        self.h.app.url(path)
    }

    /// The whole code flow as a relying party does it, logging in on the hosted page.
    pub async fn sign_in(&self, browser: &Browser, rp: &Rp, scopes: &[&str]) -> SignIn {
        let request = AuthRequest::new(rp, scopes);
        let landing = browser.visit(request.url.as_str()).await;
        let landing = browser
            .submit_login(landing.page(), "alice@acme.example", PASSWORD)
            .await;
        let callback = landing.callback();
        let code = request.code_from(&callback);
        let tokens = self
            .exchange(rp, code, request.verifier_secret())
            .await
            .expect("code exchange failed");
        SignIn { request, tokens }
    }

    /// Logs in on the login page `landing` as `login`, and exchanges the code that comes back.
    pub async fn finish_login(
        &self,
        browser: &Browser,
        rp: &Rp,
        request: &AuthRequest,
        landing: &Landing,
        login: &str,
    ) -> CoreTokenResponse {
        let callback = browser
            .submit_login(landing.page(), login, PASSWORD)
            .await
            .callback();
        self.exchange(rp, request.code_from(&callback), request.verifier_secret())
            .await
            .expect("code exchange failed")
    }

    pub async fn exchange(
        &self,
        rp: &Rp,
        code: String,
        verifier: Option<String>,
    ) -> Result<CoreTokenResponse, String> {
        let mut exchange = rp.exchange_code(AuthorizationCode::new(code)).unwrap();
        if let Some(v) = verifier {
            exchange = exchange.set_pkce_verifier(PkceCodeVerifier::new(v));
        }
        exchange
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => r.error().to_string(),
                other => format!("{other:?}"),
            })
    }

    /// The refresh grant as the relying party sends it; the error code when refused.
    pub async fn refresh(&self, rp: &Rp, refresh_token: &str) -> Result<CoreTokenResponse, String> {
        rp.exchange_refresh_token(&RefreshToken::new(refresh_token.to_owned()))
            .unwrap()
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => r.error().to_string(),
                other => format!("{other:?}"),
            })
    }

    /// A raw token endpoint call, for what the client library will not send.
    pub async fn token_request(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(self.url("/api/v1/sso/token"))
            .form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.unwrap()
    }

    async fn userinfo(&self, access_token: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(self.url("/api/v1/sso/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    pub async fn userinfo_status(&self, access_token: &str) -> u16 {
        self.userinfo(access_token).await.status().as_u16()
    }

    /// The userinfo answer for `access_token`, as JSON.
    pub async fn userinfo_json(&self, access_token: &str) -> serde_json::Value {
        self.userinfo(access_token).await.json().await.unwrap()
    }

    pub async fn introspect(&self, token: &str) -> serde_json::Value {
        reqwest::Client::new()
            .post(self.url("/api/v1/sso/introspect"))
            .basic_auth("rp", Some(SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

pub async fn add_user(
    app: &TestApp,
    email: &str,
    username: Option<&str>,
    company: &str,
    password: &str,
) -> LocalUser {
    let state = &app.state;
    let user = LocalUser {
        id: Uuid::new_v4(),
        email: bheem_sso::domain::Email::parse(email).unwrap(),
        username: username.map(str::to_owned),
        display_name: format!("Name of {email}"),
        company_id: Uuid::parse_str(company).unwrap(),
        role: "employee".into(),
        active: true,
        password_hash: state
            .logins
            .passwords
            .hash(&SecretString::from(password.to_owned()))
            .await
            .unwrap(),
        created_at: state.clock.now(),
    };
    state.db.insert_user(&user).await.unwrap();
    user
}

/// An authorization request made by the relying party library.
pub struct AuthRequest {
    pub url: Url,
    pub state: CsrfToken,
    pub nonce: Nonce,
    verifier: Option<PkceCodeVerifier>,
}

impl AuthRequest {
    pub fn new(rp: &Rp, scopes: &[&str]) -> Self {
        Self::build(rp, scopes, true, &[])
    }

    /// `pkce`: send an S256 challenge; `extra`: further parameters.
    pub fn build(rp: &Rp, scopes: &[&str], pkce: bool, extra: &[(&str, &str)]) -> Self {
        let mut builder = rp.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in scopes {
            builder = builder.add_scope(Scope::new((*s).into()));
        }
        for (k, v) in extra {
            builder = builder.add_extra_param(*k, *v);
        }
        let mut verifier = None;
        if pkce {
            let (challenge, v) = PkceCodeChallenge::new_random_sha256();
            builder = builder.set_pkce_challenge(challenge);
            verifier = Some(v);
        }
        let (url, state, nonce) = builder.url();
        Self {
            url,
            state,
            nonce,
            verifier,
        }
    }

    pub fn verifier_secret(&self) -> Option<String> {
        self.verifier.as_ref().map(|v| v.secret().clone())
    }

    /// The code from a callback, after checking `state` and `iss` as a careful RP does.
    pub fn code_from(&self, callback: &Url) -> String {
        let q = query(callback);
        assert_eq!(
            q.get("state").map(String::as_str),
            Some(self.state.secret().as_str()),
            "state not echoed: {callback}"
        );
        assert!(q.contains_key("iss"), "no iss in {callback}");
        q.get("code")
            .unwrap_or_else(|| panic!("no code in {callback}"))
            .clone()
    }
}

pub struct SignIn {
    pub request: AuthRequest,
    pub tokens: CoreTokenResponse,
}

impl SignIn {
    pub fn access_token(&self) -> String {
        self.tokens.access_token().secret().clone()
    }

    pub fn refresh_token(&self) -> Option<String> {
        self.tokens.refresh_token().map(|t| t.secret().clone())
    }

    pub fn id_token(&self) -> String {
        use openidconnect::TokenResponse as _;
        self.tokens.id_token().expect("no id_token").to_string()
    }
}

pub fn query(url: &Url) -> std::collections::HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// The payload of a JWT, without checking it (the tests check signatures with the library).
pub fn jwt_payload(token: &str) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Where the browser ended up: at the relying party's callback, or on a provider page.
#[derive(Debug)]
pub enum Landing {
    Callback(Url),
    Page {
        status: u16,
        url: String,
        body: String,
    },
}

impl Landing {
    pub fn callback(self) -> Url {
        match self {
            Landing::Callback(url) => url,
            Landing::Page { status, url, body } => {
                panic!("expected a redirect to the RP, got page {url} ({status}):\n{body}")
            }
        }
    }

    pub fn page(&self) -> &str {
        match self {
            Landing::Page { body, .. } => body,
            Landing::Callback(url) => panic!("expected a page, got a redirect to {url}"),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Landing::Page { status, .. } => *status,
            Landing::Callback(_) => 303,
        }
    }

    pub fn is_login_page(&self) -> bool {
        matches!(self, Landing::Page { body, .. } if body.contains("name=\"password\""))
    }
}

/// A browser: keeps cookies, follows the provider's own redirects, stops at anything else.
pub struct Browser {
    pub http: reqwest::Client,
    base: String,
}

impl Browser {
    /// A browser for the provider at `base` (its own redirects are followed, others are not).
    pub fn new(base: &str) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    pub async fn visit(&self, url: &str) -> Landing {
        let response = self.http.get(url).send().await.unwrap();
        self.land(response).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Landing {
        let response = self.http.post(url).form(form).send().await.unwrap();
        self.land(response).await
    }

    async fn land(&self, mut response: reqwest::Response) -> Landing {
        for _ in 0..10 {
            if !response.status().is_redirection() {
                let status = response.status().as_u16();
                let url = response.url().to_string();
                return Landing::Page {
                    status,
                    url,
                    body: response.text().await.unwrap(),
                };
            }
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            let next = response.url().join(&location).unwrap();
            if !next.as_str().starts_with(&self.base) {
                return Landing::Callback(next);
            }
            response = self.http.get(next).send().await.unwrap();
        }
        panic!("redirect loop");
    }

    /// Fills in and submits the login form on `page`.
    pub async fn submit_login(&self, page: &str, login: &str, password: &str) -> Landing {
        let csrf = input_value(page, "csrf_token").expect("login form has a CSRF token");
        let req = input_value(page, "req").unwrap_or_default();
        self.post(
            &format!("{}/login", self.base),
            &[
                ("csrf_token", &csrf),
                ("req", &req),
                ("login", login),
                ("password", password),
            ],
        )
        .await
    }

    /// Answers the consent page on `page` with "allow" or "deny".
    pub async fn submit_consent(&self, page: &str, decision: &str) -> Landing {
        let csrf = input_value(page, "csrf_token").expect("consent form has a CSRF token");
        let req = input_value(page, "req").expect("consent form names its request");
        self.post(
            &format!("{}/consent", self.base),
            &[("csrf_token", &csrf), ("req", &req), ("decision", decision)],
        )
        .await
    }

    /// Confirms the logout page on `page`.
    pub async fn confirm_logout(&self, page: &str) -> Landing {
        let mut form = vec![("confirm".to_owned(), "yes".to_owned())];
        for name in [
            "csrf_token",
            "client_id",
            "post_logout_redirect_uri",
            "state",
        ] {
            if let Some(v) = input_value(page, name) {
                form.push((name.to_owned(), v));
            }
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post(&format!("{}/logout", self.base), &form).await
    }
}

/// The `value` of the `<input name="…">` in `html`, unescaped.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let at = html.find(&marker)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let v = tag.find("value=\"")? + "value=\"".len();
    let value = &tag[v..v + tag[v..].find('"')?];
    Some(
        value
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&#60;", "<")
            .replace("&#62;", ">")
            .replace("&#38;", "&"),
    )
}

/// Runs an async test body on SQLite and on PostgreSQL, as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}
