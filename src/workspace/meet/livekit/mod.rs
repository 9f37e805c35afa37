//! Everything Bheem Meet says to and hears from LiveKit, with no axum in it: join tokens
//! ([`token`]), the server API's RoomService and Egress ([`twirp`], called through [`LiveKit`]),
//! and webhook verification ([`webhook`]). The messages are in [`types`].
//!
//! Not the `livekit-api` crate (see Cargo.toml): reqwest and LiveKit's Twirp JSON shapes, as
//! LiveKit's server answers them (livekit/protocol `livekit_room.proto`, `livekit_egress.proto`).

pub mod token;
pub mod twirp;
pub mod types;
pub mod webhook;

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::json;

use crate::clock::UnixTime;
use crate::config::{MeetConfig, RecordingsConfig};

pub use token::{ApiKey, Claims, Participant, Role, TokenError, VideoGrant};
pub use twirp::LiveKitError;
pub use types::{EgressInfo, EgressStatus, FileInfo, ParticipantInfo, Room, WebhookEvent};
pub use webhook::WebhookError;

/// LiveKit as the meet area uses it: built once from `[meet]`, cheap to share.
#[derive(Clone, Debug)]
pub struct LiveKit {
    api: ApiKey,
    ws_url: String,
    token_ttl_seconds: u64,
    twirp: twirp::TwirpClient,
}

/// What CreateRoom may set besides the name (`livekit.CreateRoomRequest`); zero: LiveKit's
/// default.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NewRoom<'a> {
    pub name: &'a str,
    /// Seconds an empty room is kept before LiveKit closes it.
    #[serde(skip_serializing_if = "is_zero")]
    pub empty_timeout: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_participants: u32,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub metadata: &'a str,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl LiveKit {
    pub fn new(config: &MeetConfig) -> anyhow::Result<Self> {
        let api = ApiKey {
            key: config.api_key.clone(),
            secret: config.api_secret.clone(),
        };
        let timeout = Duration::from_secs(config.request_timeout_seconds);
        Ok(Self {
            twirp: twirp::TwirpClient::new(&config.livekit_url, api.clone(), timeout)?,
            api,
            ws_url: config.ws_url.clone(),
            token_ttl_seconds: config.token_ttl_seconds,
        })
    }

    /// What clients connect to with a join token.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }

    /// A join token for `participant` in `room`, valid from `now` for `[meet] token_ttl_seconds`.
    pub fn join_token(
        &self,
        room: &str,
        participant: &Participant<'_>,
        now: UnixTime,
    ) -> anyhow::Result<String> {
        token::join_token(&self.api, room, participant, now, self.token_ttl_seconds)
    }

    /// Verifies a webhook LiveKit sent: see [`webhook::verify`].
    pub fn verify_webhook(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        now: UnixTime,
    ) -> Result<WebhookEvent, WebhookError> {
        webhook::verify(&self.api, authorization, body, now)
    }

    // RoomService. Grants as LiveKit's `service/roomservice.go` requires them.

    /// Creates the room, or answers the existing one of that name (LiveKit's CreateRoom is
    /// idempotent).
    pub async fn create_room(&self, room: &NewRoom<'_>) -> Result<Room, LiveKitError> {
        let grant = VideoGrant {
            room_create: true,
            ..VideoGrant::default()
        };
        self.twirp
            .call("RoomService", "CreateRoom", grant, room)
            .await
    }

    /// Ends the room for everyone in it.
    pub async fn delete_room(&self, room: &str) -> Result<(), LiveKitError> {
        let grant = VideoGrant {
            room_create: true,
            ..VideoGrant::default()
        };
        let _: serde_json::Value = self
            .twirp
            .call("RoomService", "DeleteRoom", grant, &json!({ "room": room }))
            .await?;
        Ok(())
    }

    /// The rooms of these names that LiveKit has open (all when `names` is empty).
    pub async fn list_rooms(&self, names: &[&str]) -> Result<Vec<Room>, LiveKitError> {
        #[derive(serde::Deserialize)]
        struct Rooms {
            #[serde(default)]
            rooms: Vec<Room>,
        }
        let grant = VideoGrant {
            room_list: true,
            ..VideoGrant::default()
        };
        let rooms: Rooms = self
            .twirp
            .call(
                "RoomService",
                "ListRooms",
                grant,
                &json!({ "names": names }),
            )
            .await?;
        Ok(rooms.rooms)
    }

    pub async fn list_participants(
        &self,
        room: &str,
    ) -> Result<Vec<ParticipantInfo>, LiveKitError> {
        #[derive(serde::Deserialize)]
        struct Participants {
            #[serde(default)]
            participants: Vec<ParticipantInfo>,
        }
        let list: Participants = self
            .twirp
            .call(
                "RoomService",
                "ListParticipants",
                room_admin(room),
                &json!({ "room": room }),
            )
            .await?;
        Ok(list.participants)
    }

    // Egress. Every call needs `roomRecord` (LiveKit's `service/egress.go`).

    /// Records `room` (all participants, LiveKit's `grid` layout) to an MP4 uploaded to
    /// `s3` at `filepath`.
    pub async fn start_recording(
        &self,
        room: &str,
        filepath: &str,
        s3: &RecordingsConfig,
    ) -> Result<EgressInfo, LiveKitError> {
        let request = json!({
            "room_name": room,
            "layout": "grid",
            "file_outputs": [{
                "file_type": "MP4",
                "filepath": filepath,
                "s3": {
                    "access_key": s3.s3_access_key.expose_secret(),
                    "secret": s3.s3_secret_key.expose_secret(),
                    "region": s3.s3_region,
                    "endpoint": s3.s3_endpoint,
                    "bucket": s3.s3_bucket,
                    // MinIO, moto and most S3-compatible stores want path-style addressing.
                    "force_path_style": true,
                },
            }],
        });
        self.twirp
            .call(
                "Egress",
                "StartRoomCompositeEgress",
                room_record(),
                &request,
            )
            .await
    }

    pub async fn stop_egress(&self, egress_id: &str) -> Result<EgressInfo, LiveKitError> {
        self.twirp
            .call(
                "Egress",
                "StopEgress",
                room_record(),
                &json!({ "egress_id": egress_id }),
            )
            .await
    }

    /// The egresses of `room`; only those still running when `active`.
    pub async fn list_egress(
        &self,
        room: &str,
        active: bool,
    ) -> Result<Vec<EgressInfo>, LiveKitError> {
        #[derive(serde::Deserialize)]
        struct Items {
            #[serde(default)]
            items: Vec<EgressInfo>,
        }
        let list: Items = self
            .twirp
            .call(
                "Egress",
                "ListEgress",
                room_record(),
                &json!({ "room_name": room, "active": active }),
            )
            .await?;
        Ok(list.items)
    }
}

fn room_admin(room: &str) -> VideoGrant {
    VideoGrant {
        room_admin: true,
        room: Some(room.to_owned()),
        ..VideoGrant::default()
    }
}

fn room_record() -> VideoGrant {
    VideoGrant {
        room_record: true,
        ..VideoGrant::default()
    }
}
