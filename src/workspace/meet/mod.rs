//! Bheem Meet (`/api/v1/meet`): rooms on LiveKit, join tokens, recordings, and the ERP's copy.
//! LiveKit's tokens, server API and webhooks are in `livekit`, the recordings' download links in
//! `recordings`, who may do what with a room in `rooms`, the handlers in `routes`.

pub mod livekit;
mod recording;
pub mod recordings;
pub mod rooms;
mod routes;

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::Extension;
use utoipa_axum::router::OpenApiRouter;

use self::livekit::{LiveKit, LiveKitError, Participant, Role, WebhookError};
use self::recordings::Recordings;
use self::rooms::Rooms;
use crate::clock::UnixTime;
use crate::config::Config;
use crate::directory::User;
use crate::http::AppState;
use crate::store::meet_rooms::{Room, RoomStatus, StatusChange};
use crate::store::outbox::Job;
use crate::store::Db;
use crate::workspace::ApiError;

/// What the meet area runs on, built once from `[meet]`: LiveKit, the recordings' bucket, and
/// what a room's change calls for.
pub struct MeetService {
    livekit: LiveKit,
    recordings: Option<Recordings>,
    join_url_base: String,
    token_ttl_seconds: u64,
    /// Whether `[erp_sync]` copies rooms into the ERP.
    erp_sync: bool,
}

/// A join token and when it expires.
pub struct Grant {
    pub token: String,
    pub expires_at: UnixTime,
}

impl MeetService {
    /// The service `[meet]` describes; `None` without the section.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let Some(meet) = &config.meet else {
            return Ok(None);
        };
        let recordings = meet.recordings.as_ref().map(Recordings::new).transpose()?;
        Ok(Some(Self {
            livekit: LiveKit::new(meet)?,
            recordings,
            join_url_base: meet.join_url_base.clone(),
            token_ttl_seconds: meet.token_ttl_seconds,
            erp_sync: config.erp_sync.is_some(),
        }))
    }

    /// The area's routes, relative to `/api/v1/meet`, with this service beside them.
    pub fn router(self: Arc<Self>) -> OpenApiRouter<AppState> {
        routes::router().layer(Extension(self))
    }

    pub fn ws_url(&self) -> &str {
        self.livekit.ws_url()
    }

    /// The page people open to join room `id`.
    pub fn join_url(&self, id: &str) -> String {
        format!("{}{id}", self.join_url_base)
    }

    /// The rooms in `db`, with the ERP's copy of each change when `[erp_sync]` asks for one.
    pub fn rooms<'a>(&'a self, db: &'a Db) -> Rooms<'a> {
        Rooms {
            db,
            jobs: if self.erp_sync { &erp_copy } else { &no_jobs },
        }
    }

    /// A LiveKit access token for `user` in room `room`; the host's also administers and
    /// records it.
    pub fn join_token(
        &self,
        user: &User,
        name: Option<&str>,
        room: &str,
        is_host: bool,
        now: UnixTime,
    ) -> Result<Grant, ApiError> {
        let participant = Participant {
            identity: &user.id,
            name: name.unwrap_or(&user.name),
            metadata: None,
            role: if is_host {
                Role::Host
            } else {
                Role::Participant
            },
        };
        let token = self.livekit.join_token(room, &participant, now)?;
        Ok(Grant {
            token,
            expires_at: now.saturating_add(i64::try_from(self.token_ttl_seconds).unwrap_or(0)),
        })
    }

    /// Ends room `id` in LiveKit, disconnecting whoever is in it. A room LiveKit does not have
    /// (nobody joined it yet, or it closed when the last one left) is ended already.
    pub async fn close_in_livekit(&self, id: &str) -> Result<(), ApiError> {
        match self.livekit.delete_room(id).await {
            Ok(()) | Err(LiveKitError::NotFound(_)) => Ok(()),
            Err(e) => Err(livekit_failed(e)),
        }
    }

    /// A webhook from LiveKit, verified against the exact bytes received, then applied: rooms
    /// move forward as LiveKit says they started and finished.
    pub async fn take_webhook(
        &self,
        db: &Db,
        now: UnixTime,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), ApiError> {
        let authorization = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let event = self
            .livekit
            .verify_webhook(authorization, body, now)
            .map_err(|e| {
                tracing::info!(reason = %e, "LiveKit webhook refused");
                match e {
                    WebhookError::BadBody(message) => ApiError::MalformedBody(message),
                    _ => ApiError::InvalidSignature,
                }
            })?;
        let status = match event.event.as_str() {
            "room_started" => RoomStatus::Active,
            "room_finished" => RoomStatus::Completed,
            "egress_ended" | "egress_updated" => {
                if let Some(info) = &event.egress_info {
                    self.egress_over(db, info, now).await?;
                }
                return Ok(());
            }
            // Participants' events carry nothing a room's state takes.
            _ => return Ok(()),
        };
        let Some(room) = event.room.as_ref().map(|r| r.name.as_str()) else {
            return Ok(());
        };
        // A calendar event's room outlives each meeting held in it: a series' later occurrences
        // join it by the same link. It is ready again until the event is deleted or its meeting
        // taken off, which end it.
        let status = if status == RoomStatus::Completed && db.calendar_event_has_room(room).await? {
            RoomStatus::Scheduled
        } else {
            status
        };
        match self.rooms(db).from_livekit(room, status, now).await? {
            StatusChange::Changed(room) => tracing::info!(
                room = %room.id,
                status = room.status.as_str(),
                event = %event.event,
                "meet room moved by LiveKit"
            ),
            StatusChange::Unchanged => {}
            StatusChange::NoSuchRoom => tracing::debug!(
                room,
                event = %event.event,
                "LiveKit webhook for a room that is not ours"
            ),
        }
        Ok(())
    }

    /// The recordings' bucket, when `[meet.recordings]` is configured.
    pub fn recordings(&self) -> Option<&Recordings> {
        self.recordings.as_ref()
    }
}

/// The ERP's copy of the room as it now is.
fn erp_copy(room: &Room) -> Vec<Job> {
    vec![Job::sync_meet_room(&room.id, room.version)]
}

fn no_jobs(_: &Room) -> Vec<Job> {
    Vec::new()
}

/// What the user is told when LiveKit failed: 503 when it could not be reached in time (the
/// room is unchanged and they may retry), 502 when it answered wrongly; the cause is logged.
pub(crate) fn livekit_failed(e: LiveKitError) -> ApiError {
    tracing::warn!(error = %e, "LiveKit call failed");
    match e {
        e if e.is_unavailable() => ApiError::Unavailable { service: "livekit" },
        LiveKitError::Signing(message) => ApiError::Internal(anyhow::anyhow!(message)),
        _ => ApiError::BadGateway { service: "livekit" },
    }
}
