use chrono::NaiveDate;

use super::*;

fn kolkata() -> Option<Tz> {
    Some(chrono_tz::Asia::Kolkata)
}

#[test]
fn a_local_time_with_a_zone_stays_local_and_rfc_3339_moves_into_it() {
    let when = when("2025-12-02T09:00", "2025-12-02T10:00", None, kolkata()).unwrap();
    let When::Timed { start, zone, .. } = when else {
        panic!("{when:?}")
    };
    assert_eq!(start.to_string(), "2025-12-02 09:00:00");
    assert_eq!(zone, WriteZone::Iana(chrono_tz::Asia::Kolkata));
    let when = when_utc("2025-12-02T03:30:00Z", "2025-12-02T04:30:00Z", kolkata());
    assert_eq!(when.to_string(), "2025-12-02 09:00:00");
    let When::Timed { start, zone, .. } = super::when(
        "2025-12-02T09:00:00+05:30",
        "2025-12-02T10:00:00+05:30",
        None,
        None,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(start.to_string(), "2025-12-02 03:30:00");
    assert_eq!(zone, WriteZone::Utc);
}

fn when_utc(start: &str, end: &str, zone: Option<Tz>) -> NaiveDateTime {
    match when(start, end, None, zone).unwrap() {
        When::Timed { start, .. } => start,
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_times_name_their_field() {
    let field = |s: &str, e: &str, all_day: Option<bool>, zone: Option<Tz>| {
        when(s, e, all_day, zone).unwrap_err().field
    };
    assert_eq!(
        field("tomorrow", "2025-12-02T10:00:00Z", None, None),
        "start"
    );
    assert_eq!(
        field("2025-12-02T09:00", "2025-12-02T10:00", None, None),
        "start"
    );
    assert_eq!(
        field("2025-12-02T10:00:00Z", "2025-12-02T09:00:00Z", None, None),
        "end"
    );
    assert_eq!(
        field("2025-12-02T10:00:00Z", "2025-12-02T10:00:00Z", None, None),
        "end"
    );
    assert_eq!(field("2025-12-24", "2025-12-24", None, None), "end");
    assert_eq!(
        field("2025-12-24T09:00:00Z", "2025-12-25", Some(true), None),
        "start"
    );
    // 02:30 does not happen in Berlin on 30 March 2025.
    assert_eq!(
        field(
            "2025-03-30T02:30",
            "2025-03-30T04:00",
            None,
            Some(chrono_tz::Europe::Berlin)
        ),
        "start"
    );
    assert_eq!(
        field("3025-12-02T09:00:00Z", "3025-12-02T10:00:00Z", None, None),
        "start"
    );
    assert_eq!(timezone("Mars/Olympus").unwrap_err().field, "timezone");
}

#[test]
fn all_day_events_are_dates_with_an_exclusive_end() {
    assert_eq!(
        when("2025-12-24", "2025-12-26", None, None).unwrap(),
        When::AllDay {
            start: NaiveDate::from_ymd_opt(2025, 12, 24).unwrap(),
            end: NaiveDate::from_ymd_opt(2025, 12, 26).unwrap(),
        }
    );
}

#[test]
fn rules_are_checked_by_rrule_and_until_is_made_utc() {
    let timed = when("2025-12-01T09:00", "2025-12-01T10:00", None, kolkata()).unwrap();
    assert_eq!(
        recurrence("RRULE:freq=weekly;byday=MO;count=5", &timed).unwrap(),
        "FREQ=WEEKLY;BYDAY=MO;COUNT=5"
    );
    assert_eq!(
        recurrence("FREQ=DAILY;UNTIL=20251210T090000", &timed).unwrap(),
        "FREQ=DAILY;UNTIL=20251210T033000Z"
    );
    for bad in [
        "FREQ=SOMETIMES",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=DAILY\r\nATTENDEE:mailto:x@y.z",
        "FREQ=DAILY;UNTIL=soon",
        "FREQ=SECONDLY",
        "FREQ=MINUTELY;INTERVAL=30;COUNT=3",
        "",
    ] {
        assert_eq!(
            recurrence(bad, &timed).unwrap_err().field,
            "recurrence",
            "{bad:?}"
        );
    }
    assert_eq!(
        recurrence("FREQ=HOURLY;INTERVAL=2;COUNT=4", &timed).unwrap(),
        "FREQ=HOURLY;INTERVAL=2;COUNT=4"
    );
    let all_day = when("2025-12-24", "2025-12-25", None, None).unwrap();
    assert_eq!(
        recurrence("FREQ=YEARLY;UNTIL=20301224", &all_day).unwrap(),
        "FREQ=YEARLY;UNTIL=20301224"
    );
    assert!(recurrence("FREQ=YEARLY;UNTIL=20301224T000000Z", &all_day).is_err());
}

#[test]
fn texts_are_bounded_and_single_lines_stay_single() {
    assert_eq!(title("  Review ").unwrap(), "Review");
    assert_eq!(title(" ").unwrap_err().field, "title");
    assert!(title(&"x".repeat(MAX_TITLE_CHARS + 1)).is_err());
    assert!(title("a\r\nATTENDEE:mailto:x@y.z").is_err());
    assert!(location(Some("Room 1\nX")).is_err());
    assert_eq!(location(Some("  ")).unwrap(), None);
    assert_eq!(
        description(Some("line one\r\nline two\t."))
            .unwrap()
            .as_deref(),
        Some("line one\nline two\t.")
    );
    assert!(description(Some("a\u{7}b")).is_err());
}

#[test]
fn attendees_are_folded_deduplicated_and_named_when_wrong() {
    assert_eq!(
        attendees(&["Bob@Acme.example".into(), "bob@acme.example".into()]).unwrap(),
        ["bob@acme.example"]
    );
    assert_eq!(
        attendees(&["a@b.example".into(), "nope".into()])
            .unwrap_err()
            .field,
        "attendees[1]"
    );
}

#[test]
fn listing_bounds_are_dates_or_times_and_an_end_date_is_included() {
    assert_eq!(
        range_start("2025-12-01").unwrap().to_rfc3339(),
        "2025-12-01T00:00:00+00:00"
    );
    assert_eq!(
        range_end("2025-12-01T09:00:00+05:30").unwrap().to_rfc3339(),
        "2025-12-01T03:30:00+00:00"
    );
    // `end=2025-12-31`: the last day of December is in the range.
    assert_eq!(
        range_end("2025-12-31").unwrap().to_rfc3339(),
        "2026-01-01T00:00:00+00:00"
    );
    assert_eq!(range_end("soon").unwrap_err().field, "end");
    assert_eq!(range_start("2025-13-01").unwrap_err().field, "start");
}
