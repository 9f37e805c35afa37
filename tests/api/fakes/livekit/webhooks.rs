//! Webhooks as LiveKit's notifier sends them (livekit/protocol `webhook/url_notifier.go`):
//! `POST`, `Content-Type: application/webhook+json`, the event as camelCase protojson, and
//! `Authorization: <token>` (no "Bearer"): HS256 with the API secret, `iss` the API key, valid
//! for five minutes, with `sha256` the base64 SHA-256 of the body.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{new_id, FakeEgress, FakeRoom, LiveKit};

/// One webhook sent: the event's name, the body, and the receiver's HTTP status (`None`: no
/// answer at all).
#[derive(Clone, Debug)]
pub struct Delivery {
    pub event: String,
    pub body: Vec<u8>,
    pub status: Option<u16>,
}

pub(super) fn room_event(event: &str, room: &FakeRoom) -> Value {
    json!({
        "event": event,
        "room": {
            "sid": room.sid,
            "name": room.name,
            "emptyTimeout": room.empty_timeout,
            "creationTime": room.creation_time.to_string(),
        },
        "id": new_id("EV_"),
        "createdAt": (super::now_ns() / 1_000_000_000).to_string(),
    })
}

pub(super) fn egress_event(event: &str, egress: &FakeEgress) -> Value {
    let mut info = json!({
        "egressId": egress.egress_id,
        "roomId": egress.room_sid,
        "roomName": egress.room_name,
        "status": egress.status,
        "startedAt": egress.started_at.to_string(),
        "endedAt": egress.ended_at.to_string(),
    });
    if !egress.error.is_empty() {
        info["error"] = egress.error.clone().into();
    }
    if let Some(file) = &egress.file {
        info["fileResults"] = json!([{
            "filename": file.filename,
            "location": file.location,
            "startedAt": egress.started_at.to_string(),
            "endedAt": egress.ended_at.to_string(),
            "duration": file.duration.to_string(),
            "size": file.size.to_string(),
        }]);
    }
    json!({
        "event": event,
        "egressInfo": info,
        "id": new_id("EV_"),
        "createdAt": (super::now_ns() / 1_000_000_000).to_string(),
    })
}

/// The `Authorization` value for `body`, as LiveKit signs it.
pub fn sign(api_key: &str, api_secret: &str, body: &[u8], now: i64) -> String {
    let claims = json!({
        "iss": api_key,
        "nbf": now,
        "exp": now + 300,
        "video": {},
        "sha256": base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body)),
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(api_secret.as_bytes()),
    )
    .unwrap()
}

impl LiveKit {
    /// Sends `event` from a task of its own if a webhook URL is set.
    pub(super) fn notify(&self, event: Value) {
        if self.lock().webhook_url.is_none() {
            return;
        }
        let lk = self.clone();
        tokio::spawn(async move {
            lk.deliver(event).await;
        });
    }

    /// Sends `event` to the webhook URL now, and records the delivery.
    pub(super) async fn deliver(&self, event: Value) -> Delivery {
        let url = self
            .lock()
            .webhook_url
            .clone()
            .expect("a webhook URL is set (FakeLiveKit::set_webhook_url)");
        let body = serde_json::to_vec(&event).unwrap();
        let now = super::now_ns() / 1_000_000_000;
        let status = self
            .http
            .post(url)
            .header("Content-Type", "application/webhook+json")
            .header(
                "Authorization",
                sign(&self.api_key, &self.api_secret, &body, now),
            )
            .body(body.clone())
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16());
        let delivery = Delivery {
            event: event["event"].as_str().unwrap_or_default().to_owned(),
            body,
            status,
        };
        self.lock().deliveries.push(delivery.clone());
        delivery
    }
}
