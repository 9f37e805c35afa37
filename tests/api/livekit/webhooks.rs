//! Webhooks as the fake LiveKit sends them, verified by the meet library against the exact bytes
//! received: a good one is read; one changed byte, another secret, no header or a late arrival
//! are refused.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use bheem_sso::workspace::meet::livekit::{LiveKit, NewRoom, TokenError, WebhookError};

use super::{livekit, meet_config, unix_now};

/// What a receiver got: the `Authorization` header, the `Content-Type`, the raw body.
type Received = Arc<Mutex<Vec<(Option<String>, Option<String>, Bytes)>>>;

/// An HTTP server on a free port that keeps every POST it gets.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let app = Router::new()
        .route(
            "/api/v1/meet/webhook",
            post(
                |State(r): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    r.lock()
                        .unwrap()
                        .push((header("authorization"), header("content-type"), body));
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/api/v1/meet/webhook",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

#[tokio::test]
async fn room_started_from_livekit_verifies_and_reads() {
    let (fake, client) = livekit().await;
    let (url, received) = receiver().await;
    fake.set_webhook_url(&url);
    client
        .create_room(&NewRoom {
            name: "bhm-hook-one",
            ..NewRoom::default()
        })
        .await
        .unwrap();
    let deliveries = fake.wait_for_deliveries(1).await;
    assert_eq!(deliveries[0].event, "room_started");
    assert_eq!(deliveries[0].status, Some(200));

    let (auth, content_type, body) = received.lock().unwrap()[0].clone();
    assert_eq!(content_type.as_deref(), Some("application/webhook+json"));
    let auth = auth.expect("LiveKit signs every webhook");
    assert!(!auth.starts_with("Bearer "), "LiveKit sends the bare token");
    let event = client
        .verify_webhook(Some(&auth), &body, unix_now())
        .unwrap();
    assert_eq!(event.event, "room_started");
    let room = event.room.unwrap();
    assert_eq!(room.name, "bhm-hook-one");
    assert_eq!(Some(room.sid), fake.room("bhm-hook-one").map(|r| r.sid));
    assert!(event.id.starts_with("EV_"));

    // LiveKit closing the room by itself (emptied): room_finished, with an id of its own.
    let finished = fake.send_room_finished("bhm-hook-one").await;
    assert_eq!(finished.status, Some(200));
    let again = fake.send_room_started("bhm-hook-one").await;
    let (auth, _, body) = received.lock().unwrap()[2].clone();
    assert_eq!(body.to_vec(), again.body);
    let repeated = client
        .verify_webhook(auth.as_deref(), &body, unix_now())
        .unwrap();
    assert_eq!(repeated.event, "room_started");
    assert_ne!(repeated.id, event.id, "each event has its own id");
}

#[tokio::test]
async fn a_tampered_unsigned_foreign_or_late_webhook_is_refused() {
    let (fake, client) = livekit().await;
    let (url, received) = receiver().await;
    fake.set_webhook_url(&url);
    client
        .create_room(&NewRoom {
            name: "bhm-hook-two",
            ..NewRoom::default()
        })
        .await
        .unwrap();
    client.delete_room("bhm-hook-two").await.unwrap();
    fake.wait_for_deliveries(2).await;
    let (auth, _, body) = received
        .lock()
        .unwrap()
        .iter()
        .find(|(_, _, body)| body.windows(13).any(|w| w == b"room_finished"))
        .cloned()
        .expect("room_finished was sent");
    let auth = auth.unwrap();
    let now = unix_now();
    assert_eq!(
        client
            .verify_webhook(Some(&auth), &body, now)
            .unwrap()
            .event,
        "room_finished"
    );

    // One byte of the body changed: `bhm-hook-two` becomes `bhm-hook-twp`.
    let at = body.windows(12).position(|w| w == b"bhm-hook-two").unwrap() + 11;
    let mut changed = body.to_vec();
    changed[at] += 1;
    assert_eq!(
        client
            .verify_webhook(Some(&auth), &changed, now)
            .unwrap_err(),
        WebhookError::BodyMismatch
    );

    // Signed with another secret: as if from another LiveKit.
    let other = LiveKit::new(&meet_config(
        &fake.url(),
        "some-other-secret-0123456789abcdef",
    ))
    .unwrap();
    let foreign = other.verify_webhook(Some(&auth), &body, now).unwrap_err();
    assert!(
        matches!(foreign, WebhookError::BadToken(TokenError::Invalid(_))),
        "{foreign:?}"
    );
    assert_eq!(foreign.http_status(), 401);

    assert_eq!(
        client.verify_webhook(None, &body, now).unwrap_err(),
        WebhookError::MissingAuthorization
    );
    assert_eq!(
        client.verify_webhook(Some(""), &body, now).unwrap_err(),
        WebhookError::MissingAuthorization
    );

    // LiveKit's webhook tokens live five minutes; with the minute of leeway, six are too late.
    assert_eq!(
        client
            .verify_webhook(Some(&auth), &body, now + 6 * 60 + 1)
            .unwrap_err(),
        WebhookError::BadToken(TokenError::Expired)
    );
}
