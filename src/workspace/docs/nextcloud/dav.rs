//! Nextcloud's files over WebDAV (`/remote.php/dav/files/{uid}/`), as the user: listing
//! (PROPFIND), finding a file by id (SEARCH), folders, deleting, moving and copying, and the
//! streamed PUT and GET of uploads and downloads.

use axum::http::{HeaderValue, Method, StatusCode};
use percent_encoding::percent_decode_str;

use super::multistatus::{self, Resource, PROPFIND_BODY};
use super::{counted, failure, read_limited, Download, Entry, EntryKind, NcError, Session};
use crate::workspace::docs::paths::UserPath;

/// How much of a PROPFIND or SEARCH answer is read: a folder of tens of thousands of entries.
const MAX_MULTISTATUS_BYTES: usize = 32 * 1024 * 1024;

impl Session<'_> {
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

/// `Tue, 02 Dec 2025 10:00:00 GMT` as `2025-12-02T10:00:00Z`.
fn rfc3339(http_date: &str) -> Option<String> {
    let zoned = jiff::fmt::rfc2822::parse(http_date).ok()?;
    Some(zoned.timestamp().to_string())
}

pub(crate) async fn multistatus_body(
    response: reqwest::Response,
) -> Result<Vec<Resource>, NcError> {
    let status = response.status();
    if status != StatusCode::MULTI_STATUS {
        return Err(failure(response).await);
    }
    let body = read_limited(response, MAX_MULTISTATUS_BYTES).await?;
    multistatus::parse(&body).map_err(|e| NcError::Unusable(format!("multistatus: {e}")))
}

pub(crate) async fn expect_success(response: reqwest::Response) -> Result<(), NcError> {
    if response.status().is_success() {
        Ok(())
    } else {
        Err(failure(response).await)
    }
}

pub(crate) fn extension(name: &'static str) -> Method {
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

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::super::Nextcloud;
    use super::*;
    use crate::config::DocsConfig;

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
        let alice = nc.as_user("alice@example.org".into(), &token);
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
