//! Recurring events: expanded into the occurrences of the range asked for, with the series'
//! exceptions (EXDATE) left out and overridden occurrences (RECURRENCE-ID) in their place.

use serde_json::{json, Value};

use super::{CalendarApp, EVENTS};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(a_daily_series_is_expanded_within_the_range_only);
on_both_backends!(exceptions_and_an_overridden_occurrence_written_elsewhere_are_honoured);

fn starts(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["start"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_daily_series_is_expanded_within_the_range_only(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    let event = c
        .create(
            &c.alice,
            json!({"title": "Stand-up", "start": "2025-12-01T09:00", "end": "2025-12-01T09:15",
                   "timezone": "Asia/Kolkata", "recurrence": "FREQ=DAILY;COUNT=10"}),
        )
        .await;
    assert_eq!(event["recurrence"], "FREQ=DAILY;COUNT=10");
    // A date as `end` is included: 3 to 5 December.
    let week = c.list(&c.alice, "2025-12-03", "2025-12-05").await;
    assert_eq!(
        starts(&week),
        [
            "2025-12-03T03:30:00Z",
            "2025-12-04T03:30:00Z",
            "2025-12-05T03:30:00Z"
        ]
    );
    for occurrence in &week {
        assert_eq!(occurrence["event_id"], event["event_id"]);
        assert_eq!(occurrence["recurrence"], "FREQ=DAILY;COUNT=10");
        assert_eq!(occurrence["recurrence_id"], occurrence["start"]);
    }
    assert_eq!(c.list(&c.alice, "2025-11-01", "2026-01-01").await.len(), 10);
    assert!(c
        .list(&c.alice, "2025-12-11", "2025-12-31")
        .await
        .is_empty());
    // An occurrence under way at the start of the range is in it.
    let ongoing = c
        .list(&c.alice, "2025-12-02T03:35:00Z", "2025-12-02T04:00:00Z")
        .await;
    assert_eq!(starts(&ongoing), ["2025-12-02T03:30:00Z"]);
}

/// A weekly series as a phone's calendar writes it: one week cancelled (EXDATE), one moved to
/// the afternoon with a new title (an overriding VEVENT), in Europe/Berlin.
const SERIES: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//iOS 17//EN\r\n\
BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20251101T000000Z\r\n\
DTSTART;TZID=Europe/Berlin:20251103T100000\r\nDTEND;TZID=Europe/Berlin:20251103T110000\r\n\
RRULE:FREQ=WEEKLY;UNTIL=20251201T090000Z\r\nEXDATE;TZID=Europe/Berlin:20251110T100000\r\n\
SUMMARY:Weekly\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20251101T000000Z\r\n\
RECURRENCE-ID;TZID=Europe/Berlin:20251117T100000\r\n\
DTSTART;TZID=Europe/Berlin:20251117T150000\r\nDTEND;TZID=Europe/Berlin:20251117T160000\r\n\
SUMMARY:Weekly (afternoon)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

async fn exceptions_and_an_overridden_occurrence_written_elsewhere_are_honoured(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    assert_eq!(
        c.put_directly(&c.alice, "alice", "series-1.ics", SERIES)
            .await,
        201
    );
    let november = c.list(&c.alice, "2025-11-01", "2025-12-31").await;
    let seen: Vec<(String, String, String)> = november
        .iter()
        .map(|e| {
            (
                e["start"].as_str().unwrap().to_owned(),
                e["title"].as_str().unwrap().to_owned(),
                e["recurrence_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "2025-11-03T09:00:00Z".into(),
                "Weekly".into(),
                "2025-11-03T09:00:00Z".into()
            ),
            (
                "2025-11-17T14:00:00Z".into(),
                "Weekly (afternoon)".into(),
                "2025-11-17T09:00:00Z".into()
            ),
            (
                "2025-11-24T09:00:00Z".into(),
                "Weekly".into(),
                "2025-11-24T09:00:00Z".into()
            ),
            // UNTIL is 09:00Z on 1 December: 10:00 in Berlin, the last occurrence.
            (
                "2025-12-01T09:00:00Z".into(),
                "Weekly".into(),
                "2025-12-01T09:00:00Z".into()
            ),
        ],
        "{november:#?}"
    );
    // The moved occurrence is found where it now is, not where it was.
    let afternoon = c
        .list(&c.alice, "2025-11-17T12:00:00Z", "2025-11-17T18:00:00Z")
        .await;
    assert_eq!(starts(&afternoon), ["2025-11-17T14:00:00Z"]);
    let morning = c
        .list(&c.alice, "2025-11-17T08:00:00Z", "2025-11-17T12:00:00Z")
        .await;
    assert!(morning.is_empty(), "{morning:#?}");
    // The series itself reads as its first occurrence with the rule.
    let id = november[0]["event_id"].as_str().unwrap();
    let (_, series) = c
        .call(&c.alice, "GET", &format!("{EVENTS}/{id}"), None)
        .await;
    assert_eq!(series["start"], "2025-11-03T09:00:00Z");
    assert_eq!(series["recurrence"], "FREQ=WEEKLY;UNTIL=20251201T090000Z");
}
