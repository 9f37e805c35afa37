//! The OpenAPI document describes every calendar endpoint while the calendar is on.

use serde_json::Value;

use super::CalendarApp;
use crate::support::Backend;

const ENDPOINTS: [(&str, &str); 6] = [
    ("/api/v1/calendar/calendars", "get"),
    ("/api/v1/calendar/events", "get"),
    ("/api/v1/calendar/events", "post"),
    ("/api/v1/calendar/events/{event_id}", "get"),
    ("/api/v1/calendar/events/{event_id}", "put"),
    ("/api/v1/calendar/events/{event_id}", "delete"),
];

#[tokio::test]
async fn every_calendar_endpoint_is_in_the_openapi_document() {
    let Some(c) = CalendarApp::start(Backend::Sqlite).await else {
        return;
    };
    let doc: Value = reqwest::get(c.api.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method) in ENDPOINTS {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert_eq!(
            operation["security"][0]["bearer"][0], "calendar",
            "{method} {path}"
        );
    }
    for schema in ["EventBody", "EventRequest", "EventList", "CalendarList"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    // The node without [calendar] has no such routes, and says so.
    let other: Value = reqwest::get(c.sso.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(other["paths"]["/api/v1/calendar/events"].is_null());
}
