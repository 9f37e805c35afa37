//! A user reaches only their own calendars: another company's user (and anyone else) finds
//! nothing at an event's id, and ids that are not ours never reach CalDAV.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use super::{CalendarApp, EVENTS};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(another_companys_user_finds_nothing_on_any_endpoint);
on_both_backends!(bad_and_traversing_ids_are_not_found_and_never_reach_caldav);

async fn another_companys_user_finds_nothing_on_any_endpoint(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    let event = c
        .create(
            &c.alice,
            json!({"title": "Board meeting", "start": "2025-12-02T10:00:00Z", "end": "2025-12-02T11:00:00Z"}),
        )
        .await;
    let id = event["event_id"].as_str().unwrap();
    let etag = event["etag"].as_str().unwrap();
    let path = format!("{EVENTS}/{id}");
    let change = json!({"title": "Mine now", "start": "2025-12-02T10:00:00Z", "end": "2025-12-02T11:00:00Z"});
    let before = c.stored("alice");
    for token in [&c.eve, &c.bob] {
        let (status, body) = c.call(token, "GET", &path, None).await;
        assert_eq!(status, 404, "{body:#}");
        assert_eq!(body["error"], "not_found");
        let (status, _) = c
            .call_on(
                &c.api.base,
                token,
                "PUT",
                &path,
                Some(&change),
                &[("if-match", etag)],
            )
            .await;
        assert_eq!(status, 404);
        let (status, _) = c.call(token, "DELETE", &path, None).await;
        assert_eq!(status, 404);
        assert!(c.list(token, "2025-12-01", "2025-12-31").await.is_empty());
    }
    assert_eq!(
        c.stored("alice"),
        before,
        "someone else changed alice's event"
    );
    let (status, _) = c.call(&c.alice, "GET", &path, None).await;
    assert_eq!(status, 200);
}

async fn bad_and_traversing_ids_are_not_found_and_never_reach_caldav(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    let encode = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let change =
        json!({"title": "x", "start": "2025-12-02T10:00:00Z", "end": "2025-12-02T11:00:00Z"});
    for id in [
        encode("personal/../../bob/personal/x.ics"),
        encode("../bob/x.ics"),
        encode("personal/.."),
        encode("personal/a/b.ics"),
        encode("personal"),
        "not-an-id".to_owned(),
        "%2e%2e%2fbob".to_owned(),
        "x".repeat(700),
    ] {
        let path = format!("{EVENTS}/{id}");
        let (status, body) = c.call(&c.alice, "GET", &path, None).await;
        assert_eq!(status, 404, "{id}: {body:#}");
        let (status, _) = c
            .call_on(
                &c.api.base,
                &c.alice,
                "PUT",
                &path,
                Some(&change),
                &[("if-match", "\"x\"")],
            )
            .await;
        assert_eq!(status, 404, "{id}");
        let (status, _) = c.call(&c.alice, "DELETE", &path, None).await;
        assert_eq!(status, 404, "{id}");
    }
    let log = c.dav.log();
    assert!(
        !log.contains(".."),
        "a traversing id reached CalDAV:\n{log}"
    );
    assert!(
        !log.contains("/bob"),
        "an id reached bob's calendars:\n{log}"
    );
}
