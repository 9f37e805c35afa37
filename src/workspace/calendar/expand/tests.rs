use chrono::{DateTime, Utc};

use super::*;
use crate::workspace::calendar::ical::{parse, ObjectEvents};

fn object(vevents: &str) -> ObjectEvents {
    let text = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{vevents}END:VCALENDAR\r\n"
    );
    ObjectEvents::of(&parse(&text).unwrap())
}

fn range(start: &str, end: &str) -> Range {
    Range {
        start: start.parse::<DateTime<Utc>>().unwrap(),
        end: end.parse::<DateTime<Utc>>().unwrap(),
    }
}

fn starts(object: &ObjectEvents, range: Range) -> Vec<String> {
    let (found, _) = occurrences(object, range, 100);
    let mut starts: Vec<_> = found
        .iter()
        .map(|o| o.start.utc().format("%Y-%m-%dT%H:%MZ").to_string())
        .collect();
    starts.sort();
    starts
}

const WEEKLY_BERLIN: &str = "BEGIN:VEVENT\r\nUID:w\r\nDTSTAMP:20250101T000000Z\r\n\
    DTSTART;TZID=Europe/Berlin:20250310T090000\r\nDTEND;TZID=Europe/Berlin:20250310T100000\r\n\
    RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Sync\r\nEND:VEVENT\r\n";

#[test]
fn a_weekly_event_keeps_its_wall_clock_time_across_a_change_of_offset() {
    let o = object(WEEKLY_BERLIN);
    // Berlin moves to +02:00 on 30 March: 09:00 is 08:00Z before and 07:00Z after.
    assert_eq!(
        starts(&o, range("2025-03-01T00:00:00Z", "2025-05-01T00:00:00Z")),
        [
            "2025-03-10T08:00Z",
            "2025-03-17T08:00Z",
            "2025-03-24T08:00Z",
            "2025-03-31T07:00Z"
        ]
    );
}

#[test]
fn the_range_bounds_the_expansion_and_an_ongoing_occurrence_counts() {
    let o = object(WEEKLY_BERLIN);
    assert_eq!(
        starts(&o, range("2025-03-17T08:30:00Z", "2025-03-24T08:00:00Z")),
        ["2025-03-17T08:00Z"]
    );
    assert!(starts(&o, range("2025-04-01T00:00:00Z", "2026-01-01T00:00:00Z")).is_empty());
}

#[test]
fn exdates_and_overrides_replace_their_occurrences() {
    let o = object(
        "BEGIN:VEVENT\r\nUID:d\r\nDTSTAMP:20250101T000000Z\r\n\
         DTSTART:20251201T090000Z\r\nDTEND:20251201T093000Z\r\nRRULE:FREQ=DAILY;COUNT=5\r\n\
         EXDATE:20251202T090000Z\r\nSUMMARY:Stand-up\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:d\r\nDTSTAMP:20250101T000000Z\r\nRECURRENCE-ID:20251204T090000Z\r\n\
         DTSTART:20251204T150000Z\r\nDTEND:20251204T153000Z\r\nSUMMARY:Stand-up (late)\r\n\
         END:VEVENT\r\n",
    );
    let r = range("2025-12-01T00:00:00Z", "2025-12-31T00:00:00Z");
    assert_eq!(
        starts(&o, r),
        [
            "2025-12-01T09:00Z",
            "2025-12-03T09:00Z",
            "2025-12-04T15:00Z",
            "2025-12-05T09:00Z"
        ]
    );
    let (found, truncated) = occurrences(&o, r, 100);
    assert!(!truncated);
    let moved = found
        .iter()
        .find(|f| f.event.title == "Stand-up (late)")
        .unwrap();
    assert_eq!(
        moved.recurrence_id.as_ref().unwrap().utc().to_rfc3339(),
        "2025-12-04T09:00:00+00:00"
    );
}

#[test]
fn all_day_series_stay_dates_and_until_in_utc_is_honoured() {
    let o = object(
        "BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20250101T000000Z\r\nDTSTART;VALUE=DATE:20251224\r\n\
         DTEND;VALUE=DATE:20251225\r\nRRULE:FREQ=YEARLY;UNTIL=20271224\r\nSUMMARY:Eve\r\n\
         END:VEVENT\r\n",
    );
    let (found, _) = occurrences(
        &o,
        range("2025-01-01T00:00:00Z", "2030-01-01T00:00:00Z"),
        100,
    );
    let days: Vec<_> = found
        .iter()
        .map(|f| {
            (
                f.start.is_date(),
                crate::workspace::calendar::ical::read::api_time(&f.end),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            (true, "2025-12-25".to_owned()),
            (true, "2026-12-25".to_owned()),
            (true, "2027-12-25".to_owned())
        ]
    );
    let kolkata = object(
        "BEGIN:VEVENT\r\nUID:k\r\nDTSTAMP:20250101T000000Z\r\n\
         DTSTART;TZID=Asia/Kolkata:20251201T090000\r\nDTEND;TZID=Asia/Kolkata:20251201T100000\r\n\
         RRULE:FREQ=DAILY;UNTIL=20251203T033000Z\r\nSUMMARY:K\r\nEND:VEVENT\r\n",
    );
    assert_eq!(
        starts(
            &kolkata,
            range("2025-11-01T00:00:00Z", "2026-01-01T00:00:00Z")
        ),
        [
            "2025-12-01T03:30Z",
            "2025-12-02T03:30Z",
            "2025-12-03T03:30Z"
        ]
    );
}

#[test]
fn an_endless_series_is_cut_at_the_limit_and_says_so() {
    let o = object(
        "BEGIN:VEVENT\r\nUID:e\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250101T090000Z\r\n\
         DTEND:20250101T091500Z\r\nRRULE:FREQ=DAILY\r\nSUMMARY:E\r\nEND:VEVENT\r\n",
    );
    let (found, truncated) = occurrences(
        &o,
        range("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        10,
    );
    assert_eq!(found.len(), 10);
    assert!(truncated);
}
