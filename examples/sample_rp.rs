//! A sample relying party: logs people in through bheem-sso with the `openidconnect` crate and
//! shows what it learned. Register it with `examples/sample-rp.toml`, then:
//!
//!     cargo run --example sample_rp        # http://127.0.0.1:9000
//!
//! SAMPLE_RP_ISSUER, SAMPLE_RP_CLIENT_ID and SAMPLE_RP_CLIENT_SECRET override the defaults.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};

const LISTEN: &str = "127.0.0.1:9000";

type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

#[derive(Clone)]
struct App {
    rp: Rp,
    http: openidconnect::reqwest::Client,
    end_session: Option<String>,
    /// Requests under way, by `state`.
    pending: Arc<Mutex<HashMap<String, (Nonce, PkceCodeVerifier)>>>,
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let issuer = env("SAMPLE_RP_ISSUER", "http://127.0.0.1:8080");
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()?;
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone())?, &http).await?;
    let end_session = reqwest_end_session(&http, &issuer).await;
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(env("SAMPLE_RP_CLIENT_ID", "sample-rp")),
        Some(ClientSecret::new(env(
            "SAMPLE_RP_CLIENT_SECRET",
            "sample-rp-secret-CHANGE-ME",
        ))),
    )
    .set_redirect_uri(RedirectUrl::new(format!("http://{LISTEN}/callback"))?);
    let app = App {
        rp,
        http,
        end_session,
        pending: Arc::default(),
    };
    let router = Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .with_state(app);
    println!("sample relying party on http://{LISTEN} (provider {issuer})");
    axum::serve(tokio::net::TcpListener::bind(LISTEN).await?, router).await?;
    Ok(())
}

/// `end_session_endpoint` is not in the crate's core metadata type; read it from the document.
async fn reqwest_end_session(
    http: &openidconnect::reqwest::Client,
    issuer: &str,
) -> Option<String> {
    let doc: serde_json::Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    doc["end_session_endpoint"].as_str().map(str::to_owned)
}

async fn home() -> Html<&'static str> {
    Html("<!doctype html><title>Sample RP</title><h1>Sample relying party</h1><p><a href=\"/login\">Sign in with bheem-sso</a></p>")
}

async fn login(State(app): State<App>) -> Redirect {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = app
        .rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    app.pending
        .lock()
        .unwrap()
        .insert(state.secret().clone(), (nonce, verifier));
    Redirect::to(url.as_str())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn callback(State(app): State<App>, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(error) = q.get("error") {
        return Html(format!(
            "<h1>Sign-in failed</h1><p>{}</p><a href=\"/\">Back</a>",
            escape(error)
        ))
        .into_response();
    }
    let (Some(code), Some(state)) = (q.get("code"), q.get("state")) else {
        return Html("<h1>Missing code or state</h1>").into_response();
    };
    let Some((nonce, verifier)) = app.pending.lock().unwrap().remove(state) else {
        return Html("<h1>Unknown or reused state</h1>").into_response();
    };
    let result = async {
        let tokens = app
            .rp
            .exchange_code(AuthorizationCode::new(code.clone()))?
            .set_pkce_verifier(verifier)
            .request_async(&app.http)
            .await?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| anyhow::anyhow!("no ID token"))?;
        let claims = id_token.claims(&app.rp.id_token_verifier(), &nonce)?;
        let info: CoreUserInfoClaims = app
            .rp
            .user_info(tokens.access_token().clone(), None)?
            .request_async(&app.http)
            .await?;
        anyhow::Ok((
            claims.subject().to_string(),
            serde_json::to_string_pretty(&info)?,
            id_token.to_string(),
        ))
    }
    .await;
    match result {
        Ok((sub, info, id_token)) => {
            let logout = app.end_session.map(|e| {
                let mut url = url::Url::parse(&e).expect("discovery URL");
                url.query_pairs_mut()
                    .append_pair("id_token_hint", &id_token)
                    .append_pair("post_logout_redirect_uri", &format!("http://{LISTEN}/"));
                format!("<p><a href=\"{}\">Sign out</a></p>", escape(url.as_str()))
            });
            Html(format!(
                "<!doctype html><title>Signed in</title><h1>Signed in as {}</h1><pre>{}</pre>{}",
                escape(&sub),
                escape(&info),
                logout.unwrap_or_default()
            ))
            .into_response()
        }
        Err(e) => Html(format!(
            "<h1>Sign-in failed</h1><pre>{}</pre>",
            escape(&format!("{e:#}"))
        ))
        .into_response(),
    }
}
