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
    let listed = occurrences(object, range, 100, &mut Budget::new(Budget::LISTING));
    let mut starts: Vec<_> = listed
        .occurrences
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
    let listed = occurrences(&o, r, 100, &mut Budget::new(Budget::LISTING));
    assert!(!listed.truncated());
    let moved = listed
        .occurrences
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
    let listed = occurrences(
        &o,
        range("2025-01-01T00:00:00Z", "2030-01-01T00:00:00Z"),
        100,
        &mut Budget::new(Budget::LISTING),
    );
    let days: Vec<_> = listed
        .occurrences
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
    let listed = occurrences(
        &o,
        range("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        10,
        &mut Budget::new(Budget::LISTING),
    );
    assert_eq!(listed.occurrences.len(), 10);
    assert!(listed.truncated());
}

fn every(rule: &str, dtstart: &str) -> ObjectEvents {
    object(&format!(
        "BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20250101T000000Z\r\nDTSTART{dtstart}\r\n\
         DURATION:PT1S\r\nRRULE:{rule}\r\nSUMMARY:S\r\nEND:VEVENT\r\n"
    ))
}

/// The starts listed with `limit`, whether the listing says it is cut, and the dates spent.
fn listed_with(o: &ObjectEvents, r: Range, limit: usize) -> (Vec<String>, bool, usize) {
    let mut budget = Budget::new(Budget::LISTING);
    let listed = occurrences(o, r, limit, &mut budget);
    let starts = listed
        .occurrences
        .iter()
        .map(|o| o.start.utc().format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect();
    (starts, listed.truncated(), Budget::LISTING - budget.left)
}

#[test]
fn a_series_every_second_since_1900_lists_a_day_in_2025_for_little_work() {
    let day = range("2025-12-01T00:00:00Z", "2025-12-02T00:00:00Z");
    let (starts, truncated, spent) =
        listed_with(&every("FREQ=SECONDLY", ":19000101T000000Z"), day, 5);
    assert_eq!(
        starts,
        [
            "2025-12-01T00:00:00Z",
            "2025-12-01T00:00:01Z",
            "2025-12-01T00:00:02Z",
            "2025-12-01T00:00:03Z",
            "2025-12-01T00:00:04Z"
        ]
    );
    assert!(truncated);
    assert!(spent <= 10, "{spent} dates generated");
    // Every 7 minutes from 00:03:30 on 1 March 2015: the phase is kept (2025-12-01T00:00Z is
    // 5,656,316.5 minutes later: 5.5 minutes short of a multiple of 7).
    let (starts, truncated, spent) = listed_with(
        &every("FREQ=MINUTELY;INTERVAL=7", ":20150301T000330Z"),
        day,
        3,
    );
    assert_eq!(
        starts,
        [
            "2025-12-01T00:05:30Z",
            "2025-12-01T00:12:30Z",
            "2025-12-01T00:19:30Z"
        ]
    );
    assert!(truncated);
    assert!(spent <= 10, "{spent} dates generated");
    // In a zone, a day of slack before the range: still bounded by that day.
    let (starts, _, spent) = listed_with(
        &every(
            "FREQ=SECONDLY;BYHOUR=9;BYMINUTE=0",
            ";TZID=Europe/Berlin:19000101T000000",
        ),
        day,
        2,
    );
    assert_eq!(starts, ["2025-12-01T08:00:00Z", "2025-12-01T08:00:01Z"]);
    assert!(spent <= 200, "{spent} dates generated");
}

#[test]
fn a_series_beyond_the_budget_is_cut_short_and_says_so() {
    // A COUNT counts from the start: no moving it; the budget stops it instead.
    let o = every("FREQ=SECONDLY;COUNT=4000000000", ":20000101T000000Z");
    let mut budget = Budget::new(1000);
    let listed = occurrences(
        &o,
        range("2025-12-01T00:00:00Z", "2025-12-02T00:00:00Z"),
        10,
        &mut budget,
    );
    assert!(listed.occurrences.is_empty());
    assert!(listed.exhausted && listed.truncated());
    assert_eq!(budget.left, 0);
}

#[test]
fn a_series_expanded_from_near_the_range_has_the_dates_it_has_from_its_start() {
    let r = range("2025-01-20T00:00:00Z", "2025-04-15T00:00:00Z");
    for (rule, start) in [
        ("FREQ=YEARLY", "19900131T093000Z"),
        (
            "FREQ=YEARLY;INTERVAL=5;BYMONTH=3;BYDAY=-1SU",
            "19900131T093000Z",
        ),
        ("FREQ=YEARLY;BYWEEKNO=10", "19900131T093000Z"),
        ("FREQ=MONTHLY", "19900131T093000Z"),
        ("FREQ=MONTHLY;INTERVAL=5", "19900131T093000Z"),
        (
            "FREQ=MONTHLY;INTERVAL=2;BYDAY=2TU;BYSETPOS=1",
            "19900131T093000Z",
        ),
        ("FREQ=WEEKLY;INTERVAL=3", "19900131T093000Z"),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR;WKST=SU",
            "19900131T093000Z",
        ),
        ("FREQ=DAILY;INTERVAL=11", "19900131T093000Z"),
        ("FREQ=DAILY;UNTIL=20250301T000000Z", "19900131T093000Z"),
        (
            "FREQ=HOURLY;INTERVAL=5;BYHOUR=7,8,9,10,11",
            "20230131T093000Z",
        ),
        ("FREQ=HOURLY;INTERVAL=13", "20230131T093000Z"),
        // (Not with BYHOUR: `rrule` itself loses the phase skipping hours by the minute.)
        ("FREQ=MINUTELY;INTERVAL=97", "20241031T093017Z"),
    ] {
        let o = every(rule, &format!(":{start}"));
        let (listed, _, _) = listed_with(&o, r, 10_000);
        // The same rule expanded by `rrule` from the series' start.
        let base = chrono::NaiveDateTime::parse_from_str(start, "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc()
            .with_timezone(&rrule::Tz::UTC);
        let full: Vec<String> = format!("DTSTART:{start}\nRRULE:{rule}")
            .parse::<rrule::RRuleSet>()
            .unwrap()
            .after(r.start.with_timezone(&rrule::Tz::UTC))
            .before(r.end.with_timezone(&rrule::Tz::UTC))
            .all(u16::MAX)
            .dates
            .into_iter()
            .filter(|t| *t >= base)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .collect();
        assert!(!full.is_empty(), "{rule}");
        assert_eq!(listed, full, "{rule}");
    }
}

#[test]
fn a_rule_that_does_not_parse_lists_the_first_occurrence() {
    let o = every("FREQ=FORTNIGHTLY", ":20251201T090000Z");
    let (starts, truncated, _) = listed_with(
        &o,
        range("2025-12-01T00:00:00Z", "2025-12-31T00:00:00Z"),
        10,
    );
    assert_eq!(starts, ["2025-12-01T09:00:00Z"]);
    assert!(!truncated);
}

#[test]
fn a_cut_listing_has_the_first_occurrences_of_the_range() {
    // Hourly, and events that last two days: the first ten that meet the range, in order,
    // overrides among them.
    let o = object(
        "BEGIN:VEVENT\r\nUID:h\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20251101T003000Z\r\n\
         DTEND:20251103T003000Z\r\nRRULE:FREQ=HOURLY\r\nSUMMARY:H\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:h\r\nDTSTAMP:20250101T000000Z\r\nRECURRENCE-ID:20251130T013000Z\r\n\
         DTSTART:20251201T054500Z\r\nDTEND:20251201T060000Z\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n",
    );
    let r = range("2025-12-01T00:00:00Z", "2025-12-02T00:00:00Z");
    let mut budget = Budget::new(Budget::LISTING);
    let listed = occurrences(&o, r, 10, &mut budget);
    let starts: Vec<_> = listed
        .occurrences
        .iter()
        .map(|o| o.start.utc().format("%d %H:%M").to_string())
        .collect();
    // Those under way at midnight first: from 00:30 on 29 November (01:30 on the 30th moved).
    assert_eq!(
        starts,
        [
            "29 00:30", "29 01:30", "29 02:30", "29 03:30", "29 04:30", "29 05:30", "29 06:30",
            "29 07:30", "29 08:30", "29 09:30"
        ]
    );
    assert_eq!(
        listed.cut.map(|c| c.to_rfc3339()).as_deref(),
        Some("2025-11-29T10:30:00+00:00")
    );
    assert!(listed.truncated());
    let (starts, _, _) = listed_with(
        &o,
        range("2025-12-02T23:00:00Z", "2025-12-03T00:00:00Z"),
        100,
    );
    assert_eq!(
        starts.first().map(String::as_str),
        Some("2025-11-30T23:30:00Z")
    );
    assert!(!starts.contains(&"2025-11-30T01:30:00Z".to_owned()));
}
