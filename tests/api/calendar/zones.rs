//! Time zones: an event at 09:00 Asia/Kolkata is 03:30Z; the zone is written as a TZID with a
//! VTIMEZONE that another library reads as the same zone; an event another client wrote with a
//! zone of its own definition is read by that definition.

use std::process::Command;

use serde_json::{json, Value};

use super::{CalendarApp, EVENTS};
use crate::on_both_backends;
use crate::support::{python_with_modules, Backend};

on_both_backends!(a_local_time_in_kolkata_is_listed_in_utc_with_its_zone);
on_both_backends!(an_event_written_elsewhere_with_its_own_vtimezone_is_read_right);

/// What tests/calendar/read_ics.py (Python's `icalendar`) reads in `ics`, with the offsets of
/// its VTIMEZONEs at `moments`; `None` without the package outside CI.
pub fn read_with_python(ics: &str, moments: &[&str]) -> Option<Value> {
    let python = python_with_modules("icalendar", "icalendar>=6,<7", "read calendar objects")?;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), ics).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/calendar/read_ics.py");
    let output = Command::new(python)
        .arg(script)
        .arg(file.path())
        .args(moments)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{ics}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

async fn a_local_time_in_kolkata_is_listed_in_utc_with_its_zone(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    let event = c
        .create(
            &c.alice,
            json!({"title": "Stand-up", "start": "2025-12-02T09:00", "end": "2025-12-02T09:30",
                   "timezone": "Asia/Kolkata"}),
        )
        .await;
    assert_eq!(event["start"], "2025-12-02T03:30:00Z");
    assert_eq!(event["end"], "2025-12-02T04:00:00Z");
    assert_eq!(event["timezone"], "Asia/Kolkata");
    let stored = &c.stored("alice")[0].1;
    assert!(
        stored.contains("DTSTART;TZID=Asia/Kolkata:20251202T090000"),
        "{stored}"
    );
    assert!(stored.contains("BEGIN:VTIMEZONE"), "{stored}");
    let listed = c.list(&c.alice, "2025-12-02", "2025-12-03").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["start"], "2025-12-02T03:30:00Z");
    assert_eq!(listed[0]["timezone"], "Asia/Kolkata");
    // The same instant given in RFC 3339 lands at the same local time.
    let again = c
        .create(
            &c.alice,
            json!({"title": "Stand-up 2", "start": "2025-12-03T03:30:00Z", "end": "2025-12-03T04:00:00Z",
                   "timezone": "Asia/Kolkata"}),
        )
        .await;
    assert_eq!(again["start"], "2025-12-03T03:30:00Z");

    // A zone with daylight saving time: its VTIMEZONE, read by Python's icalendar as a tzinfo,
    // gives New York's offsets in winter and summer, and 09:00 stays 09:00 in both.
    let weekly = c
        .create(
            &c.alice,
            json!({"title": "NY sync", "start": "2026-01-05T09:00", "end": "2026-01-05T10:00",
                   "timezone": "America/New_York", "recurrence": "FREQ=WEEKLY;COUNT=30"}),
        )
        .await;
    let uid = weekly["uid"].as_str().unwrap();
    let ics = c
        .stored("alice")
        .into_iter()
        .find(|(name, _)| name.starts_with(uid))
        .unwrap()
        .1;
    if let Some(read) = read_with_python(&ics, &["2026-01-15T09:00:00", "2026-07-15T09:00:00"]) {
        assert_eq!(
            read["zones"]["America/New_York"],
            json!([-18000, -14400]),
            "{read:#}"
        );
        assert_eq!(read["events"][0]["tzid"], "America/New_York");
    }
    let summer = c.list(&c.alice, "2026-07-01", "2026-07-08").await;
    assert_eq!(summer.len(), 1, "{summer:#?}");
    assert_eq!(summer[0]["start"], "2026-07-06T13:00:00Z");
    let winter = c.list(&c.alice, "2026-01-05", "2026-01-06").await;
    assert_eq!(winter[0]["start"], "2026-01-05T14:00:00Z");
}

/// An object as Outlook writes one: a zone named by Windows, defined by its own VTIMEZONE.
const OUTLOOK: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Microsoft Corporation//Outlook 16.0//EN\r\n\
BEGIN:VTIMEZONE\r\nTZID:India Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16010101T000000\r\n\
TZOFFSETFROM:+0530\r\nTZOFFSETTO:+0530\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
BEGIN:VTIMEZONE\r\nTZID:Eastern Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16010101T020000\r\n\
TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nRRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11\r\nEND:STANDARD\r\n\
BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\n\
RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nUID:outlook-1\r\nDTSTAMP:20251101T000000Z\r\n\
DTSTART;TZID=India Standard Time:20251202T090000\r\nDTEND;TZID=India Standard Time:20251202T100000\r\n\
SUMMARY:From Outlook\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

async fn an_event_written_elsewhere_with_its_own_vtimezone_is_read_right(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    let status = c
        .put_directly(&c.alice, "alice", "outlook-1.ics", OUTLOOK)
        .await;
    assert_eq!(status, 201, "{}", c.dav.log());
    let listed = c.list(&c.alice, "2025-12-01", "2025-12-31").await;
    let from_outlook: Vec<&Value> = listed
        .iter()
        .filter(|e| e["title"] == "From Outlook")
        .collect();
    assert_eq!(from_outlook.len(), 1, "{listed:#?}");
    assert_eq!(from_outlook[0]["start"], "2025-12-02T03:30:00Z");
    assert_eq!(from_outlook[0]["timezone"], "India Standard Time");
    let id = from_outlook[0]["event_id"].as_str().unwrap();
    let (status, read) = c
        .call(&c.alice, "GET", &format!("{EVENTS}/{id}"), None)
        .await;
    assert_eq!(status, 200, "{read:#}");
    assert_eq!(read["start"], "2025-12-02T03:30:00Z");
    assert_eq!(read["uid"], "outlook-1");

    // Eastern time by its rules: 09:00 is 14:00Z in December, 13:00Z in July.
    let eastern = OUTLOOK.replace("UID:outlook-1", "UID:outlook-2").replace(
        "TZID=India Standard Time:20251202",
        "TZID=Eastern Standard Time:20260701",
    );
    assert_eq!(
        c.put_directly(&c.alice, "alice", "outlook-2.ics", &eastern)
            .await,
        201
    );
    let july = c.list(&c.alice, "2026-07-01", "2026-07-02").await;
    assert_eq!(july.len(), 1, "{july:#?}");
    assert_eq!(july[0]["start"], "2026-07-01T13:00:00Z");
    assert_eq!(july[0]["timezone"], "Eastern Standard Time");
}
