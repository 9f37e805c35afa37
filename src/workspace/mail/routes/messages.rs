//! One message: read it, download an attachment, set its flags, move it, delete it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse as _;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{folder, message_id, query};
use crate::http::AppState;
use crate::workspace::mail::ids::MessageId;
use crate::workspace::mail::imap::ops::{self, SpecialUse};
use crate::workspace::mail::imap::{utf7, MailError};
use crate::workspace::mail::mime::{self, AttachmentInfo, Person};
use crate::workspace::mail::MailService;
use crate::workspace::{ApiError, ApiErrorBody, Caller, Mail, ValidJson};

/// A message read whole.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageDetail {
    pub id: String,
    pub folder: String,
    pub uid: u32,
    pub from: Option<Person>,
    pub to: Vec<Person>,
    pub cc: Vec<Person>,
    pub reply_to: Vec<Person>,
    pub subject: Option<String>,
    pub date: Option<String>,
    /// The Message-ID header, `<…>`.
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub flags: Vec<String>,
    pub size: u32,
    /// The plain-text body (made from the HTML one when the message has no text part).
    pub text: Option<String>,
    /// The HTML body, sanitised: no scripts, event handlers, styles or forms, and no remote
    /// images unless `external=true` was asked for.
    pub html: Option<String>,
    /// Whether remote images were taken out of `html` (ask again with `external=true`).
    pub remote_content_blocked: bool,
    pub attachments: Vec<AttachmentInfo>,
    /// Whether the message is larger than `max_message_mib` and only its start was read.
    pub truncated: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// Keep remote images in the HTML body (they tell the sender that, and when, it was read).
    #[serde(default)]
    pub external: bool,
}

/// Flags to set (`true`) or clear (`false`); those left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagChange {
    pub seen: Option<bool>,
    pub flagged: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Flags {
    pub flags: Vec<String>,
}

/// Where to move a message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveTo {
    pub folder: String,
}

/// A message moved: its id in the folder it is in now.
#[derive(Debug, Serialize, ToSchema)]
pub struct MovedMessage {
    pub id: String,
}

/// Opens the id's folder (to change it, or not) in the state the id was made in, then runs
/// `then` with the UID; `None` when the folder or the message is gone.
macro_rules! with_message {
    ($mail:expr, $address:expr, $id:expr, $write:expr, |$s:ident, $uid:ident| $body:expr) => {{
        let imap_name = folder("id", &$id.folder).map_err(|_| ApiError::NotFound)?;
        let (uid_validity, $uid) = ($id.uid_validity, $id.uid);
        $mail
            .imap(&$address, move |$s| {
                Box::pin(async move {
                    if ops::open_as_of($s, &imap_name, uid_validity, $write)
                        .await?
                        .is_none()
                    {
                        return Ok(None);
                    }
                    $body
                })
            })
            .await?
            .ok_or(ApiError::NotFound)?
    }};
}

/// A message: its header, its text, its HTML sanitised, its attachments listed. Reading it
/// marks nothing (`/flags` does).
#[utoipa::path(
    get, path = "/messages/{id}", tag = "mail",
    security(("bearer" = ["mail"]), ("oauth2" = ["mail"])),
    params(("id" = String, Path, description = "A message id from a listing"), ReadQuery),
    responses(
        (status = 200, description = "The message", body = MessageDetail),
        (status = 404, description = "No such message (gone, or not the caller's)", body = ApiErrorBody),
        (status = 502, description = "The mail server failed", body = ApiErrorBody),
        (status = 503, description = "The mail server cannot be reached", body = ApiErrorBody),
    )
)]
pub(super) async fn get_message(
    caller: Caller<Mail>,
    State(state): State<AppState>,
    Extension(mail): Extension<Arc<MailService>>,
    Path(id): Path<String>,
    q: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Json<MessageDetail>, ApiError> {
    let q = query(q)?;
    let address = mail.address_of(&state, &caller.user).await?;
    let id = message_id(&id, &address)?;
    let max = mail.max_message_bytes;
    let fetched = with_message!(mail, address, id, false, |s, uid| ops::message(s, uid, max)
        .await);
    let detail = mime::detail(&fetched.raw, q.external);
    Ok(Json(MessageDetail {
        id: id.encode(&address),
        folder: id.folder.clone(),
        uid: fetched.uid,
        from: detail.from,
        to: detail.to,
        cc: detail.cc,
        reply_to: detail.reply_to,
        subject: detail.subject,
        date: detail.date.or(fetched.internal_date),
        message_id: detail.message_id,
        in_reply_to: detail.in_reply_to,
        flags: fetched.flags,
        size: fetched.size,
        text: detail.text,
        html: detail.html,
        remote_content_blocked: detail.remote_content_blocked,
        attachments: fetched
            .attachments
            .iter()
            .enumerate()
            .map(|(index, part)| part.info(index))
            .collect(),
        truncated: u64::from(fetched.size) > max,
    }))
}

/// An attachment's content, as a download (never shown inline by a browser), streamed from
/// the mail server whatever its size; with Content-Length only when the attachment is not
/// encoded in the message (a base64 one's exact size is known at its end).
#[utoipa::path(
    get, path = "/messages/{id}/attachments/{n}", tag = "mail",
    security(("bearer" = ["mail"]), ("oauth2" = ["mail"])),
    params(
        ("id" = String, Path, description = "A message id"),
        ("n" = usize, Path, description = "The attachment's index, as listed"),
    ),
    responses(
        (status = 200, description = "The attachment", content_type = "application/octet-stream"),
        (status = 404, description = "No such message or attachment", body = ApiErrorBody),
        (status = 502, description = "The mail server failed", body = ApiErrorBody),
    )
)]
pub(super) async fn attachment(
    caller: Caller<Mail>,
    State(state): State<AppState>,
    Extension(mail): Extension<Arc<MailService>>,
    Path((id, n)): Path<(String, usize)>,
) -> Result<Response<Body>, ApiError> {
    let address = mail.address_of(&state, &caller.user).await?;
    let id = message_id(&id, &address)?;
    let imap_name = folder("id", &id.folder).map_err(|_| ApiError::NotFound)?;
    let download = mail
        .download(&address, imap_name, &id, n)
        .await?
        .ok_or(ApiError::NotFound)?;
    let part = download.part;
    let exact_size = part.exact_size();
    let filename = part.filename.unwrap_or_else(|| format!("attachment-{n}"));
    // RFC 6266 §4.3 with RFC 8187's encoding: any name, as UTF-8, and no quoting to escape.
    let encoded: String =
        percent_encoding::utf8_percent_encode(&filename, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let disposition = format!("attachment; filename*=UTF-8''{encoded}");
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, part.content_type)
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        )
        .header(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        )
        .header(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox; default-src 'none'"),
        )
        .body(download.body)
        .map_err(|e| ApiError::Internal(e.into()))?;
    // Only when exact: a shorter or longer body than announced is a broken response.
    if let Some(size) = exact_size {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    Ok(response)
}

/// Marks a message read or unread, flagged or not.
#[utoipa::path(
    post, path = "/messages/{id}/flags", tag = "mail",
    security(("bearer" = ["mail"]), ("oauth2" = ["mail"])),
    params(("id" = String, Path, description = "A message id")),
    request_body = FlagChange,
    responses(
        (status = 200, description = "The message's flags now", body = Flags),
        (status = 404, description = "No such message", body = ApiErrorBody),
        (status = 422, description = "Nothing to change", body = ApiErrorBody),
    )
)]
pub(super) async fn set_flags(
    caller: Caller<Mail>,
    State(state): State<AppState>,
    Extension(mail): Extension<Arc<MailService>>,
    Path(id): Path<String>,
    ValidJson(change): ValidJson<FlagChange>,
) -> Result<Json<Flags>, ApiError> {
    let changes: Vec<(&'static str, bool)> =
        [("\\Seen", change.seen), ("\\Flagged", change.flagged)]
            .into_iter()
            .filter_map(|(flag, set)| set.map(|set| (flag, set)))
            .collect();
    if changes.is_empty() {
        return Err(ApiError::invalid("body", "give seen, flagged, or both"));
    }
    let address = mail.address_of(&state, &caller.user).await?;
    let id = message_id(&id, &address)?;
    let flags = with_message!(mail, address, id, true, |s, uid| {
        if ops::flags(s, uid).await?.is_none() {
            return Ok(None);
        }
        for (flag, set) in changes {
            ops::set_flag(s, uid, flag, set).await?;
        }
        ops::flags(s, uid).await
    });
    Ok(Json(Flags { flags }))
}

/// Moves a message into another folder.
#[utoipa::path(
    post, path = "/messages/{id}/move", tag = "mail",
    security(("bearer" = ["mail"]), ("oauth2" = ["mail"])),
    params(("id" = String, Path, description = "A message id")),
    request_body = MoveTo,
    responses(
        (status = 200, description = "Moved; its id in that folder", body = MovedMessage),
        (status = 204, description = "Moved, by a server that does not say where (no UIDPLUS): list the folder for its id"),
        (status = 404, description = "No such message", body = ApiErrorBody),
        (status = 422, description = "No such folder to move to, or the one it is in", body = ApiErrorBody),
    )
)]
pub(super) async fn move_message(
    caller: Caller<Mail>,
    State(state): State<AppState>,
    Extension(mail): Extension<Arc<MailService>>,
    Path(id): Path<String>,
    ValidJson(to): ValidJson<MoveTo>,
) -> Result<Response<Body>, ApiError> {
    let target = folder("folder", &to.folder)?;
    let target_name = utf7::decode(&target);
    let address = mail.address_of(&state, &caller.user).await?;
    let id = message_id(&id, &address)?;
    if folder("id", &id.folder).is_ok_and(|from| from == target) {
        return Err(ApiError::invalid(
            "folder",
            "is the folder the message is in",
        ));
    }
    let moved = with_message!(mail, address, id, true, |s, uid| {
        if ops::flags(s, uid).await?.is_none() {
            return Ok(None);
        }
        match ops::move_to(s, uid, &target).await {
            Ok(moved) => Ok(Some(Ok(moved))),
            // No such folder (NO [TRYCREATE]), or one that takes no messages.
            Err(MailError::No { .. }) => Ok(Some(Err(()))),
            Err(e) => Err(e),
        }
    });
    let Ok(moved) = moved else {
        return Err(ApiError::invalid("folder", "no such folder to move to"));
    };
    Ok(match moved {
        Some(there) => {
            let id = MessageId {
                folder: target_name,
                uid_validity: there.uid_validity,
                uid: there.uid,
            };
            Json(MovedMessage {
                id: id.encode(&address),
            })
            .into_response()
        }
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// Deletes a message: into Trash, or, from Trash, for good.
#[utoipa::path(
    delete, path = "/messages/{id}", tag = "mail",
    security(("bearer" = ["mail"]), ("oauth2" = ["mail"])),
    params(("id" = String, Path, description = "A message id")),
    responses(
        (status = 204, description = "Moved to Trash, or expunged from it"),
        (status = 404, description = "No such message", body = ApiErrorBody),
        (status = 502, description = "The mail server failed (the mailbox has no Trash)", body = ApiErrorBody),
    )
)]
pub(super) async fn delete_message(
    caller: Caller<Mail>,
    State(state): State<AppState>,
    Extension(mail): Extension<Arc<MailService>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let address = mail.address_of(&state, &caller.user).await?;
    let id: MessageId = message_id(&id, &address)?;
    let imap_name = folder("id", &id.folder).map_err(|_| ApiError::NotFound)?;
    let trash = mail
        .imap(&address, |s| {
            Box::pin(async move { ops::special(s, SpecialUse::Trash).await })
        })
        .await?;
    let Some(trash) = trash else {
        tracing::warn!("the mailbox has no Trash folder: nothing is deleted");
        return Err(ApiError::BadGateway { service: "imap" });
    };
    let from_trash = utf7::decode(&trash) == utf7::decode(&imap_name);
    with_message!(mail, address, id, true, |s, uid| {
        if ops::flags(s, uid).await?.is_none() {
            return Ok(None);
        }
        if from_trash {
            ops::expunge(s, uid).await?;
        } else {
            ops::move_to(s, uid, &trash).await?;
        }
        Ok(Some(()))
    });
    Ok(StatusCode::NO_CONTENT)
}
