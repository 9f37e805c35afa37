//! Company isolation: a user of another company walks every Meet endpoint and finds nothing of
//! Acme's, answered exactly as a room that does not exist is, and changes nothing.

use serde_json::json;

use super::{MeetApp, ROOMS, TOKEN};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(another_companys_rooms_answer_as_missing_ones_on_every_endpoint);

async fn another_companys_rooms_answer_as_missing_ones_on_every_endpoint(backend: Backend) {
    let Some(m) = MeetApp::start(backend).await else {
        return;
    };
    let acme = m
        .room(
            &m.alice,
            json!({"name": "Acme board", "participants": ["eve@globex.example"]}),
        )
        .await;
    let missing = "bhm-zzzzz-zzzzz-zzzzz".to_owned();
    let before = m.room_json(&acme).await;

    // Each request as Eve of Globex, for Acme's room and for a room that does not exist: the
    // same status and the same error.
    let requests = |id: &str| {
        vec![
            ("GET", format!("{ROOMS}/{id}"), None),
            (
                "PATCH",
                format!("{ROOMS}/{id}"),
                Some(json!({"name": "Mine now"})),
            ),
            ("DELETE", format!("{ROOMS}/{id}"), None),
            ("POST", TOKEN.to_owned(), Some(json!({"room_id": id}))),
            ("POST", format!("{ROOMS}/{id}/recording/start"), None),
            ("POST", format!("{ROOMS}/{id}/recording/stop"), None),
            ("GET", format!("{ROOMS}/{id}/recordings"), None),
        ]
    };
    for ((method, path, body), (_, missing_path, missing_body)) in
        requests(&acme).into_iter().zip(requests(&missing))
    {
        let (status, answer) = m.call(&m.eve, method, &path, body).await;
        let (missing_status, missing_answer) =
            m.call(&m.eve, method, &missing_path, missing_body).await;
        assert_eq!(status, 404, "{method} {path}: {answer:#}");
        assert_eq!(missing_status, 404, "{method} {missing_path}");
        assert_eq!(answer["error"], missing_answer["error"], "{method} {path}");
        assert_eq!(
            answer["error_description"], missing_answer["error_description"],
            "{method} {path}"
        );
    }
    // Invited by address or not, Eve lists none of Acme's rooms, and her own room is hers only.
    let (status, listed) = m.call(&m.eve, "GET", ROOMS, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["rooms"], json!([]));
    let globex = m.room(&m.eve, json!({"name": "Globex only"})).await;
    let (status, _) = m
        .call(&m.alice, "GET", &format!("{ROOMS}/{globex}"), None)
        .await;
    assert_eq!(status, 404);
    let (_, admin_sees) = m.call(&m.admin, "GET", ROOMS, None).await;
    assert!(!admin_sees.to_string().contains(&globex));

    // Nothing of Acme's changed, and LiveKit was never asked to end it.
    assert_eq!(m.room_json(&acme).await, before);
    assert!(m.livekit_deleted().is_empty());
}
