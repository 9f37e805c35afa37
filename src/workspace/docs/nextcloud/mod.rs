//! Nextcloud, called as the user: WebDAV under `/remote.php/dav/files/{uid}/` (here) and the
//! sharing API under `/ocs/v2.php/apps/files_sharing/` (`ocs`), each request carrying the
//! user's own access token as `Authorization: Bearer`, which user_oidc checks with this
//! provider (`--check-bearer=1`). No Nextcloud password is used, and no admin account.
//!
//! Every call has a deadline: connecting and each read wait at most `request_timeout_seconds`,
//! and calls without a streamed body end by then as a whole. Uploads watch their own progress
//! (`super::transfer`).

pub mod multistatus;
pub mod ocs;

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use utoipa::ToSchema;

use self::multistatus::{Resource, PROPFIND_BODY};
use super::paths::UserPath;
use crate::config::DocsConfig;
use crate::telemetry::{self, DeliveryOutcome, DeliveryTarget};

/// How much of a PROPFIND or SEARCH answer is read: a folder of tens of thousands of entries.
const MAX_MULTISTATUS_BYTES: usize = 32 * 1024 * 1024;

/// Nextcloud as the docs area reaches it.
pub struct Nextcloud {
    http: reqwest::Client,
    /// `{nextcloud_url}`, no trailing slash.
    base: String,
    /// The URL path of `base` (`""`, or `/nextcloud` for an instance in a sub-folder): hrefs in
    /// WebDAV answers are absolute paths that start with it.
    base_path: String,
    timeout: Duration,
}

/// What went wrong talking to Nextcloud.
#[derive(Debug, thiserror::Error)]
pub enum NcError {
    #[error("cannot reach Nextcloud: {0}")]
    Unreachable(String),
    #[error("Nextcloud did not answer in time")]
    Timeout,
    /// An answer that says no: its status, and Nextcloud's own words when it gave any.
    #[error("Nextcloud answered {status}: {message}")]
    Status { status: StatusCode, message: String },
    #[error("Nextcloud's answer is unusable: {0}")]
    Unusable(String),
}

impl NcError {
    pub(super) fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else {
            // Without the URL: it holds the user's file names.
            Self::Unreachable(e.without_url().to_string())
        }
    }

    /// The status Nextcloud answered with, when it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A file or folder as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Entry {
    pub name: String,
    /// From the user's root: `/Reports/q1.pdf`.
    pub path: String,
    #[serde(rename = "type")]
    #[schema(example = "file")]
    pub kind: EntryKind,
    /// Bytes; a folder's is the size of all it holds.
    pub size: u64,
    /// `None` for folders.
    pub mime_type: Option<String>,
    /// RFC 3339, UTC.
    pub modified: Option<String>,
    pub etag: Option<String>,
    /// Nextcloud's file id: stays the same across renames and moves.
    pub file_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Folder,
}

impl Entry {
    pub fn is_folder(&self) -> bool {
        self.kind == EntryKind::Folder
    }
}

impl Nextcloud {
    pub fn new(config: &DocsConfig) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(config.request_timeout_seconds);
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            // Nextcloud's redirects lead to its login page, never to a file.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let base = config.nextcloud_url.trim_end_matches('/').to_owned();
        let base_path = url::Url::parse(&base)?
            .path()
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            http,
            base,
            base_path,
            timeout,
        })
    }

    /// Nextcloud as the user `uid` (their Nextcloud user id), with their access token.
    pub fn as_user<'a>(&'a self, uid: &'a str, token: &'a SecretString) -> Session<'a> {
        Session {
            nc: self,
            uid,
            token,
        }
    }
}

/// Calls made as one user.
pub struct Session<'a> {
    nc: &'a Nextcloud,
    uid: &'a str,
    token: &'a SecretString,
}

/// What a transfer passes on from Nextcloud's answer to a download.
pub struct Download {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: reqwest::Response,
}

impl<'a> Session<'a> {
    pub fn uid(&self) -> &str {
        self.uid
    }

    /// `{base}/remote.php/dav/files/{uid}{path}`.
    fn files_url(&self, path: &UserPath, folder: bool) -> String {
        format!(
            "{}/remote.php/dav/files/{}{}",
            self.nc.base,
            super::paths::encode_name(self.uid),
            path.encoded(folder)
        )
    }

    pub(super) fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.nc
            .http
            .request(method, url)
            .bearer_auth(self.token.expose_secret())
    }

    /// A call without a streamed body: the whole of it within the timeout.
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, NcError> {
        counted(request.timeout(self.nc.timeout).send().await)
    }

    /// The folder's entries (PROPFIND, `Depth: 1`), without the folder itself; `None` when
    /// there is nothing at `path`. A file lists as itself.
    pub async fn list(&self, path: &UserPath) -> Result<Option<Vec<Entry>>, NcError> {
        let Some(resources) = self.propfind(path, "1").await? else {
            return Ok(None);
        };
        let mut entries = Vec::with_capacity(resources.len());
        for resource in resources {
            entries.push(self.entry(resource)?);
        }
        let own = path.to_string();
        if entries.len() > 1 || entries.first().is_some_and(Entry::is_folder) {
            entries.retain(|e| e.path != own);
        }
        Ok(Some(entries))
    }

    /// What is at `path` (PROPFIND, `Depth: 0`); `None` when nothing is.
    pub async fn stat(&self, path: &UserPath) -> Result<Option<Entry>, NcError> {
        match self.propfind(path, "0").await? {
            Some(resources) => match resources.into_iter().next() {
                Some(resource) => self.entry(resource).map(Some),
                None => Err(NcError::Unusable("an empty multistatus".into())),
            },
            None => Ok(None),
        }
    }

    async fn propfind(
        &self,
        path: &UserPath,
        depth: &str,
    ) -> Result<Option<Vec<Resource>>, NcError> {
        let request = self
            .request(propfind(), &self.files_url(path, false))
            .header("Depth", depth)
            .header("Content-Type", "application/xml; charset=utf-8")
            .body(PROPFIND_BODY);
        let response = self.call(request).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = multistatus_body(response).await?;
        Ok(Some(body))
    }

    /// The user's file of Nextcloud id `file_id`, found with a WebDAV SEARCH (RFC 5323) over
    /// their own files, as Nextcloud's clients do; `None` when they have none of that id.
    pub async fn find_by_id(&self, file_id: &str) -> Result<Option<Entry>, NcError> {
        let scope = format!("/files/{}", self.uid);
        let body = multistatus::search_by_file_id(&scope, file_id)
            .map_err(|e| NcError::Unusable(format!("writing the SEARCH body: {e}")))?;
        let request = self
            .request(search(), &format!("{}/remote.php/dav/", self.nc.base))
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(body);
        let response = self.call(request).await?;
        let resources = multistatus_body(response).await?;
        for resource in resources {
            if resource.file_id.as_deref() == Some(file_id) {
                return self.entry(resource).map(Some);
            }
        }
        Ok(None)
    }

    /// MKCOL: a new folder at `path`.
    pub async fn make_folder(&self, path: &UserPath) -> Result<(), NcError> {
        let request = self.request(mkcol(), &self.files_url(path, true));
        expect_success(self.call(request).await?).await
    }

    /// DELETE of a file or a folder with all it holds.
    pub async fn delete(&self, path: &UserPath, folder: bool) -> Result<(), NcError> {
        let request = self.request(Method::DELETE, &self.files_url(path, folder));
        expect_success(self.call(request).await?).await
    }

    /// MOVE or COPY `from` to `to` (RFC 4918 §9.8, §9.9); with `overwrite` false, a target
    /// that exists is refused (412).
    pub async fn transfer(
        &self,
        copy: bool,
        from: &UserPath,
        to: &UserPath,
        folder: bool,
        overwrite: bool,
    ) -> Result<(), NcError> {
        let method = if copy { copy_method() } else { move_method() };
        let request = self
            .request(method, &self.files_url(from, folder))
            .header("Destination", self.files_url(to, folder))
            .header("Overwrite", if overwrite { "T" } else { "F" });
        expect_success(self.call(request).await?).await
    }

    /// PUT `body` at `path`; with `create_only`, `If-None-Match: *` makes Nextcloud refuse
    /// (412) a file that exists by the time the body arrives. The body is a stream: no
    /// overall deadline here, the caller watches its progress.
    pub async fn put(
        &self,
        path: &UserPath,
        body: reqwest::Body,
        content_type: Option<&str>,
        create_only: bool,
    ) -> Result<(), NcError> {
        let mut request = self
            .request(Method::PUT, &self.files_url(path, false))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        if create_only {
            request = request.header("If-None-Match", "*");
        }
        expect_success(counted(request.send().await)?).await
    }

    /// GET of a file, `Range` passed on; the body is left to stream.
    pub async fn get(
        &self,
        path: &UserPath,
        range: Option<&HeaderValue>,
    ) -> Result<Download, NcError> {
        let mut request = self.request(Method::GET, &self.files_url(path, false));
        if let Some(range) = range {
            request = request.header("Range", range.clone());
        }
        let response = counted(request.send().await)?;
        let status = response.status();
        if !(status.is_success()) {
            return Err(failure(response).await);
        }
        Ok(Download {
            status,
            headers: response.headers().clone(),
            body: response,
        })
    }

    /// The entry an href of this user's files names.
    fn entry(&self, r: Resource) -> Result<Entry, NcError> {
        let path = self
            .user_path(&r.href)
            .ok_or_else(|| NcError::Unusable("an href outside the user's files".into()))?;
        let name = path.name().unwrap_or_default().to_owned();
        let folder = r.folder;
        Ok(Entry {
            name,
            path: path.to_string(),
            kind: if folder {
                EntryKind::Folder
            } else {
                EntryKind::File
            },
            size: if folder {
                r.size.unwrap_or(0)
            } else {
                r.content_length.or(r.size).unwrap_or(0)
            },
            mime_type: if folder { None } else { r.content_type },
            modified: r.last_modified.as_deref().and_then(rfc3339),
            etag: r.etag,
            file_id: r.file_id,
        })
    }

    /// The path below the user's root an href names (`/remote.php/dav/files/{uid}/…`,
    /// possibly as an absolute URL); `None` for anything else.
    fn user_path(&self, href: &str) -> Option<UserPath> {
        let path = match href.find("://") {
            Some(i) => &href[href[i + 3..].find('/').map(|j| i + 3 + j)?..],
            None => href,
        };
        let rest = path
            .strip_prefix(self.nc.base_path.as_str())?
            .strip_prefix("/remote.php/dav/files/")?;
        let (uid, below) = rest.split_once('/').unwrap_or((rest, ""));
        if percent_decode_str(uid).decode_utf8().ok()? != self.uid {
            return None;
        }
        UserPath::from_encoded(below)
    }
}

/// Each call to Nextcloud is a delivery to `nextcloud` in the metrics: done when it answered
/// (a refusal of what the user asked is an answer), retry when it was down, slow or failing
/// (5xx), the user may try again.
pub(super) fn counted(
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<reqwest::Response, NcError> {
    let outcome = match &sent {
        Ok(response) if response.status().is_server_error() => DeliveryOutcome::Retry,
        Ok(_) => DeliveryOutcome::Done,
        Err(_) => DeliveryOutcome::Retry,
    };
    telemetry::delivery(DeliveryTarget::Nextcloud, outcome);
    sent.map_err(NcError::from_reqwest)
}

/// `Tue, 02 Dec 2025 10:00:00 GMT` as `2025-12-02T10:00:00Z`.
fn rfc3339(http_date: &str) -> Option<String> {
    let zoned = jiff::fmt::rfc2822::parse(http_date).ok()?;
    Some(zoned.timestamp().to_string())
}

async fn multistatus_body(response: reqwest::Response) -> Result<Vec<Resource>, NcError> {
    let status = response.status();
    if status != StatusCode::MULTI_STATUS {
        return Err(failure(response).await);
    }
    let body = read_limited(response, MAX_MULTISTATUS_BYTES).await?;
    multistatus::parse(&body).map_err(|e| NcError::Unusable(format!("multistatus: {e}")))
}

/// The body, up to `limit` bytes: more is an unusable answer, not memory spent.
pub(super) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, NcError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(NcError::from_reqwest)? {
        if body.len() + chunk.len() > limit {
            return Err(NcError::Unusable(format!("an answer over {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn expect_success(response: reqwest::Response) -> Result<(), NcError> {
    if response.status().is_success() {
        Ok(())
    } else {
        Err(failure(response).await)
    }
}

/// A refusal, with Nextcloud's message when it sent one (Sabre's `<s:message>`), for the log.
pub(super) async fn failure(response: reqwest::Response) -> NcError {
    let status = response.status();
    let body = read_limited(response, 64 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let message = text
        .split_once("<s:message>")
        .and_then(|(_, rest)| rest.split_once("</s:message>"))
        .map(|(m, _)| m.to_owned())
        .unwrap_or_default();
    NcError::Status { status, message }
}

fn extension(name: &'static str) -> Method {
    Method::from_bytes(name.as_bytes()).expect("a WebDAV method name is a valid token")
}

fn propfind() -> Method {
    extension("PROPFIND")
}

fn search() -> Method {
    extension("SEARCH")
}

fn mkcol() -> Method {
    extension("MKCOL")
}

fn move_method() -> Method {
    extension("MOVE")
}

fn copy_method() -> Method {
    extension("COPY")
}

/// The headers of Nextcloud's answer to a download that pass on to the client.
pub const PASSED_ON: [HeaderName; 6] = [
    axum::http::header::CONTENT_TYPE,
    axum::http::header::CONTENT_LENGTH,
    axum::http::header::CONTENT_RANGE,
    axum::http::header::ACCEPT_RANGES,
    axum::http::header::ETAG,
    axum::http::header::LAST_MODIFIED,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_become_rfc_3339() {
        assert_eq!(
            rfc3339("Tue, 02 Dec 2025 10:00:00 GMT").as_deref(),
            Some("2025-12-02T10:00:00Z")
        );
        assert_eq!(rfc3339("yesterday"), None);
    }

    #[test]
    fn hrefs_are_the_users_own_or_nothing() {
        let config = DocsConfig {
            nextcloud_url: "https://nc.example.org/cloud".into(),
            uid_claim: "preferred_username".into(),
            max_upload_bytes: 1,
            request_timeout_seconds: 1,
        };
        let nc = Nextcloud::new(&config).unwrap();
        let token = SecretString::from("t");
        let alice = nc.as_user("alice@example.org", &token);
        let path = |href: &str| alice.user_path(href).map(|p| p.to_string());
        assert_eq!(
            path("/cloud/remote.php/dav/files/alice%40example.org/a%20b/c.txt").as_deref(),
            Some("/a b/c.txt")
        );
        assert_eq!(
            path("https://nc.example.org/cloud/remote.php/dav/files/alice@example.org/").as_deref(),
            Some("/")
        );
        assert_eq!(path("/cloud/remote.php/dav/files/bob/c.txt"), None);
        assert_eq!(
            path("/remote.php/dav/files/alice%40example.org/c.txt"),
            None
        );
        assert_eq!(
            path("/cloud/remote.php/dav/files/alice%40example.org/%2e%2e/x"),
            None
        );
    }
}
