//! Shares of the caller's files: with another user of their company, or as a public link.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{below_root, user_path};
use crate::clock::UnixTime;
use crate::directory::FoundLogin;
use crate::http::AppState;
use crate::workspace::docs::nextcloud::ocs::{Share, ShareTarget};
use crate::workspace::docs::nextcloud::NcError;
use crate::workspace::docs::{nextcloud_failed, DocsService};
use crate::workspace::{ApiError, ApiErrorBody, Caller, Docs, ValidJson};

/// Links last a week unless asked otherwise, and at most a year: a link never lasts forever.
const DEFAULT_LINK_DAYS: u32 = 7;
const MAX_LINK_DAYS: u32 = 365;

/// Share `file_path` with `share_with` (a user of the caller's company, by e-mail or user name).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserShare {
    pub file_path: String,
    pub share_with: String,
    /// `read` (default) or `write`.
    pub permissions: Option<String>,
}

/// A public link to `file_path`, read-only.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkShare {
    pub file_path: String,
    /// Days the link works, 1 to 365 (7).
    pub expires_days: Option<u32>,
    /// Asked of whoever opens the link.
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
}

/// A public link.
#[derive(Debug, Serialize, ToSchema)]
pub struct Link {
    pub id: String,
    pub url: String,
    pub token: String,
    /// The last day the link works, `YYYY-MM-DD`.
    pub expires: Option<String>,
    pub password_protected: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShareList {
    pub shares: Vec<Share>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SharesQuery {
    /// Only the shares of this file or folder.
    pub path: Option<String>,
}

/// Shares a file or folder with another user of the caller's company (OCS shareType 0).
#[utoipa::path(
    post, path = "/share", tag = "docs",
    security(("bearer" = ["docs"]), ("oauth2" = ["docs"])),
    request_body = UserShare,
    responses(
        (status = 201, description = "The share", body = Share),
        (status = 404, description = "Nothing at `file_path`", body = ApiErrorBody),
        (status = 422, description = "A bad path or permission, or no such user in the company", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn share_with_user(
    caller: Caller<Docs>,
    Extension(docs): Extension<Arc<DocsService>>,
    State(state): State<AppState>,
    ValidJson(body): ValidJson<UserShare>,
) -> Result<(StatusCode, Json<Share>), ApiError> {
    let path = below_root("file_path", &body.file_path)?;
    let write = match body.permissions.as_deref() {
        None | Some("read") => false,
        Some("write") => true,
        Some(_) => return Err(ApiError::invalid("permissions", "must be read or write")),
    };
    // Another company's user is answered as no user at all.
    let no_such_user = || ApiError::invalid("share_with", "no user of that name in your company");
    let target = match state
        .directory
        .find_by_login(body.share_with.trim())
        .await?
    {
        FoundLogin::Account(c) if c.user.active && c.user.company_id == caller.company_id => c.user,
        _ => return Err(no_such_user()),
    };
    if target.id == caller.user.id {
        return Err(ApiError::invalid("share_with", "is you"));
    }
    let target_uid = docs.uid_of(&target).map_err(|_| no_such_user())?;
    let nc = docs.as_caller(&caller)?;
    let entry = nc
        .stat(&path)
        .await
        .map_err(nextcloud_failed)?
        .ok_or(ApiError::NotFound)?;
    let share = nc
        .create_share(
            &path,
            entry.is_folder(),
            ShareTarget::User {
                uid: &target_uid,
                write,
            },
        )
        .await
        .map_err(|e| refused(e, "share_with"))?;
    Ok((StatusCode::CREATED, Json(share)))
}

/// Makes a public link to a file or folder (OCS shareType 3), read-only and expiring.
#[utoipa::path(
    post, path = "/share-link", tag = "docs",
    security(("bearer" = ["docs"]), ("oauth2" = ["docs"])),
    request_body = LinkShare,
    responses(
        (status = 201, description = "The link", body = Link),
        (status = 404, description = "Nothing at `file_path`", body = ApiErrorBody),
        (status = 422, description = "A bad path or days, or a password Nextcloud's policy refuses", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn share_link(
    caller: Caller<Docs>,
    Extension(docs): Extension<Arc<DocsService>>,
    State(state): State<AppState>,
    ValidJson(body): ValidJson<LinkShare>,
) -> Result<(StatusCode, Json<Link>), ApiError> {
    let path = below_root("file_path", &body.file_path)?;
    let days = body.expires_days.unwrap_or(DEFAULT_LINK_DAYS);
    if !(1..=MAX_LINK_DAYS).contains(&days) {
        return Err(ApiError::invalid(
            "expires_days",
            "must be between 1 and 365",
        ));
    }
    let expire_date = day_after(state.clock.now(), days)
        .ok_or_else(|| ApiError::invalid("expires_days", "is too far ahead"))?;
    let nc = docs.as_caller(&caller)?;
    let entry = nc
        .stat(&path)
        .await
        .map_err(nextcloud_failed)?
        .ok_or(ApiError::NotFound)?;
    let field = if body.password.is_some() {
        "password"
    } else {
        "file_path"
    };
    let share = nc
        .create_share(
            &path,
            entry.is_folder(),
            ShareTarget::Link {
                expire_date,
                password: body.password.as_ref(),
            },
        )
        .await
        .map_err(|e| refused(e, field))?;
    let (Some(url), Some(token)) = (share.url, share.token) else {
        tracing::warn!("Nextcloud made a link share without its url or token");
        return Err(ApiError::BadGateway {
            service: "nextcloud",
        });
    };
    Ok((
        StatusCode::CREATED,
        Json(Link {
            id: share.id,
            url,
            token,
            expires: share.expires,
            password_protected: share.password_protected,
        }),
    ))
}

/// The caller's shares (with users, and links), of one path or all.
#[utoipa::path(
    get, path = "/shares", tag = "docs",
    security(("bearer" = ["docs"]), ("oauth2" = ["docs"])),
    params(SharesQuery),
    responses(
        (status = 200, description = "The shares", body = ShareList),
        (status = 404, description = "Nothing at `path`", body = ApiErrorBody),
        (status = 422, description = "A bad path", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn list_shares(
    caller: Caller<Docs>,
    Extension(docs): Extension<Arc<DocsService>>,
    q: Result<Query<SharesQuery>, QueryRejection>,
) -> Result<Json<ShareList>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let path = q
        .path
        .as_deref()
        .map(|p| user_path("path", p))
        .transpose()?;
    let nc = docs.as_caller(&caller)?;
    let shares = nc
        .shares(path.as_ref().filter(|p| !p.is_root()))
        .await
        .map_err(nextcloud_failed)?;
    Ok(Json(ShareList { shares }))
}

/// Ends one of the caller's shares.
#[utoipa::path(
    delete, path = "/shares/{share_id}", tag = "docs",
    security(("bearer" = ["docs"]), ("oauth2" = ["docs"])),
    params(("share_id" = String, Path, description = "The share's id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "The caller has no share of that id", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn delete_share(
    caller: Caller<Docs>,
    Extension(docs): Extension<Arc<DocsService>>,
    Path(share_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    // Nextcloud's share ids are numbers; anything else names no share.
    if !super::is_numeric_id(&share_id) {
        return Err(ApiError::NotFound);
    }
    let nc = docs.as_caller(&caller)?;
    nc.delete_share(&share_id).await.map_err(nextcloud_failed)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Nextcloud's refusal of a new share, in its own words (they are for users): a 400, 403 or
/// 404 of the sharing API is about what was asked (`field`), not a failure.
fn refused(e: NcError, field: &str) -> ApiError {
    match e {
        NcError::Status { status, message }
            if matches!(status.as_u16(), 400 | 403 | 404) && !message.is_empty() =>
        {
            ApiError::invalid(field, message)
        }
        e => nextcloud_failed(e),
    }
}

/// `days` after the day of `now`, as Nextcloud's `expireDate` takes it (`YYYY-MM-DD`, UTC).
fn day_after(now: UnixTime, days: u32) -> Option<String> {
    let date = time::OffsetDateTime::from_unix_timestamp(now).ok()?.date();
    let date = date.checked_add(time::Duration::days(i64::from(days)))?;
    let format = time::macros::format_description!("[year]-[month]-[day]");
    date.format(&format).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_links_last_day_is_counted_from_today_in_utc() {
        // 2025-12-31 23:30 UTC.
        assert_eq!(day_after(1_767_223_800, 1).as_deref(), Some("2026-01-01"));
        assert_eq!(day_after(1_767_223_800, 7).as_deref(), Some("2026-01-07"));
    }
}
