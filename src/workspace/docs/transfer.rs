//! Files passing through: an upload streams from the client's multipart body into Nextcloud's
//! WebDAV `PUT`, a download from Nextcloud's `GET` back to the client, neither held in memory
//! (a few chunks in flight at most).
//!
//! An upload has no overall deadline, since a large file takes as long as it takes; what is
//! watched instead is Nextcloud: while it is not taking the bytes offered or not answering
//! once all are sent, for longer than `request_timeout_seconds`, the upload ends with 504. A
//! slow client is not Nextcloud's fault and is not counted.

use std::sync::Mutex;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::multipart::{Field, MultipartError};
use axum::http::{header, HeaderValue, Response, StatusCode};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::nextcloud::{Entry, NcError, Session, PASSED_ON};
use super::paths::UserPath;
use super::{nextcloud_failed, DocsService};
use crate::workspace::ApiError;

/// Room for the multipart framing and the small fields around the file.
const MULTIPART_OVERHEAD: u64 = 1024 * 1024;
/// Chunks waiting between the client and Nextcloud: with multer's chunks of a few KiB to
/// 64 KiB, well under a MiB per upload.
const CHUNKS_IN_FLIGHT: usize = 4;

/// The largest request body the upload route reads.
pub(super) fn request_limit(max_upload_bytes: u64) -> usize {
    usize::try_from(max_upload_bytes.saturating_add(MULTIPART_OVERHEAD)).unwrap_or(usize::MAX)
}

/// Why an upload did not finish.
enum Stopped {
    /// The client's body broke off or is not proper multipart.
    Client(MultipartError),
    TooLarge,
    Stalled,
    Nextcloud(NcError),
}

/// When Nextcloud started keeping the upload waiting, if it is.
struct Watch(Mutex<Option<Instant>>);

impl Watch {
    fn waiting(&self, on_nextcloud: bool) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = on_nextcloud.then(Instant::now);
    }

    /// Resolves once Nextcloud has kept the upload waiting for `limit`.
    async fn stalled(&self, limit: Duration) {
        let tick = (limit / 4).max(Duration::from_millis(100));
        loop {
            tokio::time::sleep(tick).await;
            let since = *self.0.lock().unwrap_or_else(|e| e.into_inner());
            if since.is_some_and(|t| t.elapsed() >= limit) {
                return;
            }
        }
    }
}

impl DocsService {
    /// The file of multipart field `field` to `target`, streamed. A file there already is
    /// replaced only with `overwrite` (409 otherwise), never a folder. Answers the new entry and
    /// whether it is new.
    pub(super) async fn upload(
        &self,
        nc: &Session<'_>,
        target: &UserPath,
        field: &mut Field<'_>,
        overwrite: bool,
    ) -> Result<(Entry, bool), ApiError> {
        let new = match nc.stat(target).await.map_err(nextcloud_failed)? {
            Some(existing) if existing.is_folder() => {
                return Err(ApiError::Conflict(format!("{target} is a folder")))
            }
            Some(_) if !overwrite => {
                return Err(ApiError::Conflict(format!(
                    "{target} exists; send overwrite=true to replace it"
                )))
            }
            Some(_) => false,
            None => true,
        };
        let content_type = field.content_type().map(str::to_owned);
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_IN_FLIGHT);
        let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|chunk| (chunk, rx))
        }));
        let watch = Watch(Mutex::new(None));
        let limit = self.max_upload_bytes;
        let pump = async {
            let mut sent: u64 = 0;
            while let Some(chunk) = field.chunk().await.map_err(Stopped::Client)? {
                sent += chunk.len() as u64;
                if sent > limit {
                    return Err(Stopped::TooLarge);
                }
                watch.waiting(true);
                if tx.send(Ok(chunk)).await.is_err() {
                    // Nextcloud answered before taking all of it: its answer says why.
                    break;
                }
                watch.waiting(false);
            }
            drop(tx);
            watch.waiting(true);
            Ok::<_, Stopped>(())
        };
        let put = async {
            nc.put(target, body, content_type.as_deref(), !overwrite)
                .await
                .map_err(Stopped::Nextcloud)
        };
        let outcome = tokio::select! {
            outcome = futures_util::future::try_join(pump, put) => outcome.map(drop),
            () = watch.stalled(self.timeout) => Err(Stopped::Stalled),
        };
        if let Err(stopped) = outcome {
            return Err(self.upload_failed(nc, target, new, stopped).await);
        }
        let entry = nc
            .stat(target)
            .await
            .map_err(nextcloud_failed)?
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the uploaded file is not there")))?;
        Ok((entry, new))
    }

    /// What an upload that stopped short leaves: nothing. Nextcloud keeps an unfinished `PUT`
    /// in a part file it drops, but a WebDAV server may have written part of a new file, which
    /// is removed here (a replaced file is left to Nextcloud's versions).
    async fn upload_failed(
        &self,
        nc: &Session<'_>,
        target: &UserPath,
        new: bool,
        stopped: Stopped,
    ) -> ApiError {
        let broke_off = !matches!(stopped, Stopped::Nextcloud(NcError::Status { .. }));
        if new && broke_off {
            if let Err(e) = nc.delete(target, false).await {
                if e.status() != Some(StatusCode::NOT_FOUND) {
                    tracing::warn!(error = %e, "could not remove the part of an unfinished upload");
                }
            }
        }
        match stopped {
            Stopped::Client(e) => {
                tracing::info!(error = %e, "upload broke off");
                ApiError::MalformedBody(format!("the upload broke off: {}", e.body_text()))
            }
            Stopped::TooLarge => ApiError::BodyTooLarge,
            Stopped::Stalled => {
                tracing::warn!("Nextcloud stopped taking an upload");
                ApiError::GatewayTimeout {
                    service: "nextcloud",
                }
            }
            Stopped::Nextcloud(NcError::Status { status, .. })
                if status == StatusCode::CONFLICT =>
            {
                ApiError::invalid(
                    "path",
                    format!("the folder {} does not exist", target.parent()),
                )
            }
            Stopped::Nextcloud(NcError::Status { status, .. })
                if status == StatusCode::PRECONDITION_FAILED =>
            {
                ApiError::Conflict(format!(
                    "{target} exists; send overwrite=true to replace it"
                ))
            }
            Stopped::Nextcloud(e) => nextcloud_failed(e),
        }
    }
}

/// The file `entry` at `path`, streamed from Nextcloud with its type, length and name; a
/// `Range` is passed on, and Nextcloud's 206 with it.
pub(super) async fn download(
    nc: &Session<'_>,
    path: &UserPath,
    entry: &Entry,
    range: Option<&HeaderValue>,
) -> Result<Response<Body>, ApiError> {
    if entry.is_folder() {
        return Err(ApiError::invalid(
            "path",
            "is a folder; only files download",
        ));
    }
    let download = match nc.get(path, range).await {
        Ok(download) => download,
        Err(NcError::Status { status, .. }) if status == StatusCode::RANGE_NOT_SATISFIABLE => {
            return Err(ApiError::invalid("Range", "is outside the file"))
        }
        Err(e) => return Err(nextcloud_failed(e)),
    };
    let mut response = Response::new(Body::from_stream(download.body.bytes_stream()));
    *response.status_mut() = download.status;
    for name in PASSED_ON {
        if let Some(value) = download.headers.get(&name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
        .headers_mut()
        .insert(header::CONTENT_DISPOSITION, attachment(&entry.name));
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

/// `Content-Disposition: attachment` naming the file (RFC 6266): an ASCII fallback, and the
/// real name in UTF-8 (RFC 8187).
fn attachment(name: &str) -> HeaderValue {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let value = format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        super::paths::encode_name(name)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_have_an_ascii_fallback_and_the_utf8_name() {
        assert_eq!(
            attachment("Q1 \"report\" ü.pdf"),
            "attachment; filename=\"Q1 _report_ _.pdf\"; filename*=UTF-8''Q1%20%22report%22%20%C3%BC.pdf"
        );
    }

    #[tokio::test]
    async fn only_nextcloud_keeping_us_waiting_counts_as_a_stall() {
        let watch = Watch(Mutex::new(None));
        let limit = Duration::from_millis(100);
        // Waiting on the client, however long, is not a stall: ten limits pass without one.
        let stalled = tokio::time::timeout(limit * 10, watch.stalled(limit)).await;
        assert!(stalled.is_err());
        watch.waiting(true);
        // A minute is only the bound of a test on a loaded machine: it resolves after `limit`.
        let stalled = tokio::time::timeout(Duration::from_secs(60), watch.stalled(limit)).await;
        assert!(stalled.is_ok());
    }
}
