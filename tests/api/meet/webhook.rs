//! LiveKit's webhooks move rooms along; anything not signed by LiveKit with this deployment's
//! key, or altered on the way, is refused and changes nothing.

use serde_json::json;

use super::{MeetApp, API_KEY, API_SECRET};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(
    signed_webhooks_start_and_finish_rooms,
    unsigned_or_altered_webhooks_are_refused_and_change_nothing,
);

async fn signed_webhooks_start_and_finish_rooms(backend: Backend) {
    let Some(m) = MeetApp::start(backend).await else {
        return;
    };
    let id = m.room(&m.alice, json!({"name": "Live"})).await;
    // The first to join makes LiveKit open the room, and LiveKit says so.
    let delivery = m
        .livekit
        .participant_joins(&id, m.bob_id(), "Bob")
        .await
        .expect("LiveKit makes the room on the first join");
    assert_eq!(delivery.event, "room_started");
    assert_eq!(delivery.status, Some(200));
    assert_eq!(m.room_json(&id).await["status"], "active");
    // A repeated delivery changes nothing more.
    m.webhook_room_event("room_started", &id).await;
    assert_eq!(m.room_json(&id).await["status"], "active");
    // Other events are taken and ignored.
    m.webhook_room_event("participant_joined", &id).await;
    m.webhook_room_event("room_finished", &id).await;
    let room = m.room_json(&id).await;
    assert_eq!(room["status"], "completed");
    // A late `room_started` does not reopen it; rooms of other deployments are ignored.
    m.webhook_room_event("room_started", &id).await;
    assert_eq!(m.room_json(&id).await["status"], "completed");
    m.webhook_room_event("room_started", "bhm-qqqqq-qqqqq-qqqqq")
        .await;
    m.webhook_room_event("room_started", "someone-elses-room")
        .await;
}

async fn unsigned_or_altered_webhooks_are_refused_and_change_nothing(backend: Backend) {
    let Some(m) = MeetApp::start(backend).await else {
        return;
    };
    let id = m.room(&m.alice, json!({"name": "Quiet"})).await;
    let body = json!({
        "event": "room_started",
        "id": "EV_forged",
        "createdAt": "1796634000",
        "room": {"sid": "RM_forged", "name": id},
    })
    .to_string();
    let altered = body.replace("room_started", "room_finished");
    let cases = [
        ("no signature", body.clone(), None),
        (
            "another secret",
            body.clone(),
            Some(m.sign_webhook(API_KEY, "not-the-secret-0123456789", &body)),
        ),
        (
            "another key",
            body.clone(),
            Some(m.sign_webhook("APIother", API_SECRET, &body)),
        ),
        (
            "altered body",
            altered.clone(),
            Some(m.sign_webhook(API_KEY, API_SECRET, &body)),
        ),
        (
            "not a JWT",
            body.clone(),
            Some("Bearer nonsense".to_owned()),
        ),
    ];
    for (what, body, authorization) in cases {
        let (status, answer) = m.post_webhook(&body, authorization.as_deref()).await;
        assert_eq!(status, 401, "{what}: {answer}");
    }
    assert_eq!(m.room_json(&id).await["status"], "scheduled");
    // Signed as LiveKit signs, the same body is taken.
    let signed = m.sign_webhook(API_KEY, API_SECRET, &body);
    let (status, _) = m.post_webhook(&body, Some(&signed)).await;
    assert_eq!(status, 200);
    assert_eq!(m.room_json(&id).await["status"], "active");
}
