//! `/api/v1/meet`: thin handlers over [`super::rooms`], [`super::recording`] and LiveKit, one
//! file a concept: rooms and joining them (`rooms`), recordings (`recordings`); LiveKit's
//! webhook and what the handlers share are here.

mod recordings;
mod rooms;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Extension;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::rooms::{Invalid, Member, RoomError};
use super::MeetService;
use crate::audit::{Event, Kind};
use crate::http::AppState;
use crate::workspace::{ApiError, ApiErrorBody, Caller, Meet};

/// The area's routes, relative to `/api/v1/meet`, with their documentation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rooms::create_room, rooms::list_rooms))
        .routes(routes!(
            rooms::get_room,
            rooms::change_room,
            rooms::end_room
        ))
        .routes(routes!(rooms::join_token))
        .routes(routes!(recordings::start_recording))
        .routes(routes!(recordings::stop_recording))
        .routes(routes!(recordings::list_recordings))
        .routes(routes!(webhook))
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        ApiError::invalid(invalid.field, invalid.message)
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::NotFound => ApiError::NotFound,
            RoomError::NotHost => ApiError::Forbidden("only the room's host may do this"),
            RoomError::Ended => ApiError::Conflict("the meeting has ended".into()),
            RoomError::Internal(e) => ApiError::Internal(e),
        }
    }
}

pub(super) fn member(caller: &Caller<Meet>) -> Member {
    Member {
        user_id: caller.user.id.clone(),
        email: caller.user.email.clone(),
        company_id: caller.company_id.to_string(),
        is_company_admin: caller.is_company_admin(),
    }
}

/// An audit event of `kind` by the caller, in their company, through their client.
pub(super) fn meet_event(kind: Kind, caller: &Caller<Meet>) -> Event {
    Event::new(kind, caller.user.id.as_str())
        .user(caller.user.id.as_str())
        .company(caller.company_id)
        .client(caller.client_id.as_str())
}

/// LiveKit's webhooks (`room_started`, `room_finished`, …), signed with the API secret: the
/// `Authorization` header is a JWT whose `sha256` claim is the body's digest. Anything unsigned
/// or altered is refused with 401 and changes nothing.
#[utoipa::path(
    post, path = "/webhook", tag = "meet",
    request_body(content = String, content_type = "application/webhook+json"),
    responses(
        (status = 200, description = "Taken"),
        (status = 401, description = "Not signed by LiveKit with this deployment's key", body = ApiErrorBody),
    )
)]
async fn webhook(
    Extension(meet): Extension<Arc<MeetService>>,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    meet.take_webhook(&state.db, state.clock.now(), &headers, &body)
        .await?;
    Ok(StatusCode::OK)
}
