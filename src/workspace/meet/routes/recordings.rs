//! A room's recordings: the host starts and stops them, the members list and download them.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::{meet_event, member};
use crate::audit::Kind;
use crate::http::AppState;
use crate::store::meet_recordings::Recording;
use crate::workspace::meet::rooms::format_time;
use crate::workspace::meet::MeetService;
use crate::workspace::{ApiError, ApiErrorBody, Caller, Meet};

/// A recording of a room.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingBody {
    pub recording_id: String,
    pub room_id: String,
    /// `recording` (LiveKit records, or is still uploading), `complete` or `failed`.
    pub status: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_seconds: Option<i64>,
    pub size_bytes: Option<i64>,
    /// Why LiveKit could not record it (`failed` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A link that downloads the file without credentials, until `download_expires_at`
    /// (`complete` only, in listings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_expires_at: Option<String>,
}

/// A room's recordings, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingList {
    pub recordings: Vec<RecordingBody>,
}

fn recording_body(recording: Recording, download: Option<(String, i64)>) -> RecordingBody {
    let (download_url, download_expires_at) = match download {
        Some((url, expires)) => (Some(url), Some(format_time(expires))),
        None => (None, None),
    };
    RecordingBody {
        recording_id: recording.id,
        room_id: recording.room_id,
        status: recording.status.as_str().to_owned(),
        started_at: format_time(recording.started_at),
        ended_at: recording.ended_at.map(format_time),
        duration_seconds: recording.duration_seconds,
        size_bytes: recording.size_bytes,
        error: recording.error,
        download_url,
        download_expires_at,
    }
}

/// The host starts recording the room: LiveKit's Egress records it to an MP4 in the recordings'
/// bucket. One recording at a time, once someone is in the room.
#[utoipa::path(
    post, path = "/rooms/{room_id}/recording/start", tag = "meet",
    security(("bearer" = ["meet"]), ("oauth2" = ["meet"])),
    params(("room_id" = String, Path, description = "The room's id")),
    responses(
        (status = 201, description = "Recording", body = RecordingBody),
        (status = 403, description = "The caller is not the host", body = ApiErrorBody),
        (status = 404, description = "No such room in the caller's company", body = ApiErrorBody),
        (status = 409, description = "Recording already, nobody in the room yet, the meeting has ended, or recording is not set up", body = ApiErrorBody),
        (status = 502, description = "LiveKit refused", body = ApiErrorBody),
        (status = 503, description = "LiveKit cannot be reached", body = ApiErrorBody),
    )
)]
pub(super) async fn start_recording(
    caller: Caller<Meet>,
    Extension(meet): Extension<Arc<MeetService>>,
    State(state): State<AppState>,
    Path(room_id): Path<String>,
) -> Result<(StatusCode, Json<RecordingBody>), ApiError> {
    let recording = meet
        .start_recording(&state.db, &member(&caller), &room_id, state.clock.now())
        .await?;
    state.audit.record(
        meet_event(Kind::MeetRecordingStarted, &caller)
            .detail("room", recording.room_id.as_str())
            .detail("recording", recording.id.as_str()),
    );
    Ok((StatusCode::CREATED, Json(recording_body(recording, None))))
}

/// The host stops the room's recording; LiveKit finishes the upload and the recording turns
/// `complete` (or `failed`) when it says so.
#[utoipa::path(
    post, path = "/rooms/{room_id}/recording/stop", tag = "meet",
    security(("bearer" = ["meet"]), ("oauth2" = ["meet"])),
    params(("room_id" = String, Path, description = "The room's id")),
    responses(
        (status = 200, description = "The recording, as far as LiveKit has finished it", body = RecordingBody),
        (status = 403, description = "The caller is not the host", body = ApiErrorBody),
        (status = 404, description = "No such room in the caller's company", body = ApiErrorBody),
        (status = 409, description = "The meeting is not being recorded", body = ApiErrorBody),
        (status = 503, description = "LiveKit cannot be reached", body = ApiErrorBody),
    )
)]
pub(super) async fn stop_recording(
    caller: Caller<Meet>,
    Extension(meet): Extension<Arc<MeetService>>,
    State(state): State<AppState>,
    Path(room_id): Path<String>,
) -> Result<Json<RecordingBody>, ApiError> {
    let recording = meet
        .stop_recording(&state.db, &member(&caller), &room_id, state.clock.now())
        .await?;
    state.audit.record(
        meet_event(Kind::MeetRecordingStopped, &caller)
            .detail("room", recording.room_id.as_str())
            .detail("recording", recording.id.as_str()),
    );
    Ok(Json(recording_body(recording, None)))
}

/// A room's recordings, with download links that expire, for the members of its company.
#[utoipa::path(
    get, path = "/rooms/{room_id}/recordings", tag = "meet",
    security(("bearer" = ["meet"]), ("oauth2" = ["meet"])),
    params(("room_id" = String, Path, description = "The room's id")),
    responses(
        (status = 200, description = "The recordings, newest first", body = RecordingList),
        (status = 404, description = "No such room in the caller's company", body = ApiErrorBody),
    )
)]
pub(super) async fn list_recordings(
    caller: Caller<Meet>,
    Extension(meet): Extension<Arc<MeetService>>,
    State(state): State<AppState>,
    Path(room_id): Path<String>,
) -> Result<Json<RecordingList>, ApiError> {
    let listed = meet
        .list_recordings(&state.db, &member(&caller), &room_id, state.clock.now())
        .await?;
    Ok(Json(RecordingList {
        recordings: listed
            .into_iter()
            .map(|l| recording_body(l.recording, l.download))
            .collect(),
    }))
}
