//! Listing, making folders, deleting, moving (and renaming) and copying.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{below_root, user_path};
use crate::http::AppState;
use crate::workspace::docs::nextcloud::{Entry, EntryKind, NcError};
use crate::workspace::docs::paths::UserPath;
use crate::workspace::docs::{nextcloud_failed, DocsService};
use crate::workspace::{ApiError, ApiErrorBody, Caller, Docs, ValidJson};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The folder, from the user's root (`/`).
    pub path: Option<String>,
    /// `all` (default), `folder` or `file`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// A folder's entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct Listing {
    pub path: String,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PathQuery {
    /// A file or folder, from the user's root.
    pub path: String,
}

/// A new folder `name` in folder `path`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFolder {
    pub name: String,
    /// The folder it goes in (`/` by default).
    pub path: Option<String>,
}

/// Move (or rename) or copy `from` to `to`, both full paths.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    pub from: String,
    pub to: String,
    /// Replace what is at `to` (false: 409 when something is).
    #[serde(default)]
    pub overwrite: bool,
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::invalid("query", e.body_text()))
}

/// The entries of one of the caller's folders (WebDAV PROPFIND, `Depth: 1`).
#[utoipa::path(
    get, path = "/files", tag = "docs",
    security(("bearer" = ["docs"]), ("oauth2" = ["docs"])),
    params(ListQuery),
    responses(
        (status = 200, description = "The folder's entries", body = Listing),
        (status = 404, description = "No such folder", body = ApiErrorBody),
        (status = 422, description = "A bad path or type", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn list_files(
    caller: Caller<Docs>,
    Extension(docs): Extension<Arc<DocsService>>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Listing>, ApiError> {
    let q = query(q)?;
    let path = user_path("path", q.path.as_deref().unwrap_or("/"))?;
    let only = match q.kind.as_deref() {
        None | Some("all") => None,
        Some("folder") => Some(EntryKind::Folder),
        Some("file") => Some(EntryKind::File),
        Some(_) => return Err(ApiError::invalid("type", "must be all, folder or file")),
    };
    let nc = docs.as_caller(&caller)?;
    let entries = nc
        .list(&path)
        .await
        .map_err(nextcloud_failed)?
        .ok_or(ApiError::NotFound)?;
    if entries.len() == 1 && entries[0].path == path.to_string() && !entries[0].is_folder() {
        return Err(ApiError::invalid("path", "is a file, not a folder"));
    }
    let entries = entries
        .into_iter()
        .filter(|e| only.is_none_or(|k| e.kind == k))
        .collect();
    Ok(Json(Listing {
        path: path.to_string(),
        entries,
    }))
}

/// A new folder (WebDAV MKCOL).
#[utoipa::path(
    post, path = "/folders", tag = "docs",
    security(("bearer" = ["docs"]), ("oauth2" = ["docs"])),
    request_body = NewFolder,
    responses(
        (status = 201, description = "The new folder", body = Entry),
        (status = 409, description = "Something of that name exists", body = ApiErrorBody),
        (status = 422, description = "A bad name, or the folder it goes in does not exist", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn create_folder(
    caller: Caller<Docs>,
    Extension(docs): Extension<Arc<DocsService>>,
    ValidJson(body): ValidJson<NewFolder>,
) -> Result<(StatusCode, Json<Entry>), ApiError> {
    let parent = user_path("path", body.path.as_deref().unwrap_or("/"))?;
    let path = parent
        .join(&body.name)
        .map_err(|bad| ApiError::invalid("name", bad.0))?;
    let nc = docs.as_caller(&caller)?;
    match nc.make_folder(&path).await {
        Ok(()) => {}
        // RFC 4918 §9.3.1: 405 when something is there, 409 when the parent is not.
        Err(e) if e.status() == Some(StatusCode::METHOD_NOT_ALLOWED) => {
            return Err(ApiError::Conflict(format!("{path} exists")))
        }
        Err(e) if e.status() == Some(StatusCode::CONFLICT) => {
            return Err(ApiError::invalid(
                "path",
                format!("the folder {parent} does not exist"),
            ))
        }
        Err(e) => return Err(nextcloud_failed(e)),
    }
    let entry = stat_after(&nc, &path).await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

/// Deletes a file, or a folder with all it holds (into Nextcloud's trash bin).
#[utoipa::path(
    delete, path = "/files", tag = "docs",
    security(("bearer" = ["docs"]), ("oauth2" = ["docs"])),
    params(PathQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Nothing at that path", body = ApiErrorBody),
        (status = 422, description = "A bad path, or the root", body = ApiErrorBody),
        (status = 423, description = "Locked", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn delete_file(
    caller: Caller<Docs>,
    Extension(docs): Extension<Arc<DocsService>>,
    State(state): State<AppState>,
    q: Result<Query<PathQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let path = below_root("path", &query(q)?.path)?;
    let nc = docs.as_caller(&caller)?;
    nc.delete(&path, false).await.map_err(nextcloud_failed)?;
    docs.deleted(&state, &caller, nc.uid(), &path).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves or renames a file or folder (WebDAV MOVE): its file id stays.
#[utoipa::path(
    post, path = "/move", tag = "docs",
    security(("bearer" = ["docs"]), ("oauth2" = ["docs"])),
    request_body = Transfer,
    responses(
        (status = 200, description = "Where it is now", body = Entry),
        (status = 404, description = "Nothing at `from`", body = ApiErrorBody),
        (status = 409, description = "Something is at `to`", body = ApiErrorBody),
        (status = 422, description = "A bad path, into itself, or `to`'s folder does not exist", body = ApiErrorBody),
        (status = 423, description = "Locked", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn move_file(
    caller: Caller<Docs>,
    Extension(docs): Extension<Arc<DocsService>>,
    State(state): State<AppState>,
    ValidJson(body): ValidJson<Transfer>,
) -> Result<Json<Entry>, ApiError> {
    let (from, to) = endpoints(&body)?;
    let nc = docs.as_caller(&caller)?;
    transfer(&nc, false, &from, &to, body.overwrite).await?;
    docs.moved(&state, &caller, nc.uid(), &from, &to).await?;
    Ok(Json(stat_after(&nc, &to).await?))
}

/// Copies a file or folder (WebDAV COPY): the copy has a file id of its own.
#[utoipa::path(
    post, path = "/copy", tag = "docs",
    security(("bearer" = ["docs"]), ("oauth2" = ["docs"])),
    request_body = Transfer,
    responses(
        (status = 201, description = "The copy", body = Entry),
        (status = 404, description = "Nothing at `from`", body = ApiErrorBody),
        (status = 409, description = "Something is at `to`", body = ApiErrorBody),
        (status = 422, description = "A bad path, into itself, or `to`'s folder does not exist", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
        (status = 507, description = "Over quota", body = ApiErrorBody),
    )
)]
pub(super) async fn copy_file(
    caller: Caller<Docs>,
    Extension(docs): Extension<Arc<DocsService>>,
    ValidJson(body): ValidJson<Transfer>,
) -> Result<(StatusCode, Json<Entry>), ApiError> {
    let (from, to) = endpoints(&body)?;
    let nc = docs.as_caller(&caller)?;
    transfer(&nc, true, &from, &to, body.overwrite).await?;
    Ok((StatusCode::CREATED, Json(stat_after(&nc, &to).await?)))
}

fn endpoints(body: &Transfer) -> Result<(UserPath, UserPath), ApiError> {
    let from = below_root("from", &body.from)?;
    let to = below_root("to", &body.to)?;
    if to.starts_with(&from) {
        return Err(ApiError::invalid("to", "must not be `from` or inside it"));
    }
    Ok((from, to))
}

async fn transfer(
    nc: &crate::workspace::docs::nextcloud::Session<'_>,
    copy: bool,
    from: &UserPath,
    to: &UserPath,
    overwrite: bool,
) -> Result<(), ApiError> {
    match nc.transfer(copy, from, to, false, overwrite).await {
        Ok(()) => Ok(()),
        Err(NcError::Status { status, .. }) if status == StatusCode::PRECONDITION_FAILED => Err(
            ApiError::Conflict(format!("{to} exists; send overwrite=true to replace it")),
        ),
        // RFC 4918 §9.8.5: 409 when a folder on the way to the destination is missing.
        Err(NcError::Status { status, .. }) if status == StatusCode::CONFLICT => Err(
            ApiError::invalid("to", format!("the folder {} does not exist", to.parent())),
        ),
        Err(e) => Err(nextcloud_failed(e)),
    }
}

/// What is at `path` now that a call put it there.
async fn stat_after(
    nc: &crate::workspace::docs::nextcloud::Session<'_>,
    path: &UserPath,
) -> Result<Entry, ApiError> {
    nc.stat(path)
        .await
        .map_err(nextcloud_failed)?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("{path} is not there after the call")))
}
