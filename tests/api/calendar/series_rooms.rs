//! A recurring event's Meet room: one link for every occurrence, so a meeting held in it that
//! LiveKit reports finished leaves it ready for the next one; deleting the event ends it.

use serde_json::json;

use super::meetings::{room, start};
use super::{CalendarApp, EVENTS};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(a_series_room_is_ready_again_after_each_meeting_until_the_event_goes);

const WEBHOOK: &str = "/api/v1/meet/webhook";
const TOKEN: &str = "/api/v1/meet/token";

async fn join(c: &CalendarApp, token: &str, room_id: &str) -> u16 {
    let body = json!({"room_id": room_id});
    c.call(token, "POST", TOKEN, Some(&body)).await.0
}

async fn a_series_room_is_ready_again_after_each_meeting_until_the_event_goes(backend: Backend) {
    let Some((c, livekit)) = start(backend).await else {
        return;
    };
    livekit.set_webhook_url(&format!("{}{WEBHOOK}", c.api.base));
    let event = c
        .create(
            &c.alice,
            json!({"title": "Weekly", "start": "2025-12-01T10:00:00Z", "end": "2025-12-01T10:30:00Z",
                   "recurrence": "FREQ=WEEKLY;COUNT=10", "attendees": ["bob@acme.example"],
                   "create_meeting": true}),
        )
        .await;
    let room_id = event["meeting"]["room_id"].as_str().unwrap().to_owned();
    // The first week's meeting: started, then over as LiveKit tells.
    let started = livekit
        .participant_joins(&room_id, "alice", "Alice")
        .await
        .expect("LiveKit made the room");
    assert_eq!(started.status, Some(200));
    let (_, now) = room(&c, &c.alice, &room_id).await;
    assert_eq!(now["status"], "active", "{now:#}");
    assert_eq!(livekit.send_room_finished(&room_id).await.status, Some(200));
    // Next week's occurrence joins by the same link.
    let (_, now) = room(&c, &c.alice, &room_id).await;
    assert_eq!(now["status"], "scheduled", "{now:#}");
    assert_eq!(join(&c, &c.bob, &room_id).await, 200);
    // The series deleted: its room is over.
    let id = format!("{EVENTS}/{}", event["event_id"].as_str().unwrap());
    let (status, _) = c.call(&c.alice, "DELETE", &id, None).await;
    assert_eq!(status, 204);
    let (_, now) = room(&c, &c.alice, &room_id).await;
    assert_eq!(now["status"], "completed", "{now:#}");
    assert_ne!(join(&c, &c.bob, &room_id).await, 200);
}
