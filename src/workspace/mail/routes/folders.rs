//! The folders with their counts, a folder's messages a page at a time, and search.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{folder, query};
use crate::http::AppState;
use crate::workspace::mail::ids::MessageId;
use crate::workspace::mail::imap::ops::{self, Fetched, Opened};
use crate::workspace::mail::imap::utf7;
use crate::workspace::mail::mime::{self, Person};
use crate::workspace::mail::MailService;
use crate::workspace::{ApiError, ApiErrorBody, Caller, Mail};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;
/// A search term longer than this is not a search a person types.
const MAX_QUERY_BYTES: usize = 500;

/// A folder of the mailbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct Folder {
    /// Its name, `/` between levels (`Projects/2026`).
    #[schema(example = "INBOX")]
    pub name: String,
    /// What it is for: `Inbox`, `Sent`, `Drafts`, `Trash`, `Junk` or `Archive`.
    #[schema(example = "Inbox")]
    pub special_use: Option<&'static str>,
    pub unread: u32,
    pub total: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FolderList {
    pub folders: Vec<Folder>,
}

/// A message in a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageSummary {
    /// Opaque: the message in `/messages/{id}`.
    pub id: String,
    pub uid: u32,
    pub from: Option<Person>,
    pub to: Vec<Person>,
    pub subject: Option<String>,
    /// RFC 3339: the Date header, else when the server received it.
    pub date: Option<String>,
    /// `seen`, `answered`, `flagged`, `deleted`, `draft`, and any keywords.
    pub flags: Vec<String>,
    /// In bytes, as stored.
    pub size: u32,
    pub has_attachments: bool,
    /// The start of the text, on one line.
    pub preview: String,
}

/// One page of a folder's messages, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub folder: String,
    pub page: u32,
    pub limit: u32,
    /// How many messages the folder holds (or the search found).
    pub total: u32,
    pub messages: Vec<MessageSummary>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The folder (`INBOX` by default).
    pub folder: Option<String>,
    /// From 1.
    pub page: Option<u32>,
    /// 1 to 200, 50 by default.
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// The folder (`INBOX` by default).
    pub folder: Option<String>,
    /// Found anywhere in a message: its header or its text.
    pub q: String,
    pub page: Option<u32>,
    pub limit: Option<u32>,
}

fn paging(page: Option<u32>, limit: Option<u32>) -> Result<(u32, u32), ApiError> {
    let page = page.unwrap_or(1);
    if page == 0 || page > 1_000_000 {
        return Err(ApiError::invalid("page", "must be between 1 and 1000000"));
    }
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok((page, limit))
}

/// A listing's entries from what FETCH gave.
pub(super) fn summaries(
    fetched: Vec<Fetched>,
    folder: &str,
    opened: Opened,
    address: &str,
) -> Vec<MessageSummary> {
    fetched
        .into_iter()
        .map(|f| {
            let summary = mime::summary(&f.raw);
            MessageSummary {
                id: MessageId {
                    folder: folder.to_owned(),
                    uid_validity: opened.uid_validity,
                    uid: f.uid,
                }
                .encode(address),
                uid: f.uid,
                from: summary.from,
                to: summary.to,
                subject: summary.subject,
                date: summary.date.or(f.internal_date),
                flags: f.flags,
                size: f.size,
                has_attachments: summary.has_attachments,
                preview: summary.preview,
            }
        })
        .collect()
}

/// The mailbox's folders, with what each is for and how many (unread) messages it holds.
#[utoipa::path(
    get, path = "/folders", tag = "mail",
    security(("bearer" = ["mail"]), ("oauth2" = ["mail"])),
    responses(
        (status = 200, description = "The folders", body = FolderList),
        (status = 401, description = "No valid access token", body = ApiErrorBody),
        (status = 403, description = "The token lacks the `mail` scope", body = ApiErrorBody),
        (status = 502, description = "The mail server failed", body = ApiErrorBody),
        (status = 503, description = "The mail server cannot be reached", body = ApiErrorBody),
    )
)]
pub(super) async fn list_folders(
    caller: Caller<Mail>,
    State(state): State<AppState>,
    Extension(mail): Extension<Arc<MailService>>,
) -> Result<Json<FolderList>, ApiError> {
    let address = mail.address_of(&state, &caller.user).await?;
    let folders = mail
        .imap(&address, |s| {
            Box::pin(async move {
                let mut folders = Vec::new();
                for listed in ops::list(s).await?.into_iter().filter(|f| f.selectable) {
                    let (total, unread) = ops::counts(s, &listed.name).await?;
                    folders.push(Folder {
                        name: utf7::decode(&listed.name),
                        special_use: listed.special_use.map(|u| u.as_str()),
                        unread,
                        total,
                    });
                }
                Ok(folders)
            })
        })
        .await?;
    Ok(Json(FolderList { folders }))
}

/// A page of a folder's messages, newest first.
#[utoipa::path(
    get, path = "/inbox", tag = "mail",
    security(("bearer" = ["mail"]), ("oauth2" = ["mail"])),
    params(PageQuery),
    responses(
        (status = 200, description = "The page", body = MessagePage),
        (status = 404, description = "No such folder", body = ApiErrorBody),
        (status = 422, description = "A bad folder, page or limit", body = ApiErrorBody),
        (status = 502, description = "The mail server failed", body = ApiErrorBody),
        (status = 503, description = "The mail server cannot be reached", body = ApiErrorBody),
    )
)]
pub(super) async fn inbox(
    caller: Caller<Mail>,
    State(state): State<AppState>,
    Extension(mail): Extension<Arc<MailService>>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<MessagePage>, ApiError> {
    let q = query(q)?;
    let name = q.folder.unwrap_or_else(|| "INBOX".to_owned());
    let imap_name = folder("folder", &name)?;
    let (page, limit) = paging(q.page, q.limit)?;
    let address = mail.address_of(&state, &caller.user).await?;
    let found = mail
        .imap(&address, |s| {
            Box::pin(async move {
                let Some(opened) = ops::open(s, &imap_name, false).await? else {
                    return Ok(None);
                };
                let fetched = ops::page(s, opened, page, limit).await?;
                Ok(Some((opened, fetched)))
            })
        })
        .await?;
    let (opened, fetched) = found.ok_or(ApiError::NotFound)?;
    Ok(Json(MessagePage {
        messages: summaries(fetched, &name, opened, &address),
        folder: name,
        page,
        limit,
        total: opened.exists,
    }))
}

/// The messages of a folder holding a text, newest first, a page at a time.
#[utoipa::path(
    get, path = "/search", tag = "mail",
    security(("bearer" = ["mail"]), ("oauth2" = ["mail"])),
    params(SearchQuery),
    responses(
        (status = 200, description = "The page of messages found", body = MessagePage),
        (status = 404, description = "No such folder", body = ApiErrorBody),
        (status = 422, description = "A bad folder, text, page or limit", body = ApiErrorBody),
        (status = 502, description = "The mail server failed", body = ApiErrorBody),
        (status = 503, description = "The mail server cannot be reached", body = ApiErrorBody),
    )
)]
pub(super) async fn search(
    caller: Caller<Mail>,
    State(state): State<AppState>,
    Extension(mail): Extension<Arc<MailService>>,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<MessagePage>, ApiError> {
    let q = query(q)?;
    let name = q.folder.unwrap_or_else(|| "INBOX".to_owned());
    let imap_name = folder("folder", &name)?;
    let (page, limit) = paging(q.page, q.limit)?;
    let text = q.q.trim().to_owned();
    if text.is_empty() || text.len() > MAX_QUERY_BYTES || text.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "q",
            format!("must be 1 to {MAX_QUERY_BYTES} bytes of text on one line"),
        ));
    }
    let address = mail.address_of(&state, &caller.user).await?;
    let found = mail
        .imap(&address, |s| {
            Box::pin(async move {
                let Some(opened) = ops::open(s, &imap_name, false).await? else {
                    return Ok(None);
                };
                let uids = ops::search(s, &text).await?;
                let total = u32::try_from(uids.len()).unwrap_or(u32::MAX);
                let start = usize::try_from((page - 1) * limit).unwrap_or(usize::MAX);
                let wanted: Vec<u32> = uids.into_iter().skip(start).take(limit as usize).collect();
                let fetched = ops::listing(s, &wanted).await?;
                Ok(Some((opened, total, fetched)))
            })
        })
        .await?;
    let (opened, total, fetched) = found.ok_or(ApiError::NotFound)?;
    Ok(Json(MessagePage {
        messages: summaries(fetched, &name, opened, &address),
        folder: name,
        page,
        limit,
        total,
    }))
}
