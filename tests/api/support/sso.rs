//! The provider as the single sign-on tests meet it: registered relying parties, alice in the
//! directory, and the code flow driven through a real OIDC client library.

use bheem_sso::store::users::LocalUser;
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreTokenResponse};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, IssuerUrl, PkceCodeVerifier, RedirectUrl,
    RefreshToken,
};
use secrecy::SecretString;
use uuid::Uuid;

use super::app::{Harness, TestApp};
use super::browser::{Browser, Landing};
use super::config::ClientSpec;
use super::rp::{AuthRequest, Rp, SignIn};

pub const SECRET: &str = "rp-secret-0123456789abcdef";
pub const CALLBACK: &str = "https://rp.example/callback";
pub const OTHER_CALLBACK: &str = "https://rp.example/other-callback";
pub const LOGOUT_RETURN: &str = "https://rp.example/signed-out";
pub const ACME: &str = "11111111-2222-4333-8444-555555555555";
pub const GLOBEX: &str = "99999999-2222-4333-8444-555555555555";
pub const PASSWORD: &str = "alice-password-1";

/// Relying parties: `rp` (confidential, skips consent), `rp2` (a second confidential one),
/// `consent-rp` (asks for consent), `public-rp` (no secret, PKCE), `multi-rp` (two redirect
/// URIs), `globex-rp` (GLOBEX only).
pub fn standard_clients() -> Vec<ClientSpec> {
    vec![
        ClientSpec::new("rp")
            .name("Relying Party")
            .secret(SECRET)
            .redirect_uri(CALLBACK)
            .post_logout_redirect_uri(LOGOUT_RETURN)
            .grant_types(&["authorization_code", "refresh_token", "client_credentials"])
            .skip_consent(),
        ClientSpec::new("rp2")
            .name("Second Party")
            .secret(&format!("{SECRET}-two"))
            .redirect_uri(CALLBACK)
            .grant_types(&["authorization_code", "refresh_token"])
            .skip_consent(),
        ClientSpec::new("consent-rp")
            .name("Consenting Party")
            .secret(SECRET)
            .redirect_uri(CALLBACK)
            .auth_method("client_secret_post"),
        ClientSpec::new("public-rp")
            .name("Public Party")
            .auth_method("none")
            .redirect_uri(CALLBACK)
            .skip_consent(),
        ClientSpec::new("multi-rp")
            .secret(SECRET)
            .redirect_uri(CALLBACK)
            .redirect_uri(OTHER_CALLBACK)
            .skip_consent(),
        ClientSpec::new("globex-rp")
            .secret(SECRET)
            .redirect_uri(CALLBACK)
            .skip_consent()
            .allowed_company(GLOBEX),
    ]
}

/// A running provider with the standard relying parties and alice; made by
/// [`AppBuilder::start_sso`](super::app::AppBuilder::start_sso).
pub struct Sso {
    pub h: Harness,
    pub alice: LocalUser,
    pub metadata: CoreProviderMetadata,
    pub http: openidconnect::reqwest::Client,
}

impl Sso {
    /// The answer of the workspace SPA's `POST /api/v1/auth/login`, its tokens noted for the
    /// leak check; panics unless it logged in.
    pub async fn api_login(&self, username: &str, password: &str) -> serde_json::Value {
        let login: serde_json::Value = reqwest::Client::new()
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for token in ["access_token", "refresh_token", "id_token"] {
            let token = login[token]
                .as_str()
                .unwrap_or_else(|| panic!("{username} logs in: {login:#}"));
            super::leaks::remember(token);
        }
        login
    }

    /// The provider of `h`, with alice added and its discovery document read.
    pub(super) async fn around(h: Harness) -> Self {
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
        Self {
            h,
            alice,
            metadata,
            http,
        }
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
            .inspect(remember_tokens)
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
            .inspect(remember_tokens)
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

/// The tokens of a response are secrets the log must not hold.
fn remember_tokens(tokens: &CoreTokenResponse) {
    use openidconnect::{OAuth2TokenResponse as _, TokenResponse as _};
    super::leaks::remember(tokens.access_token().secret());
    if let Some(refresh) = tokens.refresh_token() {
        super::leaks::remember(refresh.secret());
    }
    if let Some(id_token) = tokens.id_token() {
        super::leaks::remember(&id_token.to_string());
    }
}

pub async fn add_user(
    app: &TestApp,
    email: &str,
    username: Option<&str>,
    company: &str,
    password: &str,
) -> LocalUser {
    super::leaks::remember(password);
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
