//! Series repeating by the second and by the minute, as another CalDAV client may store them:
//! listed as the first occurrences of the range by start, the listing cut and saying so; the
//! API itself takes no rule repeating more often than hourly.
//!
//! That such a series from 1900 costs a listing only about what it lists is the unit tests' to
//! show (`expand`, which count the dates generated): the CalDAV server of these tests (Radicale)
//! itself walks a series from its start to the range, so the series here start weeks before.

use serde_json::{json, Value};

use super::{CalendarApp, EVENTS};
use crate::on_both_backends;
use crate::support::{Backend, TestConfig};

on_both_backends!(dense_series_list_the_first_occurrences_of_the_range);
on_both_backends!(a_rule_repeating_more_often_than_hourly_is_refused);

fn object(uid: &str, dtstart: &str, rule: Option<&str>) -> String {
    let rule = rule.map(|r| format!("RRULE:{r}\r\n")).unwrap_or_default();
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20250101T000000Z\r\nDTSTART:{dtstart}\r\nDURATION:PT5S\r\n{rule}\
         SUMMARY:{uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

async fn dense_series_list_the_first_occurrences_of_the_range(backend: Backend) {
    let Some(mut c) = CalendarApp::start(backend).await else {
        return;
    };
    let url = c.dav.url().to_owned();
    c.api = c
        .node_with(&url, |config: &mut TestConfig| {
            config.set("calendar.max_occurrences", 10);
        })
        .await;
    for (uid, dtstart, rule) in [
        // 20 s apart, on the minute's :00, :20, :40.
        (
            "seconds",
            "20251120T000000Z",
            Some("FREQ=SECONDLY;INTERVAL=20"),
        ),
        // On the minute's :30.
        ("minutes", "20251101T000030Z", Some("FREQ=MINUTELY")),
        // Later the same day: after the first ten, so not listed.
        ("lunch", "20251201T120000Z", None),
    ] {
        let ics = object(uid, dtstart, rule);
        assert_eq!(
            c.put_directly(&c.alice, "alice", &format!("{uid}.ics"), &ics)
                .await,
            201
        );
    }
    let (status, list) = c
        .call(
            &c.alice,
            "GET",
            &format!("{EVENTS}?start=2025-12-01&end=2025-12-02"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list:#}");
    let seen: Vec<(String, String)> = list["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["start"].as_str().unwrap()[11..].to_owned(),
                e["uid"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("00:00:00Z", "seconds"),
        ("00:00:20Z", "seconds"),
        ("00:00:30Z", "minutes"),
        ("00:00:40Z", "seconds"),
        ("00:01:00Z", "seconds"),
        ("00:01:20Z", "seconds"),
        ("00:01:30Z", "minutes"),
        ("00:01:40Z", "seconds"),
        ("00:02:00Z", "seconds"),
        ("00:02:20Z", "seconds"),
    ]
    .iter()
    .map(|(t, u)| ((*t).to_owned(), (*u).to_owned()))
    .collect();
    assert_eq!(seen, expected, "{list:#}");
    assert_eq!(list["truncated"], true);
    // A range from the afternoon: the lunch that began at noon is over, the series go on.
    let (_, afternoon) = c
        .call(
            &c.alice,
            "GET",
            &format!("{EVENTS}?start=2025-12-01T12:00:04Z&end=2025-12-01T12:00:31Z"),
            None,
        )
        .await;
    let seen: Vec<&str> = afternoon["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["uid"].as_str().unwrap())
        .collect();
    assert_eq!(
        seen,
        ["lunch", "seconds", "seconds", "minutes"],
        "{afternoon:#}"
    );
    assert_eq!(afternoon["truncated"], false);
}

async fn a_rule_repeating_more_often_than_hourly_is_refused(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    for rule in ["FREQ=SECONDLY", "FREQ=MINUTELY;INTERVAL=30;COUNT=4"] {
        let body = json!({"title": "Ping", "start": "1900-01-01T00:00:00Z",
                          "end": "1900-01-01T00:01:00Z", "recurrence": rule});
        let (status, error): (u16, Value) = c.call(&c.alice, "POST", EVENTS, Some(&body)).await;
        assert_eq!(status, 422, "{rule}: {error:#}");
        assert_eq!(error["field"], "recurrence", "{rule}: {error:#}");
    }
    assert!(c.stored("alice").is_empty());
    let hourly = c
        .create(
            &c.alice,
            json!({"title": "Check", "start": "2025-12-01T09:00:00Z",
                   "end": "2025-12-01T09:05:00Z", "recurrence": "FREQ=HOURLY;COUNT=3"}),
        )
        .await;
    assert_eq!(hourly["recurrence"], "FREQ=HOURLY;COUNT=3");
}
