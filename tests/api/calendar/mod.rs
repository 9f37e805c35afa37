//! Bheem Calendar's API (`/api/v1/calendar`) driven over HTTP as the workspace SPA drives it:
//! tokens from the first-party login, forwarded by the hub to a real CalDAV server laid out as
//! Nextcloud's calendars (Radicale, tests/caldav, [`CalDavServer`]), which checks each token at
//! this provider's userinfo endpoint as user_oidc does.
//!
//! The CalDAV server needs the provider's userinfo URL to start, and the provider's
//! `[calendar]` needs the CalDAV server's URL: so the provider runs as two nodes of one
//! deployment (one database, one key set, one issuer), the first answering userinfo, the
//! second (`api`) with `[calendar]` serving the API. Tokens of one are tokens of the other.

mod calendars;
mod dense;
mod events;
mod failures;
mod invitations;
mod isolation;
mod meetings;
mod openapi;
mod recurrence;
mod series_rooms;
mod zones;

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{
    add_user, standard_clients, Backend, CalDavOptions, CalDavServer, Sso, TestApp, TestConfig,
    GLOBEX, PASSWORD,
};

pub const EVENTS: &str = "/api/v1/calendar/events";
pub const USERINFO: &str = "/api/v1/sso/userinfo";

/// The provider with `[calendar]` on the test CalDAV server, and access tokens of alice and bob
/// of Acme and eve of Globex, each with a Nextcloud user id of their user name.
pub struct CalendarApp {
    pub sso: Sso,
    pub api: TestApp,
    pub dav: CalDavServer,
    pub alice: String,
    pub bob: String,
    pub eve: String,
    backend: Backend,
    http: reqwest::Client,
}

impl CalendarApp {
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_| {}).await
    }

    /// As [`CalendarApp::start`], with more configuration for both nodes.
    pub async fn start_with(
        backend: Backend,
        edit: impl Fn(&mut TestConfig) + Clone,
    ) -> Option<Self> {
        Self::start_with_env(backend, None, edit).await
    }

    /// As [`CalendarApp::start_with`], with an environment variable set for both nodes (a
    /// secret the configuration names).
    pub async fn start_with_env(
        backend: Backend,
        env: Option<(&str, &str)>,
        edit: impl Fn(&mut TestConfig) + Clone,
    ) -> Option<Self> {
        let mut builder = TestApp::builder().backend(backend).config(edit.clone());
        if let Some((name, value)) = env {
            builder = builder.env(name, value);
        }
        let sso = builder.start_sso().await?;
        let dav = CalDavServer::start(CalDavOptions {
            userinfo_url: sso.url(USERINFO),
            uid_claim: "preferred_username".into(),
        })
        .await?;
        let api = node(&sso, backend, dav.url(), env, edit).await;
        add_user(
            &sso.h.app,
            "bob@acme.example",
            Some("bob"),
            crate::support::ACME,
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
        let mut app = Self {
            sso,
            api,
            dav,
            alice: String::new(),
            bob: String::new(),
            eve: String::new(),
            backend,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        };
        app.alice = app.login("alice@acme.example").await;
        app.bob = app.login("bob@acme.example").await;
        app.eve = app.login("eve@globex.example").await;
        Some(app)
    }

    async fn login(&self, email: &str) -> String {
        let login = self.sso.api_login(email, PASSWORD).await;
        login["access_token"].as_str().unwrap().to_owned()
    }

    /// Another API node of this deployment, with its calendars at `nextcloud_url`.
    pub async fn node(&self, nextcloud_url: &str) -> TestApp {
        self.node_with(nextcloud_url, |_| {}).await
    }

    /// As [`CalendarApp::node`], with more configuration (`[calendar]`'s limits).
    pub async fn node_with(
        &self,
        nextcloud_url: &str,
        edit: impl FnOnce(&mut TestConfig),
    ) -> TestApp {
        node(&self.sso, self.backend, nextcloud_url, None, edit).await
    }

    /// `method path` on the API node with `token`, the JSON body if any and `headers`: the
    /// status, the JSON answer (`null` when there is none) and the response headers.
    pub async fn call_on(
        &self,
        base: &str,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{base}{path}"))
            .bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {e}: {text}"))
        };
        (status, json)
    }

    pub async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        self.call_on(&self.api.base, token, method, path, body, &[])
            .await
    }

    /// Creates an event for `token`'s user, asserting it was.
    pub async fn create(&self, token: &str, body: Value) -> Value {
        let (status, event) = self.call(token, "POST", EVENTS, Some(&body)).await;
        assert_eq!(status, 201, "{event:#}\n{}", self.dav.log());
        event
    }

    /// The events in `[start, end)` of `token`'s default calendar.
    pub async fn list(&self, token: &str, start: &str, end: &str) -> Vec<Value> {
        let (status, list) = self
            .call(
                token,
                "GET",
                &format!("{EVENTS}?start={start}&end={end}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{list:#}");
        list["events"].as_array().unwrap().clone()
    }

    /// PUT of `ics` as `resource` in `uid`'s `personal` calendar straight on the CalDAV
    /// server, as another client (Thunderbird, a phone) would; the status.
    pub async fn put_directly(&self, token: &str, uid: &str, resource: &str, ics: &str) -> u16 {
        self.http
            .put(format!(
                "{}{resource}",
                self.dav.calendar_url(uid, "personal")
            ))
            .bearer_auth(token)
            .header("content-type", "text/calendar; charset=utf-8")
            .body(ics.to_owned())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The calendar objects stored for `uid` (Radicale's files), by name, with their text.
    pub fn stored(&self, uid: &str) -> Vec<(String, String)> {
        let dir: PathBuf = self
            .dav
            .storage()
            .join("collection-root")
            .join(uid)
            .join("personal");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "ics"))
                    .map(|p| {
                        (
                            p.file_name().unwrap().to_string_lossy().into_owned(),
                            std::fs::read_to_string(&p).unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }
}

/// An API node of `sso`'s deployment with `[calendar]` at `nextcloud_url`.
async fn node(
    sso: &Sso,
    backend: Backend,
    nextcloud_url: &str,
    env: Option<(&str, &str)>,
    edit: impl FnOnce(&mut TestConfig),
) -> TestApp {
    let mut builder = TestApp::builder();
    if let Some((name, value)) = env {
        builder = builder.env(name, value);
    }
    builder
        .backend(backend)
        .clients(standard_clients())
        .set("issuer", sso.h.app.base.as_str())
        .set("calendar.nextcloud_url", nextcloud_url)
        .set("calendar.uid_claim", "preferred_username")
        .set("calendar.request_timeout_seconds", 2)
        .config(edit)
        .start_on(&sso.h.db.url, sso.h.keys.path())
        .await
}
