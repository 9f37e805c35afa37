//! `/api/v1/docs`: thin handlers over [`super::nextcloud`] and [`super::transfer`], one file a
//! concept: files and folders (`files`), uploads and downloads (`transfer`), shares (`shares`).

mod files;
mod shares;
mod transfer;

use axum::extract::DefaultBodyLimit;
use tower_http::limit::RequestBodyLimitLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paths::UserPath;
use crate::http::AppState;
use crate::workspace::ApiError;

/// The routes that answer within the site's request timeout.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(files::list_files, files::delete_file))
        .routes(routes!(files::create_folder))
        .routes(routes!(files::move_file))
        .routes(routes!(files::copy_file))
        .routes(routes!(transfer::download_by_id))
        .routes(routes!(transfer::download_by_path))
        .routes(routes!(shares::share_with_user))
        .routes(routes!(shares::share_link))
        .routes(routes!(shares::list_shares))
        .routes(routes!(shares::delete_share))
}

/// The upload, with a body limit of its own (`limit` bytes, the file and its framing).
pub fn upload_router(limit: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(transfer::upload))
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyLimitLayer::new(limit))
}

/// Whether `id` can be one of Nextcloud's file or share ids, which are numbers: anything else
/// names nothing there, and is answered as missing without asking.
pub(super) fn is_numeric_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

/// A path as the client sent it in `field`, checked.
pub(super) fn user_path(field: &str, raw: &str) -> Result<UserPath, ApiError> {
    UserPath::parse(raw).map_err(|bad| ApiError::invalid(field, bad.0))
}

/// A path that must not be the root (which cannot be moved, copied, deleted or shared).
pub(super) fn below_root(field: &str, raw: &str) -> Result<UserPath, ApiError> {
    let path = user_path(field, raw)?;
    if path.is_root() {
        return Err(ApiError::invalid(field, "must not be your root folder"));
    }
    Ok(path)
}
