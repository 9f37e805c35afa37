//! Events made, read, listed, changed and deleted through the API, as they land on the CalDAV
//! server; refusals change nothing there.

use serde_json::{json, Value};

use super::{CalendarApp, EVENTS};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(an_event_is_created_read_listed_changed_and_deleted);
on_both_backends!(an_all_day_event_is_dates_with_the_day_after_as_its_end);
on_both_backends!(a_change_on_a_stale_etag_is_refused_and_overwrites_nothing);
on_both_backends!(bad_input_is_named_and_writes_nothing);
on_both_backends!(what_cannot_be_recorded_after_the_caldav_write_is_taken_back);

async fn an_event_is_created_read_listed_changed_and_deleted(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    let event = c
        .create(
            &c.alice,
            json!({
                "title": "Design review; part 1, \"final\"",
                "start": "2025-12-02T10:00:00Z",
                "end": "2025-12-02T11:00:00Z",
                "location": "Room 4",
                "description": "Agenda:\n1. the plan\n2. the rest",
            }),
        )
        .await;
    let id = event["event_id"].as_str().unwrap().to_owned();
    assert_eq!(event["title"], "Design review; part 1, \"final\"");
    assert_eq!(event["start"], "2025-12-02T10:00:00Z");
    assert_eq!(event["end"], "2025-12-02T11:00:00Z");
    assert_eq!(event["all_day"], false);
    assert_eq!(event["timezone"], "UTC");
    assert_eq!(event["calendar"], "personal");
    assert_eq!(event["description"], "Agenda:\n1. the plan\n2. the rest");
    let etag = event["etag"].as_str().expect("an etag").to_owned();
    let uid = event["uid"].as_str().unwrap().to_owned();
    // On the server: one object, named after its UID, escaped as RFC 5545 §3.3.11 says.
    let stored = c.stored("alice");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, format!("{uid}.ics"));
    assert!(
        stored[0]
            .1
            .contains(r#"SUMMARY:Design review\; part 1\, "final""#),
        "{}",
        stored[0].1
    );

    let (status, read) = c
        .call(&c.alice, "GET", &format!("{EVENTS}/{id}"), None)
        .await;
    assert_eq!(status, 200, "{read:#}");
    assert_eq!(read["etag"], etag.as_str());
    assert_eq!(read["location"], "Room 4");

    let listed = c.list(&c.alice, "2025-12-01", "2025-12-03").await;
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["event_id"], id.as_str());
    assert!(c
        .list(&c.alice, "2025-12-03", "2025-12-31")
        .await
        .is_empty());

    // A change without If-Match is refused: it could overwrite someone else's.
    let change = json!({
        "title": "Design review",
        "start": "2025-12-02T12:00:00Z",
        "end": "2025-12-02T13:00:00Z",
    });
    let (status, refused) = c
        .call(&c.alice, "PUT", &format!("{EVENTS}/{id}"), Some(&change))
        .await;
    assert_eq!(status, 428, "{refused:#}");
    let (status, changed) = c
        .call_on(
            &c.api.base,
            &c.alice,
            "PUT",
            &format!("{EVENTS}/{id}"),
            Some(&change),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(status, 200, "{changed:#}");
    assert_eq!(changed["start"], "2025-12-02T12:00:00Z");
    assert_eq!(
        changed["location"],
        Value::Null,
        "a field left out is cleared"
    );
    assert_eq!(changed["uid"], uid.as_str());
    let new_etag = changed["etag"].as_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert!(c.stored("alice")[0].1.contains("SEQUENCE:1"));

    // Deleting on the old etag fails; on the new one, the event is gone.
    let (status, _) = c
        .call_on(
            &c.api.base,
            &c.alice,
            "DELETE",
            &format!("{EVENTS}/{id}"),
            None,
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(status, 412);
    assert_eq!(c.stored("alice").len(), 1);
    let (status, _) = c
        .call_on(
            &c.api.base,
            &c.alice,
            "DELETE",
            &format!("{EVENTS}/{id}"),
            None,
            &[("if-match", &new_etag)],
        )
        .await;
    assert_eq!(status, 204);
    assert!(c.stored("alice").is_empty());
    let (status, gone) = c
        .call(&c.alice, "GET", &format!("{EVENTS}/{id}"), None)
        .await;
    assert_eq!(status, 404, "{gone:#}");
    let (status, _) = c
        .call(&c.alice, "DELETE", &format!("{EVENTS}/{id}"), None)
        .await;
    assert_eq!(status, 404);
}

async fn an_all_day_event_is_dates_with_the_day_after_as_its_end(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    let event = c
        .create(
            &c.alice,
            json!({"title": "Holidays", "start": "2025-12-24", "end": "2025-12-27"}),
        )
        .await;
    assert_eq!(event["all_day"], true);
    assert_eq!(event["start"], "2025-12-24");
    assert_eq!(event["end"], "2025-12-27");
    assert_eq!(event["timezone"], Value::Null);
    let stored = &c.stored("alice")[0].1;
    assert!(stored.contains("DTSTART;VALUE=DATE:20251224"), "{stored}");
    assert!(stored.contains("DTEND;VALUE=DATE:20251227"), "{stored}");
    // Listed in a range that holds one of its days, and not in one just after it.
    assert_eq!(c.list(&c.alice, "2025-12-26", "2025-12-27").await.len(), 1);
    assert!(c
        .list(&c.alice, "2025-12-27", "2025-12-28")
        .await
        .is_empty());
}

async fn a_change_on_a_stale_etag_is_refused_and_overwrites_nothing(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    let event = c
        .create(
            &c.alice,
            json!({"title": "Planning", "start": "2025-12-02T10:00:00Z", "end": "2025-12-02T11:00:00Z"}),
        )
        .await;
    let id = event["event_id"].as_str().unwrap();
    let etag = event["etag"].as_str().unwrap();
    // Two clients read the same version; the first one's change wins.
    let first = json!({"title": "Planning (moved)", "start": "2025-12-03T10:00:00Z", "end": "2025-12-03T11:00:00Z"});
    let second = json!({"title": "Planning (renamed)", "start": "2025-12-02T10:00:00Z", "end": "2025-12-02T11:00:00Z"});
    let path = format!("{EVENTS}/{id}");
    let (status, _) = c
        .call_on(
            &c.api.base,
            &c.alice,
            "PUT",
            &path,
            Some(&first),
            &[("if-match", etag)],
        )
        .await;
    assert_eq!(status, 200);
    let before = c.stored("alice");
    let (status, refused) = c
        .call_on(
            &c.api.base,
            &c.alice,
            "PUT",
            &path,
            Some(&second),
            &[("if-match", etag)],
        )
        .await;
    assert_eq!(status, 412, "{refused:#}");
    assert_eq!(refused["error"], "precondition_failed");
    assert_eq!(
        c.stored("alice"),
        before,
        "a stale change overwrote the event"
    );
    let (_, read) = c.call(&c.alice, "GET", &path, None).await;
    assert_eq!(read["title"], "Planning (moved)");
    // `If-Match: *` (RFC 9110 §13.1.1) matches whatever version is there, for a change and a
    // deletion alike.
    let (status, any) = c
        .call_on(
            &c.api.base,
            &c.alice,
            "PUT",
            &path,
            Some(&second),
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(status, 200, "{any:#}");
    assert_eq!(any["title"], "Planning (renamed)");
    let (status, gone) = c
        .call_on(
            &c.api.base,
            &c.alice,
            "DELETE",
            &path,
            None,
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(status, 204, "{gone:#}");
    assert!(c.stored("alice").is_empty());
}

async fn bad_input_is_named_and_writes_nothing(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    let base =
        json!({"title": "Ok", "start": "2025-12-02T10:00:00Z", "end": "2025-12-02T11:00:00Z"});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    for (body, field) in [
        (with("title", json!("  ")), "title"),
        (with("title", json!("x".repeat(501))), "title"),
        (
            with("title", json!("a\r\nATTENDEE:mailto:x@y.example")),
            "title",
        ),
        (with("end", json!("2025-12-02T09:00:00Z")), "end"),
        (with("start", json!("next tuesday")), "start"),
        (with("start", json!("2025-12-02T10:00")), "start"),
        (with("timezone", json!("Mars/Olympus")), "timezone"),
        (with("recurrence", json!("FREQ=SOMETIMES")), "recurrence"),
        (with("recurrence", json!("FREQ=DAILY\r\nX:1")), "recurrence"),
        (
            with("attendees", json!(["bob@acme.example", "not an address"])),
            "attendees[1]",
        ),
        (with("calendar", json!("../bob")), "calendar"),
        (with("calendar", json!("no-such-calendar")), "calendar"),
        (with("all_day", json!(true)), "start"),
        (with("location", json!("a\u{0}b")), "location"),
        (with("title", json!(5)), "title"),
    ] {
        let (status, error) = c.call(&c.alice, "POST", EVENTS, Some(&body)).await;
        assert_eq!(status, 422, "{body}: {error:#}");
        assert_eq!(error["error"], "invalid_field", "{body}");
        assert_eq!(error["field"], field, "{body}: {error:#}");
    }
    let (status, error) = c
        .call(&c.alice, "POST", EVENTS, Some(&json!({"title": "x", "start": "2025-12-02T10:00:00Z", "end": "2025-12-02T11:00:00Z", "colour": "red"})))
        .await;
    assert_eq!(status, 422, "{error:#}");
    assert!(c.stored("alice").is_empty(), "a refused event was written");

    // A listing's range is checked too.
    for (query, field) in [
        ("start=2025-12-01", "end"),
        ("start=2025-12-10&end=2025-12-01", "end"),
        ("start=2025-01-01&end=2026-06-01", "end"),
        ("start=yesterday&end=2025-12-01", "start"),
        (
            "start=2025-12-01&end=2025-12-02&calendar=../../x",
            "calendar",
        ),
    ] {
        let (status, error) = c
            .call(&c.alice, "GET", &format!("{EVENTS}?{query}"), None)
            .await;
        assert_eq!(status, 422, "{query}: {error:#}");
        assert_eq!(error["field"], field, "{query}");
    }
    let (status, _) = c
        .call(
            &c.alice,
            "GET",
            &format!("{EVENTS}?start=2025-12-01&end=2025-12-02&calendar=nope"),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

/// Makes the database refuse the calendar's records (or take them again), as a database that
/// fails after the CalDAV write would.
async fn refuse_records(c: &CalendarApp, backend: Backend, refuse: bool) {
    let statements: &[&str] = match (backend, refuse) {
        (Backend::Sqlite, true) => &[
            "CREATE TRIGGER refuse_records BEFORE INSERT ON calendar_events \
              BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ],
        (Backend::Sqlite, false) => &["DROP TRIGGER refuse_records"],
        (Backend::Postgres, true) => &[
            "CREATE FUNCTION refuse_records() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
            "CREATE TRIGGER refuse_records BEFORE INSERT ON calendar_events \
             FOR EACH ROW EXECUTE FUNCTION refuse_records()",
        ],
        (Backend::Postgres, false) => &[
            "DROP TRIGGER refuse_records ON calendar_events",
            "DROP FUNCTION refuse_records()",
        ],
    };
    for statement in statements {
        sqlx::query(statement)
            .execute(c.api.state.db.pool())
            .await
            .unwrap();
    }
}

async fn invitations_queued(c: &CalendarApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'calendar_invitation'")
        .fetch_one(c.api.state.db.pool())
        .await
        .unwrap()
}

async fn what_cannot_be_recorded_after_the_caldav_write_is_taken_back(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    let body = json!({"title": "Planning", "start": "2025-12-02T10:00:00Z",
                      "end": "2025-12-02T11:00:00Z", "attendees": ["bob@acme.example"]});
    refuse_records(&c, backend, true).await;
    let (status, error) = c.call(&c.alice, "POST", EVENTS, Some(&body)).await;
    assert_eq!(status, 500, "{error:#}");
    // Not written: a retry makes it once, with its invitation.
    assert!(c.stored("alice").is_empty());
    refuse_records(&c, backend, false).await;
    let event = c.create(&c.alice, body).await;
    assert_eq!(c.stored("alice").len(), 1);
    assert_eq!(invitations_queued(&c).await, 1);

    let id = format!("{EVENTS}/{}", event["event_id"].as_str().unwrap());
    refuse_records(&c, backend, true).await;
    let (status, error) = c
        .call_on(
            &c.api.base,
            &c.alice,
            "PUT",
            &id,
            Some(
                &json!({"title": "Planning (moved)", "start": "2025-12-02T12:00:00Z",
                         "end": "2025-12-02T13:00:00Z", "attendees": ["bob@acme.example"]}),
            ),
            &[("if-match", event["etag"].as_str().unwrap())],
        )
        .await;
    assert_eq!(status, 500, "{error:#}");
    let (status, error) = c.call(&c.alice, "DELETE", &id, None).await;
    assert_eq!(status, 500, "{error:#}");
    // Neither changed nor deleted: the event is as it was, with nothing queued for it.
    let (status, now) = c.call(&c.alice, "GET", &id, None).await;
    assert_eq!(status, 200, "{now:#}");
    assert_eq!(now["title"], "Planning");
    assert_eq!(now["start"], "2025-12-02T10:00:00Z");
    assert_eq!(invitations_queued(&c).await, 1);
    refuse_records(&c, backend, false).await;
    let (status, _) = c.call(&c.alice, "DELETE", &id, None).await;
    assert_eq!(status, 204);
    assert!(c.stored("alice").is_empty());
    assert_eq!(invitations_queued(&c).await, 2);
}
