//! What the files tests stand on: a real hub (its userinfo endpoint checks the tokens), alice
//! and bob with access tokens from the first-party login, the WebDAV server, and the fake
//! Nextcloud in front of it with both users as its accounts.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

use super::client;
use crate::fakes::nextcloud::{FakeNextcloud, FilesBackend, NcUser};
use crate::support::{add_user, DavOptions, DavServer, Sso, TestApp, ACME, PASSWORD};

pub(super) const UID_CLAIM: &str = "preferred_username";

pub(super) struct Files {
    pub sso: Sso,
    pub nc: FakeNextcloud,
    pub dav: DavServer,
    /// Access tokens of alice and bob.
    pub alice: String,
    pub bob: String,
}

impl Files {
    pub async fn start() -> Option<Self> {
        Self::with_quota(None).await
    }

    /// As [`Files::start`], each user allowed `quota_bytes`.
    pub async fn with_quota(quota_bytes: Option<u64>) -> Option<Self> {
        let sso = TestApp::builder().start_sso().await?;
        add_user(&sso.h.app, "bob@acme.example", Some("bob"), ACME, PASSWORD).await;
        let nc = FakeNextcloud::start("admin", "admin-secret").await;
        for (uid, name) in [("alice", "Alice Liddell"), ("bob", "Bob Builder")] {
            let mut user = NcUser::new(uid, "user_oidc");
            user.display_name = name.to_owned();
            user.email = Some(format!("{uid}@acme.example"));
            nc.put_user(user);
        }
        let userinfo_url = sso.url("/api/v1/sso/userinfo");
        let dav = DavServer::start(DavOptions {
            userinfo_url: userinfo_url.clone(),
            uid_claim: UID_CLAIM.to_owned(),
            quota_bytes,
        })
        .await?;
        nc.serve_files(FilesBackend {
            dav_url: dav.url().to_owned(),
            root: dav.root(),
            userinfo_url,
            uid_claim: UID_CLAIM.to_owned(),
        });
        let alice = token(&sso, "alice@acme.example").await;
        let bob = token(&sso, "bob@acme.example").await;
        Some(Self {
            sso,
            nc,
            dav,
            alice,
            bob,
        })
    }

    /// `method` on `path` below `/remote.php/dav/files/` of the fake Nextcloud, as `token`.
    pub fn dav(&self, token: &str, method: &str, path: &str) -> RequestBuilder {
        client()
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}/remote.php/dav/files/{path}", self.nc.url()),
            )
            .bearer_auth(token)
    }

    /// The full URL of `path` below `/remote.php/dav/files/` of the fake, for a Destination.
    pub fn dav_url(&self, path: &str) -> String {
        format!("{}/remote.php/dav/files/{path}", self.nc.url())
    }

    /// PUT of `body` at `path`, which must succeed; the `OC-FileId` answered.
    pub async fn put(&self, token: &str, path: &str, body: &'static [u8]) -> String {
        let response = self
            .dav(token, "PUT", path)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "PUT {path}: {}",
            response.status()
        );
        header(&response, "oc-fileid")
    }

    /// MKCOL of `path`, which must succeed.
    pub async fn mkcol(&self, token: &str, path: &str) {
        let response = self.dav(token, "MKCOL", path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "MKCOL {path}");
    }

    /// `oc:fileid` of `path`, read with PROPFIND; `None` when nothing is there.
    pub async fn file_id(&self, token: &str, path: &str) -> Option<String> {
        let response = self
            .dav(token, "PROPFIND", path)
            .header("Depth", "0")
            .header(CONTENT_TYPE, "application/xml")
            .body(
                r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop><oc:fileid/></d:prop></d:propfind>"#,
            )
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::NOT_FOUND {
            return None;
        }
        assert_eq!(response.status(), StatusCode::MULTI_STATUS);
        let body = response.text().await.unwrap();
        Some(between(&body, "fileid>", "<").to_owned())
    }

    /// A call of the sharing API (OCS v2, JSON) as `token`.
    pub fn ocs(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        client()
            .request(
                method,
                format!(
                    "{}/ocs/v2.php/apps/files_sharing/api/v1/shares{path}",
                    self.nc.url()
                ),
            )
            .bearer_auth(token)
            .header("OCS-APIRequest", "true")
            .query(&[("format", "json")])
    }
}

/// An access token from the workspace SPA's login, which carries the `preferred_username`.
async fn token(sso: &Sso, email: &str) -> String {
    let login = sso.api_login(email, PASSWORD).await;
    login["access_token"].as_str().unwrap().to_owned()
}

pub(super) fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The text between the first `start` and the next `end` after it.
pub(super) fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in {text}"))
        + start.len();
    let to = text[from..].find(end).unwrap() + from;
    &text[from..to]
}

/// Sabre's `s:message` of an error answer.
pub(super) async fn sabre_message(response: reqwest::Response) -> String {
    let body = response.text().await.unwrap();
    between(&body, "<s:message>", "</s:message>").to_owned()
}

/// The status and the OCS envelope of an answer.
pub(super) async fn ocs_answer(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}
