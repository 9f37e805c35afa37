//! The layer every workspace API shares (meet, docs, calendar, mail): the `Caller<A>` extractor
//! and its RFC 6750 refusals, the area scopes, the one error shape, validated and limited
//! bodies, discovery and the OpenAPI document.
//!
//! No area has endpoints of its own in this layer, so the tests mount handlers of their own
//! (the probe), taking `Caller<Meet>`, `Caller<Docs>` and `ValidJson<T>` as an area's handlers
//! do, among the workspace routes of a server over the test app's own state
//! (`TestApp::serve_workspace_routes`): the tokens the app issues are that server's tokens.

mod bodies;
mod config;
mod discovery;
mod scopes;
mod tokens;

use axum::routing::get;
use axum::{Json, Router};
use bheem_sso::app::AppState;
use bheem_sso::workspace::{Caller, Docs, Meet, ValidJson};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::support::{
    Backend, Beside, ClientSpec, Sso, TestApp, TestConfig, CALLBACK, LOGOUT_RETURN, PASSWORD,
    SECRET,
};

/// A room as a Meet handler would take it: what the body checks are tried on.
#[derive(Deserialize)]
struct NewRoom {
    name: String,
    duration_minutes: Option<u32>,
    #[serde(default)]
    participants: Vec<String>,
}

async fn whoami<A: bheem_sso::workspace::Area>(caller: Caller<A>) -> Json<Value> {
    Json(json!({
        "user": caller.user.id,
        "company_id": caller.company_id,
        "client_id": caller.client_id,
        "scope": caller.scope.to_string(),
        "company_admin": caller.is_company_admin(),
    }))
}

async fn create_room(_caller: Caller<Meet>, ValidJson(room): ValidJson<NewRoom>) -> Json<Value> {
    Json(json!({
        "name": room.name,
        "duration_minutes": room.duration_minutes,
        "participants": room.participants.len(),
    }))
}

/// The probe's routes, where the areas' own will be.
fn probe_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/meet/probe", get(whoami::<Meet>).post(create_room))
        .route("/api/v1/docs/probe", get(whoami::<Docs>))
}

/// Bheem Meet configured: `[meet]` with what it requires. Nothing here calls LiveKit, so it
/// points at a port where nothing answers.
fn with_meet(config: &mut TestConfig) {
    crate::support::remember_secret("workspace-test-livekit-secret-0123");
    config
        .set("meet.livekit_url", "http://127.0.0.1:9")
        .set("meet.ws_url", "wss://livekit.acme.example")
        .set("meet.api_key", "APIworkspaceTest")
        .set("meet.api_secret", "workspace-test-livekit-secret-0123")
        .set("meet.join_url_base", "https://meet.acme.example/join/");
}

/// The Meet app: a relying party allowed the `meet` scope.
fn meet_app() -> ClientSpec {
    meet_app_allowed_nothing().allowed_scope("meet")
}

/// The Meet app as registered before it was allowed `meet` (or after it was taken away).
fn meet_app_allowed_nothing() -> ClientSpec {
    ClientSpec::new("meet-app")
        .secret(SECRET)
        .redirect_uri(CALLBACK)
        .post_logout_redirect_uri(LOGOUT_RETURN)
        .skip_consent()
}

/// The provider with Meet on, the Meet app and the standard relying parties (none of them
/// allowed an area), alice, and the probe beside it.
struct Workspace {
    sso: Sso,
    probe: Beside,
}

impl Workspace {
    async fn start(backend: Backend, edit: impl FnOnce(&mut TestConfig)) -> Option<Self> {
        let sso = TestApp::builder()
            .backend(backend)
            .config(|config| {
                with_meet(config);
                edit(config);
            })
            .client(meet_app())
            .start_sso()
            .await?;
        let probe = sso.h.app.serve_workspace_routes(probe_routes()).await;
        Some(Self { sso, probe })
    }

    /// The tokens of `POST /api/v1/auth/login`, the workspace SPA's login.
    async fn login(&self, username: &str) -> Value {
        self.sso.api_login(username, PASSWORD).await
    }

    /// The access token of alice's login at the workspace SPA.
    async fn spa_token(&self) -> String {
        self.login("alice@acme.example").await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `GET` of the probe at `path` with `token` as the Bearer token, if any.
    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(self.probe.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// The status of `GET /api/v1/meet/probe` with `token`.
    async fn meet_status(&self, token: &str) -> u16 {
        self.get("/api/v1/meet/probe", Some(token))
            .await
            .status()
            .as_u16()
    }
}

/// A refusal in the one shape: its status and `error`, `Cache-Control: no-store`, and the
/// request id of the response's `X-Request-Id` in the body. The body.
async fn refused(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert_eq!(body["request_id"], request_id.as_str(), "{body}");
    body
}

/// The `WWW-Authenticate` header of a response, or "" when there is none.
fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}
