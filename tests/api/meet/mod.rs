//! Bheem Meet's API (`/api/v1/meet`) driven over HTTP as the workspace SPA drives it: tokens from
//! the first-party login, a fake LiveKit behind it (tests/api/fakes/livekit), LiveKit's own
//! verifier for the join tokens, a real PostgreSQL for the ERP's copy.

mod erp_sync;
mod isolation;
mod join;
mod openapi;
mod recordings;
mod rooms;
mod webhook;

use std::time::Duration;

use bheem_sso::clock::Clock;
use bheem_sso::store::users::LocalUser;
use secrecy::SecretString;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::fakes::livekit::{sign_webhook, FakeLiveKit};
use crate::support::{
    add_user, jwt_payload, remember_secret, Backend, Sso, TestApp, TestConfig, ACME, GLOBEX,
    PASSWORD,
};

pub const ROOMS: &str = "/api/v1/meet/rooms";
pub const TOKEN: &str = "/api/v1/meet/token";
pub const WEBHOOK: &str = "/api/v1/meet/webhook";
pub const API_KEY: &str = "APIbheemMeetTest";
pub const API_SECRET: &str = "meet-livekit-secret-0123456789abcdef";
pub const TOKEN_TTL: u64 = 7200;

/// The provider with `[meet]` on a fake LiveKit, and access tokens of five people: alice (the
/// host of most rooms), bob and carol of Acme, an Acme admin, and eve of Globex.
pub struct MeetApp {
    pub sso: Sso,
    pub livekit: FakeLiveKit,
    pub alice: String,
    pub bob: String,
    pub carol: String,
    pub admin: String,
    pub eve: String,
    bob_id: String,
    http: reqwest::Client,
}

impl MeetApp {
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_| {}).await
    }

    /// As [`MeetApp::start`], with more configuration.
    pub async fn start_with(backend: Backend, edit: impl FnOnce(&mut TestConfig)) -> Option<Self> {
        remember_secret(API_SECRET);
        let livekit = FakeLiveKit::start(API_KEY, API_SECRET).await;
        let url = livekit.url();
        let sso = TestApp::builder()
            .backend(backend)
            // Rooms made one after another are ordered by time: the test moves the clock.
            .clock(Clock::manual(
                time::OffsetDateTime::now_utc().unix_timestamp(),
            ))
            .config(|c| {
                c.set("meet.livekit_url", url.as_str())
                    .set("meet.ws_url", "wss://livekit.acme.example")
                    .set("meet.api_key", API_KEY)
                    .set("meet.api_secret", API_SECRET)
                    .set("meet.join_url_base", "https://meet.acme.example/join/")
                    .set("meet.token_ttl_seconds", TOKEN_TTL as i64)
                    .set("meet.request_timeout_seconds", 2)
                    .set("outbox.poll_interval_ms", 50)
                    .set("outbox.retry_base_seconds", 1)
                    .set("outbox.retry_max_seconds", 1)
                    .set("outbox.max_attempts", 1000)
                    .set("outbox.request_timeout_seconds", 2);
                edit(c);
            })
            .start_sso()
            .await?;
        livekit.set_webhook_url(&sso.url(WEBHOOK));
        let bob = add_user(&sso.h.app, "bob@acme.example", Some("bob"), ACME, PASSWORD).await;
        add_user(
            &sso.h.app,
            "carol@acme.example",
            Some("carol"),
            ACME,
            PASSWORD,
        )
        .await;
        add_user(
            &sso.h.app,
            "eve@globex.example",
            Some("eve"),
            GLOBEX,
            PASSWORD,
        )
        .await;
        add_admin(&sso).await;
        let http = reqwest::Client::new();
        let mut m = Self {
            livekit,
            alice: String::new(),
            bob: String::new(),
            carol: String::new(),
            admin: String::new(),
            eve: String::new(),
            bob_id: bob.id.to_string(),
            http,
            sso,
        };
        m.alice = m.login("alice@acme.example").await;
        m.bob = m.login("bob@acme.example").await;
        m.carol = m.login("carol@acme.example").await;
        m.admin = m.login("boss@acme.example").await;
        m.eve = m.login("eve@globex.example").await;
        Some(m)
    }

    /// An access token from the first-party login, as the workspace SPA gets one.
    async fn login(&self, email: &str) -> String {
        let login = self.sso.api_login(email, PASSWORD).await;
        login["access_token"].as_str().unwrap().to_owned()
    }

    /// `method path` with `token`, and the JSON body if any; the status and the JSON answer
    /// (`null` when there is none).
    pub async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, self.sso.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
        };
        (status, json)
    }

    /// A new room of `host` made with `body`; its id.
    pub async fn room(&self, host: &str, body: Value) -> String {
        let (status, room) = self.call(host, "POST", ROOMS, Some(body)).await;
        assert_eq!(status, 201, "{room:#}");
        remember_secret(room["host_token"].as_str().unwrap());
        room["room_id"].as_str().unwrap().to_owned()
    }

    /// Room `id` as its host reads it.
    pub async fn room_json(&self, id: &str) -> Value {
        let (status, room) = self
            .call(&self.alice, "GET", &format!("{ROOMS}/{id}"), None)
            .await;
        assert_eq!(status, 200, "{room:#}");
        room
    }

    /// One second on: rooms made after this sort after those made before.
    pub fn tick(&self) {
        self.sso.h.app.state.clock.advance(1);
    }

    pub fn ws_url(&self) -> &'static str {
        "wss://livekit.acme.example"
    }

    pub fn alice_id(&self) -> String {
        self.sso.alice.id.to_string()
    }

    pub fn bob_id(&self) -> &str {
        &self.bob_id
    }

    /// The claims of a LiveKit token (checked for real by [`Self::verify_with_livekit_sdk`]).
    pub fn livekit_claims(&self, token: &str) -> Value {
        remember_secret(token);
        jwt_payload(token)
    }

    /// What LiveKit's own verifier (Python `livekit-api`) reads from `token`.
    pub async fn verify_with_livekit_sdk(&self, token: &str) -> Value {
        let token = token.to_owned();
        let verified = tokio::task::spawn_blocking(move || {
            crate::livekit::python_verifies(&token, API_KEY, API_SECRET)
        })
        .await
        .unwrap();
        match verified {
            Some(Ok(claims)) => claims,
            Some(Err(reason)) => panic!("LiveKit's verifier refuses the token: {reason}"),
            // Outside CI without the SDK (the helper said so): the claims as decoded here.
            None => Value::Null,
        }
    }

    /// The egress of the latest recording of Acme's room `id`.
    pub async fn livekit_egress_of(&self, id: &str) -> String {
        let db = &self.sso.h.app.state.db;
        let recordings = db.meet_recordings(ACME, id).await.unwrap();
        recordings[0].egress_id.clone()
    }

    /// The rooms LiveKit was asked to delete, in order.
    pub fn livekit_deleted(&self) -> Vec<String> {
        self.livekit.deleted_rooms()
    }

    /// LiveKit, signed as LiveKit signs, tells of `event` in room `room`; the webhook is taken.
    pub async fn webhook_room_event(&self, event: &str, room: &str) {
        let body = json!({
            "event": event,
            "room": {"sid": format!("RM_{}", Uuid::new_v4().simple()), "name": room},
            "id": format!("EV_{}", Uuid::new_v4().simple()),
            "createdAt": self.sso.h.app.state.clock.now().to_string(),
        })
        .to_string();
        let signed = self.sign_webhook(API_KEY, API_SECRET, &body);
        let (status, answer) = self.post_webhook(&body, Some(&signed)).await;
        assert_eq!(status, 200, "{event} for {room}: {answer}");
    }

    /// `Authorization` for a webhook with `body`, signed by `key` with `secret`.
    pub fn sign_webhook(&self, key: &str, secret: &str, body: &str) -> String {
        sign_webhook(
            key,
            secret,
            body.as_bytes(),
            self.sso.h.app.state.clock.now(),
        )
    }

    /// Posts `body` to the webhook with `authorization`; the status and the answer.
    pub async fn post_webhook(&self, body: &str, authorization: Option<&str>) -> (u16, String) {
        let mut request = self
            .http
            .post(self.sso.url(WEBHOOK))
            .header("Content-Type", "application/webhook+json")
            .body(body.to_owned());
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// A token of alice's from a relying party that is not allowed `meet`.
    pub async fn oidc_token_without_meet(&self) -> String {
        let rp = self.sso.default_rp();
        let browser = self.sso.browser();
        let sign_in = self.sso.sign_in(&browser, &rp, &["meet"]).await;
        sign_in.access_token()
    }

    /// Waits (probing) until an outbox job of `kind` has failed at least once.
    pub async fn wait_for_failed_attempt(&self, kind: &str) {
        let db = &self.sso.h.app.state.db;
        for _ in 0..400 {
            let statuses = db.job_statuses().await.unwrap();
            if statuses
                .iter()
                .any(|job| job.kind == kind && job.last_error.is_some())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no {kind} job failed within 10 s");
    }

    pub async fn stop(self) {
        self.sso.h.app.stop().await;
    }
}

/// An Acme user whose role makes them a company admin (`[workspace] admin_roles`, "admin").
async fn add_admin(sso: &Sso) {
    let state = &sso.h.app.state;
    let user = LocalUser {
        id: Uuid::new_v4(),
        email: bheem_sso::domain::Email::parse("boss@acme.example").unwrap(),
        username: Some("boss".into()),
        display_name: "The Boss".into(),
        company_id: Uuid::parse_str(ACME).unwrap(),
        role: "Admin".into(),
        active: true,
        password_hash: state
            .logins
            .passwords
            .hash(&SecretString::from(PASSWORD.to_owned()))
            .await
            .unwrap(),
        created_at: state.clock.now(),
    };
    state.db.insert_user(&user).await.unwrap();
}
