//! The Twirp client against the fake LiveKit: answers, LiveKit's refusals, and LiveKit down or
//! hanging, each sorted into the error the meet API turns into its status.

use std::time::{Duration, Instant};

use bheem_sso::workspace::meet::livekit::{LiveKit, LiveKitError, NewRoom};
use serde_json::json;

use super::{livekit, meet_config};
use crate::fakes::Fault;

#[tokio::test]
async fn create_room_makes_it_once_and_lists_its_participants() {
    let (fake, client) = livekit().await;
    let room = client
        .create_room(&NewRoom {
            name: "bhm-abc-xyz",
            empty_timeout: 300,
            ..NewRoom::default()
        })
        .await
        .unwrap();
    assert_eq!(room.name, "bhm-abc-xyz");
    assert!(room.sid.starts_with("RM_"));
    assert_eq!(room.empty_timeout, 300);
    assert!(
        room.creation_time > 1_700_000_000,
        "creation_time read from an int64 string"
    );

    let again = client
        .create_room(&NewRoom {
            name: "bhm-abc-xyz",
            ..NewRoom::default()
        })
        .await
        .unwrap();
    assert_eq!(again.sid, room.sid, "CreateRoom is idempotent");
    assert_eq!(fake.rooms().len(), 1);

    fake.add_participant("bhm-abc-xyz", "user-1", "Alice");
    let participants = client.list_participants("bhm-abc-xyz").await.unwrap();
    assert_eq!(participants.len(), 1);
    assert_eq!(participants[0].identity, "user-1");
    assert_eq!(participants[0].name, "Alice");

    let listed = client.list_rooms(&["bhm-abc-xyz"]).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].num_participants, 1);

    client.delete_room("bhm-abc-xyz").await.unwrap();
    assert!(fake.room("bhm-abc-xyz").is_none());
}

#[tokio::test]
async fn a_missing_room_is_not_found() {
    let (_fake, client) = livekit().await;
    let deleted = client.delete_room("bhm-never-made").await.unwrap_err();
    assert!(matches!(deleted, LiveKitError::NotFound(_)), "{deleted:?}");
    assert_eq!(deleted.http_status(), 404);
    let listed = client
        .list_participants("bhm-never-made")
        .await
        .unwrap_err();
    assert!(matches!(listed, LiveKitError::NotFound(_)), "{listed:?}");
    let stopped = client.stop_egress("EG_nosuchegress").await.unwrap_err();
    assert!(matches!(stopped, LiveKitError::NotFound(_)), "{stopped:?}");
}

#[tokio::test]
async fn a_wrong_secret_is_refused_not_down() {
    let (fake, _) = livekit().await;
    let wrong = LiveKit::new(&meet_config(&fake.url(), "not-the-secret-0123456789abcdef")).unwrap();
    let refused = wrong
        .create_room(&NewRoom {
            name: "bhm-abc-xyz",
            ..NewRoom::default()
        })
        .await
        .unwrap_err();
    match &refused {
        LiveKitError::Refused { code, .. } => assert_eq!(code, "unauthenticated"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!refused.is_unavailable());
    assert_eq!(refused.http_status(), 502);
    assert!(fake.rooms().is_empty(), "nothing made");

    // The same when LiveKit's secret was rotated under us.
    let (fake, client) = livekit().await;
    fake.set_fault(Fault::RejectCredentials);
    let rotated = client.list_rooms(&[]).await.unwrap_err();
    assert!(
        matches!(rotated, LiveKitError::Refused { .. }),
        "{rotated:?}"
    );
}

#[tokio::test]
async fn livekit_down_is_unavailable_and_comes_back() {
    let (fake, client) = livekit().await;
    fake.stop().await;
    let down = client.list_rooms(&[]).await.unwrap_err();
    assert!(matches!(down, LiveKitError::Down(_)), "{down:?}");
    assert!(down.is_unavailable());
    assert_eq!(down.http_status(), 503);

    fake.restart().await;
    assert!(client.list_rooms(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_gateway_in_front_of_a_broken_livekit_is_not_a_refusal() {
    let (fake, client) = livekit().await;
    fake.set_fault(Fault::ServerError);
    let broken = client.list_rooms(&[]).await.unwrap_err();
    // HTTP 500 without a Twirp body: LiveKit answered, but not as LiveKit.
    assert!(
        matches!(broken, LiveKitError::BadAnswer { .. }),
        "{broken:?}"
    );
    assert_eq!(broken.http_status(), 502);
}

#[tokio::test]
async fn a_hanging_livekit_times_out_within_the_configured_second() {
    let (fake, client) = livekit().await;
    fake.set_fault(Fault::Hang(Duration::from_secs(30)));
    let started = Instant::now();
    let hung = client
        .create_room(&NewRoom {
            name: "bhm-slow",
            ..NewRoom::default()
        })
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(hung, LiveKitError::TimedOut(_)), "{hung:?}");
    assert!(hung.is_unavailable());
    assert!(waited < Duration::from_secs(5), "gave up after {waited:?}");
}

#[tokio::test]
async fn each_call_carries_exactly_the_grants_it_needs() {
    let (fake, client) = livekit().await;
    client
        .create_room(&NewRoom {
            name: "bhm-grants",
            ..NewRoom::default()
        })
        .await
        .unwrap();
    client.list_rooms(&[]).await.unwrap();
    client.list_participants("bhm-grants").await.unwrap();
    client.list_egress("bhm-grants", false).await.unwrap();
    client.delete_room("bhm-grants").await.unwrap();
    assert_eq!(
        fake.grants_seen(),
        [
            (
                "RoomService/CreateRoom".to_owned(),
                json!({"roomCreate": true})
            ),
            (
                "RoomService/ListRooms".to_owned(),
                json!({"roomList": true})
            ),
            (
                "RoomService/ListParticipants".to_owned(),
                json!({"roomAdmin": true, "room": "bhm-grants"})
            ),
            ("Egress/ListEgress".to_owned(), json!({"roomRecord": true})),
            (
                "RoomService/DeleteRoom".to_owned(),
                json!({"roomCreate": true})
            ),
        ]
    );
    assert_eq!(fake.calls("RoomService/CreateRoom"), 1);
    assert_eq!(fake.calls("Egress/ListEgress"), 1);
}
