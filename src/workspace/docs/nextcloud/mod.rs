//! Nextcloud, called as the user: WebDAV under `/remote.php/dav/files/{uid}/` (`dav`) and the
//! sharing API under `/ocs/v2.php/apps/files_sharing/` (`ocs`), each request carrying the
//! user's own access token as `Authorization: Bearer`, which user_oidc checks with this
//! provider (`--check-bearer=1`). No Nextcloud password is used, and no admin account.
//!
//! Every call has a deadline: connecting and each read wait at most `request_timeout_seconds`,
//! and calls without a streamed body end by then as a whole. Uploads watch their own progress
//! (`super::transfer`).

pub(crate) mod dav;
pub mod multistatus;
pub mod ocs;

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use utoipa::ToSchema;

use super::paths::UserPath;
use crate::config::DocsConfig;
use crate::telemetry::{self, DeliveryOutcome, DeliveryTarget};

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
        Self::at(&config.nextcloud_url, config.request_timeout_seconds)
    }

    /// Nextcloud at `url` (its base URL), each call answered within `request_timeout_seconds`:
    /// the files' and the calendars' share this.
    pub fn at(url: &str, request_timeout_seconds: u64) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(request_timeout_seconds);
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            // Nextcloud's redirects lead to its login page, never to a file.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let base = url.trim_end_matches('/').to_owned();
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
    pub fn as_user<'a>(&'a self, uid: String, token: &'a SecretString) -> Session<'a> {
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
    uid: String,
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
        &self.uid
    }

    /// `{base}/remote.php/dav/files/{uid}{path}`.
    fn files_url(&self, path: &UserPath, folder: bool) -> String {
        format!(
            "{}/remote.php/dav/files/{}{}",
            self.nc.base,
            super::paths::encode_name(&self.uid),
            path.encoded(folder)
        )
    }

    /// `{base}/remote.php/dav/{rest}`: `rest` percent-encoded by the caller.
    pub(crate) fn dav_url(&self, rest: &str) -> String {
        format!("{}/remote.php/dav/{rest}", self.nc.base)
    }

    /// What an href of a WebDAV answer starts with when it names something under
    /// `/remote.php/dav/` (`/nextcloud/remote.php/dav/` for an instance in a sub-folder).
    pub(crate) fn dav_href_prefix(&self) -> String {
        format!("{}/remote.php/dav/", self.nc.base_path)
    }

    pub(crate) fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.nc
            .http
            .request(method, url)
            .bearer_auth(self.token.expose_secret())
    }

    /// A call without a streamed body: the whole of it within the timeout.
    pub(crate) async fn call(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, NcError> {
        counted(request.timeout(self.nc.timeout).send().await)
    }
}

/// Each call to Nextcloud is a delivery to `nextcloud` in the metrics: done when it answered
/// (a refusal of what the user asked is an answer), retry when it was down, slow or failing
/// (5xx), the user may try again.
pub(crate) fn counted(
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

/// The body, up to `limit` bytes: more is an unusable answer, not memory spent.
pub(crate) async fn read_limited(
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

/// A refusal, with Nextcloud's message when it sent one (Sabre's `<s:message>`), for the log.
pub(crate) async fn failure(response: reqwest::Response) -> NcError {
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

/// The headers of Nextcloud's answer to a download that pass on to the client.
pub const PASSED_ON: [HeaderName; 6] = [
    axum::http::header::CONTENT_TYPE,
    axum::http::header::CONTENT_LENGTH,
    axum::http::header::CONTENT_RANGE,
    axum::http::header::ACCEPT_RANGES,
    axum::http::header::ETAG,
    axum::http::header::LAST_MODIFIED,
];
