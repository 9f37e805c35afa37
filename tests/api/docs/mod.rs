//! Bheem Docs' API (`/api/v1/docs`) driven over HTTP as the workspace SPA drives it: tokens from
//! the first-party login, forwarded by the hub to a Nextcloud made of the fake's sharing API in
//! front of a real WebDAV server (wsgidav), which checks each token at this provider's userinfo
//! endpoint as user_oidc does (tests/webdav, tests/api/support/webdav.rs).

mod erp_sync;
mod failures;
mod files;
mod isolation;
mod memory;
mod openapi;
mod paths;
mod shares;
mod transfer;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::fakes::nextcloud::{FakeNextcloud, FilesBackend, NcUser};
use crate::support::{
    add_user, remember_secret, Backend, Sso, TestApp, TestConfig, GLOBEX, PASSWORD,
};
use crate::support::{DavOptions, DavServer};

pub const FILES: &str = "/api/v1/docs/files";
pub const UPLOAD: &str = "/api/v1/docs/upload";
pub const USERINFO: &str = "/api/v1/sso/userinfo";
const NC_ADMIN_PASSWORD: &str = "nextcloud-admin-password-for-docs";

/// The provider with `[docs]` on the test Nextcloud, and access tokens of alice and bob of Acme
/// and eve of Globex, each with a Nextcloud account of their user name.
pub struct DocsApp {
    pub sso: Sso,
    pub nc: FakeNextcloud,
    pub dav: DavServer,
    pub alice: String,
    pub bob: String,
    pub eve: String,
    http: reqwest::Client,
}

/// What a test may change of the set-up.
#[derive(Default)]
pub struct Setup {
    /// Each user's storage quota on the WebDAV server.
    pub quota_bytes: Option<u64>,
}

impl DocsApp {
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, Setup::default(), |_| {}).await
    }

    pub async fn start_with(
        backend: Backend,
        setup: Setup,
        edit: impl FnOnce(&mut TestConfig),
    ) -> Option<Self> {
        remember_secret(NC_ADMIN_PASSWORD);
        let nc = FakeNextcloud::start("admin", NC_ADMIN_PASSWORD).await;
        let nc_url = nc.url();
        let sso = TestApp::builder()
            .backend(backend)
            .config(|c| {
                c.set("docs.nextcloud_url", nc_url.as_str())
                    .set("docs.uid_claim", "preferred_username")
                    // Generous: transfers must not fail because the machine is busy. The test
                    // of a hanging Nextcloud sets its own, short timeout.
                    .set("docs.request_timeout_seconds", 30)
                    .set("docs.max_upload_mib", 64);
                edit(c);
            })
            .start_sso()
            .await?;
        let dav = DavServer::start(DavOptions {
            userinfo_url: sso.url(USERINFO),
            uid_claim: "preferred_username".into(),
            quota_bytes: setup.quota_bytes,
        })
        .await?;
        nc.serve_files(FilesBackend {
            dav_url: dav.url().to_owned(),
            root: dav.root().to_path_buf(),
            userinfo_url: sso.url(USERINFO),
            uid_claim: "preferred_username".into(),
        });
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
        for uid in ["alice", "bob", "eve"] {
            nc.put_user(NcUser::new(uid, "user_oidc"));
        }
        let mut d = Self {
            nc,
            dav,
            alice: String::new(),
            bob: String::new(),
            eve: String::new(),
            http: reqwest::Client::new(),
            sso,
        };
        d.alice = d.login("alice@acme.example").await;
        d.bob = d.login("bob@acme.example").await;
        d.eve = d.login("eve@globex.example").await;
        Some(d)
    }

    async fn login(&self, email: &str) -> String {
        let login = self.sso.api_login(email, PASSWORD).await;
        login["access_token"].as_str().unwrap().to_owned()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `method path` with `token` and the JSON body if any: the status and the JSON answer
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
        answer(request.send().await.unwrap()).await
    }

    /// Uploads `bytes` as `name` into `folder` (the `path` field first, as the SPA sends it).
    pub async fn upload(
        &self,
        token: &str,
        folder: &str,
        name: &str,
        bytes: Vec<u8>,
        overwrite: bool,
    ) -> (u16, Value) {
        let form = reqwest::multipart::Form::new()
            .text("path", folder.to_owned())
            .text("overwrite", overwrite.to_string())
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name(name.to_owned())
                    .mime_str("application/octet-stream")
                    .unwrap(),
            );
        let response = self
            .http
            .post(self.sso.url(UPLOAD))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// Where user `uid`'s file `path` is on the WebDAV server's disk.
    pub fn on_disk(&self, uid: &str, path: &str) -> PathBuf {
        self.dav.user_dir(uid).join(path.trim_start_matches('/'))
    }

    /// Waits until nothing is at `path` in `uid`'s files: the WebDAV server removes what a
    /// broken-off upload wrote once it notices the connection is gone, which may be after the
    /// hub has answered. False if something is still there after `within`.
    pub async fn gone_from_disk(&self, uid: &str, path: &str, within: Duration) -> bool {
        let file = self.on_disk(uid, path);
        let deadline = tokio::time::Instant::now() + within;
        while file.exists() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// How many requests reached Nextcloud so far (WebDAV and OCS).
    pub fn nextcloud_requests(&self) -> usize {
        self.nc.requests().len()
    }
}

pub async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {e}: {text}"))
    };
    (status, json)
}
