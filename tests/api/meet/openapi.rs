//! The OpenAPI document describes every Meet endpoint while Meet is on, and none while it is off.

use serde_json::Value;

use super::MeetApp;
use crate::support::{Backend, TestApp};

const ENDPOINTS: [(&str, &str); 10] = [
    ("/api/v1/meet/rooms", "post"),
    ("/api/v1/meet/rooms", "get"),
    ("/api/v1/meet/rooms/{room_id}", "get"),
    ("/api/v1/meet/rooms/{room_id}", "patch"),
    ("/api/v1/meet/rooms/{room_id}", "delete"),
    ("/api/v1/meet/token", "post"),
    ("/api/v1/meet/rooms/{room_id}/recording/start", "post"),
    ("/api/v1/meet/rooms/{room_id}/recording/stop", "post"),
    ("/api/v1/meet/rooms/{room_id}/recordings", "get"),
    ("/api/v1/meet/webhook", "post"),
];

async fn document(url: String) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn every_meet_endpoint_is_in_the_openapi_document_while_meet_is_on() {
    let Some(m) = MeetApp::start(Backend::Sqlite).await else {
        return;
    };
    let doc = document(m.sso.url("/api/v1/openapi.json")).await;
    for (path, method) in ENDPOINTS {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(!operation["responses"].as_object().unwrap().is_empty());
        if path != "/api/v1/meet/webhook" {
            assert_eq!(
                operation["security"][0]["bearer"][0], "meet",
                "{method} {path}"
            );
        }
    }
    for schema in [
        "NewRoomBody",
        "RoomBody",
        "RoomPage",
        "JoinToken",
        "RecordingBody",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }

    let Some(off) = TestApp::builder().start_sso().await else {
        return;
    };
    let doc = document(off.url("/api/v1/openapi.json")).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(
        !paths.keys().any(|p| p.starts_with("/api/v1/meet")),
        "{:?}",
        paths.keys()
    );
}
