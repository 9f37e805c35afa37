//! `/api/v1/mail`: thin handlers over [`super::imap`], [`super::mime`], [`super::smtp`] and
//! [`super::mailcow`], one file a concept: folders and listings (`folders`), one message
//! (`messages`), sending (`send`), the admins' mailboxes (`mailboxes`).

mod folders;
mod mailboxes;
mod messages;
mod send;

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query};
use tower_http::limit::RequestBodyLimitLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ids::MessageId;
use super::imap::utf7;
use crate::http::AppState;
use crate::workspace::ApiError;

/// The routes that answer within the site's request timeout.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(folders::list_folders))
        .routes(routes!(folders::inbox))
        .routes(routes!(folders::search))
        .routes(routes!(messages::get_message, messages::delete_message))
        .routes(routes!(messages::attachment))
        .routes(routes!(messages::set_flags))
        .routes(routes!(messages::move_message))
        .routes(routes!(
            mailboxes::list_mailboxes,
            mailboxes::create_mailbox
        ))
        .routes(routes!(mailboxes::update_mailbox))
}

/// `/send`, with a body limit of its own (`limit` bytes).
pub fn send_router(limit: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send::send))
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyLimitLayer::new(limit))
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::invalid("query", e.body_text()))
}

/// A folder as the client names it, checked, and as IMAP names it.
fn folder(field: &str, name: &str) -> Result<String, ApiError> {
    let name = name.trim_matches('/');
    if name.is_empty() || name.len() > 255 {
        return Err(ApiError::invalid(
            field,
            "must be a folder name of 1 to 255 bytes",
        ));
    }
    if name.chars().any(char::is_control) || name.contains('*') || name.contains('%') {
        return Err(ApiError::invalid(
            field,
            "must not contain control characters, `*` or `%`",
        ));
    }
    if name.eq_ignore_ascii_case("INBOX") {
        return Ok("INBOX".to_owned());
    }
    Ok(utf7::encode(name))
}

/// The message an id from the client names in `address`'s mailbox; anything else is as
/// missing as a message that was deleted.
fn message_id(id: &str, address: &str) -> Result<MessageId, ApiError> {
    MessageId::decode(id, address).ok_or(ApiError::NotFound)
}
