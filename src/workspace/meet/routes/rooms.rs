//! Rooms and joining them: made, listed, read, changed and ended, and LiveKit join tokens.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{meet_event, member};
use crate::audit::Kind;
use crate::http::AppState;
use crate::store::meet_rooms::{Room, RoomChange};
use crate::workspace::meet::rooms::{
    format_time, parse_cursor, parse_duration, parse_limit, parse_name, parse_participants,
    parse_status, parse_time, NewRoom,
};
use crate::workspace::meet::MeetService;
use crate::workspace::{ApiError, ApiErrorBody, Caller, Meet, ValidJson};

/// A new room; the caller is its host.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoomBody {
    /// What people see, 1 to 200 characters.
    #[schema(example = "Weekly sync")]
    pub name: String,
    /// When it starts, RFC 3339.
    #[schema(example = "2026-12-07T09:00:00Z")]
    pub scheduled_time: Option<String>,
    /// How long it is planned to take, 1 to 1440.
    #[schema(example = 30)]
    pub duration_minutes: Option<i64>,
    /// Whom the host invites: e-mail addresses of people of the same company.
    pub participants: Option<Vec<String>>,
}

/// A host's change to a room: only the fields sent change; `null` clears a time or duration.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomChangeBody {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub scheduled_time: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub duration_minutes: Option<Option<i64>>,
    pub participants: Option<Vec<String>>,
}

/// A field sent as `null` is `Some(None)`; one not sent stays `None` (the `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A room as its company's members see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomBody {
    #[schema(example = "bhm-kqzrt-mwpxa-fjdnv")]
    pub room_id: String,
    pub name: String,
    /// The page people open to join: `join_url_base` and the room id.
    pub join_url: String,
    /// Where LiveKit clients connect.
    pub ws_url: String,
    /// `scheduled`, `active` (someone is in it) or `completed`.
    pub status: String,
    pub scheduled_time: Option<String>,
    pub duration_minutes: Option<i64>,
    pub participants: Vec<String>,
    /// The host's user id (`sub`).
    pub host: String,
    pub created_at: String,
    /// The host's LiveKit token, in the answer to the room's creation only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_token: Option<String>,
}

/// One page of rooms, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomPage {
    pub rooms: Vec<RoomBody>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only rooms in this state: `scheduled`, `active` or `completed`.
    pub status: Option<String>,
    /// Rooms per page, 1 to 100 (20).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Which room to join, and the name to show there (the user's own by default).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    pub room_id: String,
    pub user_name: Option<String>,
}

/// A LiveKit access token for one room.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinToken {
    pub token: String,
    pub ws_url: String,
    pub room_id: String,
    /// The participant's identity in the room: the user's id.
    pub identity: String,
    pub expires_at: String,
}

fn body(meet: &MeetService, room: Room) -> RoomBody {
    RoomBody {
        join_url: meet.join_url(&room.id),
        ws_url: meet.ws_url().to_owned(),
        status: room.status.as_str().to_owned(),
        scheduled_time: room.scheduled_time.map(format_time),
        duration_minutes: room.duration_minutes,
        participants: room.participants,
        host: room.host_user_id,
        created_at: format_time(room.created_at),
        room_id: room.id,
        name: room.name,
        host_token: None,
    }
}

/// Creates a room; the caller is its host and gets their LiveKit token with it.
#[utoipa::path(
    post, path = "/rooms", tag = "meet",
    security(("bearer" = ["meet"]), ("oauth2" = ["meet"])),
    request_body = NewRoomBody,
    responses(
        (status = 201, description = "The room, with the host's token", body = RoomBody),
        (status = 401, description = "No valid access token", body = ApiErrorBody),
        (status = 403, description = "The token lacks the `meet` scope", body = ApiErrorBody),
        (status = 422, description = "A field is missing or wrong", body = ApiErrorBody),
    )
)]
pub(super) async fn create_room(
    caller: Caller<Meet>,
    Extension(meet): Extension<Arc<MeetService>>,
    State(state): State<AppState>,
    ValidJson(new): ValidJson<NewRoomBody>,
) -> Result<(StatusCode, Json<RoomBody>), ApiError> {
    let new = NewRoom {
        name: parse_name(&new.name)?,
        scheduled_time: new
            .scheduled_time
            .as_deref()
            .map(|t| parse_time("scheduled_time", t))
            .transpose()?,
        duration_minutes: new.duration_minutes.map(parse_duration).transpose()?,
        participants: parse_participants(new.participants.as_deref().unwrap_or_default())?,
    };
    let member = member(&caller);
    let now = state.clock.now();
    let room = meet.rooms(&state.db).create(&member, new, now).await?;
    let grant = meet.join_token(&caller.user, None, &room.id, true, now)?;
    let mut body = body(&meet, room);
    body.host_token = Some(grant.token);
    Ok((StatusCode::CREATED, Json(body)))
}

/// The rooms the caller hosts or is invited to (a company admin: all of the company's), newest
/// first.
#[utoipa::path(
    get, path = "/rooms", tag = "meet",
    security(("bearer" = ["meet"]), ("oauth2" = ["meet"])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of rooms", body = RoomPage),
        (status = 401, description = "No valid access token", body = ApiErrorBody),
        (status = 422, description = "A parameter is wrong", body = ApiErrorBody),
    )
)]
pub(super) async fn list_rooms(
    caller: Caller<Meet>,
    Extension(meet): Extension<Arc<MeetService>>,
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RoomPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let status = query.status.as_deref().map(parse_status).transpose()?;
    let after = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let limit = parse_limit(query.limit)?;
    let (rooms, next_cursor) = meet
        .rooms(&state.db)
        .list(&member(&caller), status, after, limit)
        .await?;
    Ok(Json(RoomPage {
        rooms: rooms.into_iter().map(|room| body(&meet, room)).collect(),
        next_cursor,
    }))
}

/// A room of the caller's company.
#[utoipa::path(
    get, path = "/rooms/{room_id}", tag = "meet",
    security(("bearer" = ["meet"]), ("oauth2" = ["meet"])),
    params(("room_id" = String, Path, description = "The room's id")),
    responses(
        (status = 200, description = "The room", body = RoomBody),
        (status = 404, description = "No such room in the caller's company", body = ApiErrorBody),
    )
)]
pub(super) async fn get_room(
    caller: Caller<Meet>,
    Extension(meet): Extension<Arc<MeetService>>,
    State(state): State<AppState>,
    Path(room_id): Path<String>,
) -> Result<Json<RoomBody>, ApiError> {
    let room = meet
        .rooms(&state.db)
        .get(&member(&caller), &room_id)
        .await?;
    Ok(Json(body(&meet, room)))
}

/// The host changes a room's name, time, duration or invitations.
#[utoipa::path(
    patch, path = "/rooms/{room_id}", tag = "meet",
    security(("bearer" = ["meet"]), ("oauth2" = ["meet"])),
    params(("room_id" = String, Path, description = "The room's id")),
    request_body = RoomChangeBody,
    responses(
        (status = 200, description = "The changed room", body = RoomBody),
        (status = 403, description = "The caller is not the host", body = ApiErrorBody),
        (status = 404, description = "No such room in the caller's company", body = ApiErrorBody),
        (status = 409, description = "The meeting has ended", body = ApiErrorBody),
        (status = 422, description = "A field is wrong", body = ApiErrorBody),
    )
)]
pub(super) async fn change_room(
    caller: Caller<Meet>,
    Extension(meet): Extension<Arc<MeetService>>,
    State(state): State<AppState>,
    Path(room_id): Path<String>,
    ValidJson(change): ValidJson<RoomChangeBody>,
) -> Result<Json<RoomBody>, ApiError> {
    let change = RoomChange {
        name: change.name.as_deref().map(parse_name).transpose()?,
        scheduled_time: change
            .scheduled_time
            .map(|t| {
                t.as_deref()
                    .map(|t| parse_time("scheduled_time", t))
                    .transpose()
            })
            .transpose()?,
        duration_minutes: change
            .duration_minutes
            .map(|d| d.map(parse_duration).transpose())
            .transpose()?,
        participants: change
            .participants
            .as_deref()
            .map(parse_participants)
            .transpose()?,
    };
    let room = meet
        .rooms(&state.db)
        .change(&member(&caller), &room_id, &change, state.clock.now())
        .await?;
    Ok(Json(body(&meet, room)))
}

/// The host ends a room: LiveKit closes it (everyone in it is disconnected), and it is
/// completed. Ending a completed room again changes nothing.
#[utoipa::path(
    delete, path = "/rooms/{room_id}", tag = "meet",
    security(("bearer" = ["meet"]), ("oauth2" = ["meet"])),
    params(("room_id" = String, Path, description = "The room's id")),
    responses(
        (status = 200, description = "The completed room", body = RoomBody),
        (status = 403, description = "The caller is not the host", body = ApiErrorBody),
        (status = 404, description = "No such room in the caller's company", body = ApiErrorBody),
        (status = 502, description = "LiveKit refused", body = ApiErrorBody),
        (status = 503, description = "LiveKit cannot be reached: the room is unchanged", body = ApiErrorBody),
    )
)]
pub(super) async fn end_room(
    caller: Caller<Meet>,
    Extension(meet): Extension<Arc<MeetService>>,
    State(state): State<AppState>,
    Path(room_id): Path<String>,
) -> Result<Json<RoomBody>, ApiError> {
    let member = member(&caller);
    let rooms = meet.rooms(&state.db);
    let room = rooms.hosted(&member, &room_id).await?;
    if room.status != crate::store::meet_rooms::RoomStatus::Completed {
        // LiveKit first: if it cannot be told, the room stays as it is and the host can retry.
        meet.close_in_livekit(&room.id).await?;
    }
    let ended = room.status != crate::store::meet_rooms::RoomStatus::Completed;
    let room = rooms.complete(&member, &room_id, state.clock.now()).await?;
    if ended {
        state
            .audit
            .record(meet_event(Kind::MeetRoomEnded, &caller).detail("room", room.id.as_str()));
    }
    Ok(Json(body(&meet, room)))
}

/// A LiveKit access token to join a room of the caller's company; the host's may also
/// administer and record it.
#[utoipa::path(
    post, path = "/token", tag = "meet",
    security(("bearer" = ["meet"]), ("oauth2" = ["meet"])),
    request_body = JoinBody,
    responses(
        (status = 200, description = "The token and where to connect", body = JoinToken),
        (status = 404, description = "No such room in the caller's company", body = ApiErrorBody),
        (status = 409, description = "The meeting has ended", body = ApiErrorBody),
        (status = 422, description = "A field is wrong", body = ApiErrorBody),
    )
)]
pub(super) async fn join_token(
    caller: Caller<Meet>,
    Extension(meet): Extension<Arc<MeetService>>,
    State(state): State<AppState>,
    ValidJson(join): ValidJson<JoinBody>,
) -> Result<Json<JoinToken>, ApiError> {
    let user_name = join
        .user_name
        .as_deref()
        .map(|name| parse_name(name).map_err(|e| ApiError::invalid("user_name", e.message)))
        .transpose()?;
    let (room, is_host) = meet
        .rooms(&state.db)
        .to_join(&member(&caller), &join.room_id)
        .await?;
    let now = state.clock.now();
    let grant = meet.join_token(&caller.user, user_name.as_deref(), &room.id, is_host, now)?;
    Ok(Json(JoinToken {
        token: grant.token,
        ws_url: meet.ws_url().to_owned(),
        room_id: room.id,
        identity: caller.user.id.clone(),
        expires_at: format_time(grant.expires_at),
    }))
}
