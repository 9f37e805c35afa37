//! A fake LiveKit server: its server API (Twirp JSON RoomService and Egress) and its webhooks.
//!
//! Behaviour follows livekit-server (`pkg/service/auth.go`, `roomservice.go`, `egress.go`) and
//! livekit/protocol (`auth/`, `webhook/`, the `.proto` messages) as REFERENCE.md sums them up:
//! - every call carries `Authorization: Bearer <token>`, HS256 with the API secret, `iss` the
//!   API key, `exp` required, a minute of leeway. A token that does not verify is refused by the
//!   auth middleware before Twirp, with HTTP 401 and a plain-text body; a valid token without the
//!   grant a method needs gets Twirp `unauthenticated` (LiveKit's `twirpAuthError`);
//! - grants: CreateRoom and DeleteRoom `roomCreate`, ListRooms `roomList`, ListParticipants and
//!   RemoveParticipant `roomAdmin` for the request's room, every Egress method `roomRecord`;
//! - requests are protojson (snake_case or camelCase field names, unknown fields ignored);
//!   answers use the proto names, leave defaults out, and write int64s as strings and enums by
//!   name; errors are Twirp JSON `{"code","msg"}` with the code's HTTP status;
//! - Egress really uploads: stopping a room composite egress writes a small MP4 (an `ftyp` and an
//!   `mdat` box) to the S3 bucket the request named, with the request's credentials, path-style;
//! - webhooks are POSTed as `application/webhook+json`, camelCase protojson, with an
//!   `Authorization` token (no "Bearer") carrying the body's base64 SHA-256 in `sha256`.
//!
//! Where it is simpler: no media, so participants only exist when a test adds them; an egress
//! starts at once and ends when stopped (or when its room is deleted); one API key.

mod egress;
mod twirp;
mod webhooks;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use serde_json::Value;

use super::server::{with_log_and_faults, FakeServer, FaultSwitch, RequestLog};
use super::Fault;

pub use egress::mp4;
pub use webhooks::{sign as sign_webhook, Delivery};

/// A room as the fake holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeRoom {
    pub sid: String,
    pub name: String,
    pub empty_timeout: u32,
    pub max_participants: u32,
    pub metadata: String,
    /// Seconds since the epoch.
    pub creation_time: i64,
    /// Identities and names of the participants a test put in.
    pub participants: Vec<(String, String)>,
}

/// An egress as the fake holds it, with the S3 upload its request asked for.
#[derive(Clone, Debug)]
pub struct FakeEgress {
    pub egress_id: String,
    pub room_name: String,
    pub room_sid: String,
    /// `EGRESS_ACTIVE`, `EGRESS_COMPLETE`, `EGRESS_FAILED`…
    pub status: String,
    pub error: String,
    /// Nanoseconds since the epoch.
    pub started_at: i64,
    pub ended_at: i64,
    pub filepath: String,
    pub s3: S3Upload,
    /// Set once the file is written.
    pub file: Option<WrittenFile>,
}

/// The `s3` of an egress request's file output.
#[derive(Clone, Debug, Default)]
pub struct S3Upload {
    pub access_key: String,
    pub secret: String,
    pub region: String,
    pub endpoint: String,
    pub bucket: String,
    pub force_path_style: bool,
}

#[derive(Clone, Debug)]
pub struct WrittenFile {
    pub filename: String,
    pub location: String,
    /// Nanoseconds.
    pub duration: i64,
    pub size: i64,
}

/// A running fake LiveKit. Dropping it shuts it down.
pub struct FakeLiveKit {
    server: FakeServer,
    lk: LiveKit,
}

impl FakeLiveKit {
    /// Starts a LiveKit that knows one API key and its secret.
    pub async fn start(api_key: &str, api_secret: &str) -> Self {
        let lk = LiveKit {
            state: Arc::new(Mutex::new(LkState::default())),
            api_key: api_key.to_owned(),
            api_secret: api_secret.to_owned(),
            faults: FaultSwitch::default(),
            log: RequestLog::default(),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        };
        let app = Router::new()
            .route("/twirp/{service}/{method}", post(twirp::handle))
            .fallback(twirp::bad_route)
            .with_state(lk.clone());
        let app = with_log_and_faults(app, lk.log.clone(), lk.faults.clone());
        Self {
            server: FakeServer::start(app).await,
            lk,
        }
    }

    /// `http://127.0.0.1:PORT`: the server API's URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn set_fault(&self, fault: Fault) {
        self.lk.faults.set(fault);
    }

    /// Connections refused until [`Self::restart`].
    pub async fn stop(&self) {
        self.server.stop().await;
    }

    pub async fn restart(&self) {
        self.server.restart().await;
    }

    /// Every request that reached the server, as `"METHOD /path"`.
    pub fn requests(&self) -> Vec<String> {
        self.lk.log.entries()
    }

    /// How many calls of `Service/Method` (e.g. `RoomService/CreateRoom`) reached the server.
    pub fn calls(&self, method: &str) -> usize {
        let path = format!("/twirp/livekit.{method}");
        self.lk.log.count("POST", |p| p == path)
    }

    pub fn rooms(&self) -> BTreeMap<String, FakeRoom> {
        self.lk.lock().rooms.clone()
    }

    pub fn room(&self, name: &str) -> Option<FakeRoom> {
        self.lk.lock().rooms.get(name).cloned()
    }

    pub fn egress(&self, egress_id: &str) -> Option<FakeEgress> {
        self.lk.lock().egresses.get(egress_id).cloned()
    }

    /// A participant joins `room` as a client with a join token does: LiveKit makes the room
    /// on the first join (its `auto_create`) and tells the webhook `room_started`, here before
    /// this returns; the delivery, when the room was made.
    pub async fn participant_joins(
        &self,
        room: &str,
        identity: &str,
        name: &str,
    ) -> Option<Delivery> {
        let made = {
            let mut state = self.lk.lock();
            let made = !state.rooms.contains_key(room);
            let fake = state
                .rooms
                .entry(room.to_owned())
                .or_insert_with(|| FakeRoom {
                    sid: new_id("RM_"),
                    name: room.to_owned(),
                    empty_timeout: 300,
                    max_participants: 0,
                    metadata: String::new(),
                    creation_time: now_ns() / 1_000_000_000,
                    participants: Vec::new(),
                });
            fake.participants
                .push((identity.to_owned(), name.to_owned()));
            made.then(|| fake.clone())
        };
        match made {
            Some(room) => Some(
                self.lk
                    .deliver(webhooks::room_event("room_started", &room))
                    .await,
            ),
            None => None,
        }
    }

    /// The rooms DeleteRoom was called for, in order.
    pub fn deleted_rooms(&self) -> Vec<String> {
        self.lk.lock().deleted.clone()
    }

    /// Puts a participant into a room, as a client joining with a token would.
    pub fn add_participant(&self, room: &str, identity: &str, name: &str) {
        let mut state = self.lk.lock();
        let room = state.rooms.get_mut(room).expect("the room exists");
        room.participants
            .push((identity.to_owned(), name.to_owned()));
    }

    /// The duration every recording reports; by default the wall time from start to stop.
    pub fn set_recording_duration(&self, duration: Duration) {
        self.lk.lock().recording_duration = Some(duration);
    }

    /// Where webhooks go (LiveKit's `webhook.urls`); none until set. With a URL set, rooms made
    /// by CreateRoom send `room_started`, DeleteRoom `room_finished`, and an egress that ends
    /// `egress_ended`, each from a task of its own, as LiveKit's notifier does.
    pub fn set_webhook_url(&self, url: &str) {
        self.lk.lock().webhook_url = Some(url.to_owned());
    }

    /// Sends `room_started` for an existing room now, and returns how it was answered.
    pub async fn send_room_started(&self, room: &str) -> Delivery {
        let room = self.room(room).expect("the room exists");
        self.lk
            .deliver(webhooks::room_event("room_started", &room))
            .await
    }

    pub async fn send_room_finished(&self, room: &str) -> Delivery {
        let room = self.room(room).expect("the room exists");
        self.lk
            .deliver(webhooks::room_event("room_finished", &room))
            .await
    }

    pub async fn send_egress_ended(&self, egress_id: &str) -> Delivery {
        let egress = self.egress(egress_id).expect("the egress exists");
        self.lk
            .deliver(webhooks::egress_event("egress_ended", &egress))
            .await
    }

    /// For each call whose token verified, in order: `Service/Method` and the token's `video`.
    pub fn grants_seen(&self) -> Vec<(String, Value)> {
        self.lk.lock().grants_seen.clone()
    }

    /// Every webhook delivery attempted so far, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lk.lock().deliveries.clone()
    }

    /// Waits (probing, up to 10 s) until `n` webhooks have been delivered or refused.
    pub async fn wait_for_deliveries(&self, n: usize) -> Vec<Delivery> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let deliveries = self.deliveries();
            if deliveries.len() >= n {
                return deliveries;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {n} webhooks sent within 10 s: {deliveries:?}",
                deliveries.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The state the handlers share.
#[derive(Clone)]
struct LiveKit {
    state: Arc<Mutex<LkState>>,
    api_key: String,
    api_secret: String,
    faults: FaultSwitch,
    log: RequestLog,
    /// For webhooks and S3 uploads.
    http: reqwest::Client,
}

#[derive(Default)]
struct LkState {
    rooms: BTreeMap<String, FakeRoom>,
    egresses: BTreeMap<String, FakeEgress>,
    webhook_url: Option<String>,
    deliveries: Vec<Delivery>,
    recording_duration: Option<Duration>,
    /// `Service/Method` and the `video` grant of each call whose token verified.
    grants_seen: Vec<(String, Value)>,
    /// The room of each DeleteRoom call that was let through, in order, whether LiveKit had
    /// the room or not.
    deleted: Vec<String>,
}

impl LiveKit {
    fn lock(&self) -> MutexGuard<'_, LkState> {
        self.state.lock().unwrap()
    }
}

/// LiveKit's ids: a type prefix and twelve random characters (`RM_`, `EG_`, `EV_`).
fn new_id(prefix: &str) -> String {
    use rand::Rng;
    let suffix: String = rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(12)
        .map(char::from)
        .collect();
    format!("{prefix}{suffix}")
}

fn now_ns() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64
}
