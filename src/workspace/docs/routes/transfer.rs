//! Uploads (multipart, streamed to WebDAV `PUT`) and downloads (streamed from `GET`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::multipart::Field;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, Response, StatusCode};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{below_root, user_path};
use crate::http::AppState;
use crate::workspace::docs::nextcloud::Entry;
use crate::workspace::docs::paths::UserPath;
use crate::workspace::docs::{nextcloud_failed, transfer, DocsService};
use crate::workspace::{ApiError, ApiErrorBody, Caller, Docs};

/// The small fields of an upload are read whole, up to this.
const MAX_FIELD_BYTES: usize = 8 * 1024;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The folder the file goes in; may be sent as the multipart field `path` instead.
    pub path: Option<String>,
    /// Replace a file of the same name (false: 409).
    pub overwrite: Option<bool>,
}

/// A multipart upload: the folder (`path`), then the file (`file`, with its name).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The folder the file goes in (before `file`).
    path: String,
    /// `true` to replace a file of the same name.
    overwrite: Option<String>,
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// The file, from the user's root.
    pub path: String,
}

/// Uploads a file, streamed to Nextcloud as it arrives (larger than `max_upload_mib`: 413).
#[utoipa::path(
    post, path = "/upload", tag = "docs",
    security(("bearer" = ["docs"]), ("oauth2" = ["docs"])),
    params(UploadQuery),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "A file replaced", body = Entry),
        (status = 201, description = "A new file", body = Entry),
        (status = 400, description = "Not a proper multipart body, or it broke off", body = ApiErrorBody),
        (status = 409, description = "A file of that name exists (without overwrite), or a folder does", body = ApiErrorBody),
        (status = 413, description = "Larger than max_upload_mib", body = ApiErrorBody),
        (status = 422, description = "A bad path or name, no file, or the folder does not exist", body = ApiErrorBody),
        (status = 423, description = "The file is locked", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud stopped taking the file", body = ApiErrorBody),
        (status = 507, description = "Over quota", body = ApiErrorBody),
    )
)]
pub(super) async fn upload(
    caller: Caller<Docs>,
    Extension(docs): Extension<Arc<DocsService>>,
    State(state): State<AppState>,
    q: Result<Query<UploadQuery>, QueryRejection>,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<Entry>), ApiError> {
    let Query(q) = q.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let mut folder = q
        .path
        .as_deref()
        .map(|p| user_path("path", p))
        .transpose()?;
    let mut overwrite = q.overwrite.unwrap_or(false);
    let nc = docs.as_caller(&caller)?;
    while let Some(mut field) = multipart.next_field().await.map_err(broke_off)? {
        match field.name() {
            Some("path") => folder = Some(user_path("path", &small_field(&mut field).await?)?),
            Some("overwrite") => {
                overwrite = match small_field(&mut field).await?.trim() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => return Err(ApiError::invalid("overwrite", "must be true or false")),
                }
            }
            Some("file") => {
                let folder = folder.ok_or_else(|| {
                    ApiError::invalid("path", "missing (send it before the file, or in the query)")
                })?;
                let name = field
                    .file_name()
                    .ok_or_else(|| ApiError::invalid("file", "has no file name"))?
                    .to_owned();
                let target = folder
                    .join(&name)
                    .map_err(|bad| ApiError::invalid("file", format!("its name {}", bad.0)))?;
                let (entry, new) = docs.upload(&nc, &target, &mut field, overwrite).await?;
                docs.uploaded(&state, &caller, nc.uid(), &target, &entry)
                    .await?;
                let status = if new {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                return Ok((status, Json(entry)));
            }
            // Other fields are not ours; they are read past.
            _ => while field.chunk().await.map_err(broke_off)?.is_some() {},
        }
    }
    Err(ApiError::invalid("file", "missing"))
}

/// A small text field, whole; longer than `MAX_FIELD_BYTES` is refused.
async fn small_field(field: &mut Field<'_>) -> Result<String, ApiError> {
    let name = field.name().unwrap_or_default().to_owned();
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(broke_off)? {
        if bytes.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err(ApiError::invalid(name, "is too long"));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::invalid(name, "is not UTF-8"))
}

fn broke_off(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::BodyTooLarge;
    }
    ApiError::MalformedBody(e.body_text())
}

/// Downloads the caller's file of Nextcloud file id `file_id` (found by a WebDAV SEARCH).
#[utoipa::path(
    get, path = "/download/{file_id}", tag = "docs",
    security(("bearer" = ["docs"]), ("oauth2" = ["docs"])),
    params(("file_id" = String, Path, description = "Nextcloud's file id (`file_id` of a listing)")),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 206, description = "The part of it `Range` asked for"),
        (status = 404, description = "The caller has no file of that id", body = ApiErrorBody),
        (status = 422, description = "A folder, or a range outside the file", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn download_by_id(
    caller: Caller<Docs>,
    Extension(docs): Extension<Arc<DocsService>>,
    Path(file_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response<Body>, ApiError> {
    // Nextcloud's file ids are numbers; anything else names no file.
    if !super::is_numeric_id(&file_id) {
        return Err(ApiError::NotFound);
    }
    let nc = docs.as_caller(&caller)?;
    let entry = nc
        .find_by_id(&file_id)
        .await
        .map_err(nextcloud_failed)?
        .ok_or(ApiError::NotFound)?;
    let path = UserPath::parse(&entry.path).map_err(|_| ApiError::NotFound)?;
    transfer::download(&nc, &path, &entry, headers.get(header::RANGE)).await
}

/// Downloads the caller's file at `path`.
#[utoipa::path(
    get, path = "/download", tag = "docs",
    security(("bearer" = ["docs"]), ("oauth2" = ["docs"])),
    params(DownloadQuery),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 206, description = "The part of it `Range` asked for"),
        (status = 404, description = "No file at that path", body = ApiErrorBody),
        (status = 422, description = "A bad path, a folder, or a range outside the file", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn download_by_path(
    caller: Caller<Docs>,
    Extension(docs): Extension<Arc<DocsService>>,
    q: Result<Query<DownloadQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let path = below_root("path", &q.path)?;
    let nc = docs.as_caller(&caller)?;
    let entry = nc
        .stat(&path)
        .await
        .map_err(nextcloud_failed)?
        .ok_or(ApiError::NotFound)?;
    transfer::download(&nc, &path, &entry, headers.get(header::RANGE)).await
}
