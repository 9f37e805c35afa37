use super::*;

fn at(raw: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(raw, LOCAL_FORMAT).unwrap()
}

#[test]
fn offsets_read_and_write() {
    assert_eq!(parse_offset("+0530"), Some(19800));
    assert_eq!(parse_offset("-0500"), Some(-18000));
    assert_eq!(parse_offset("+003412"), Some(2052));
    assert_eq!(parse_offset("0530"), None);
    assert_eq!(parse_offset("+5:30"), None);
    assert_eq!(format_offset(19800), "+0530");
    assert_eq!(format_offset(-18000), "-0500");
    assert_eq!(format_offset(0), "+0000");
}

#[test]
fn iana_names_and_vendor_prefixes_resolve() {
    let zones = Zones::default();
    let kolkata = zones.resolve("Asia/Kolkata");
    assert_eq!(
        kolkata.to_utc(at("20251202T090000")).to_rfc3339(),
        "2025-12-02T03:30:00+00:00"
    );
    let berlin = zones.resolve("/mozilla.org/20050126_1/Europe/Berlin");
    assert_eq!(berlin.name().as_deref(), Some("Europe/Berlin"));
    assert_eq!(
        berlin.to_utc(at("20250701T090000")).to_rfc3339(),
        "2025-07-01T07:00:00+00:00"
    );
    assert!(matches!(zones.resolve("Mars/Olympus"), Zone::Floating));
}

#[test]
fn a_skipped_time_is_read_in_the_offset_before() {
    let berlin = Zone::Iana(chrono_tz::Europe::Berlin);
    // 02:30 does not happen on 30 March 2025 in Berlin; +01:00 was in force before.
    assert_eq!(
        berlin.to_utc(at("20250330T023000")).to_rfc3339(),
        "2025-03-30T01:30:00+00:00"
    );
}

#[test]
fn a_written_vtimezone_is_read_back_as_the_same_zone() {
    let written = vtimezone(chrono_tz::America::New_York, 2025, 2027);
    let text = icalendar::Calendar::from([written]).to_string();
    let parsed: icalendar::Calendar = text.parse().unwrap();
    let zones = Zones::of(&parsed.components);
    let ny = zones.defined.get("America/New_York").expect("defined");
    let zone = Zone::Defined("America/New_York".into(), ny.clone());
    for (local, utc) in [
        ("20250115T090000", "2025-01-15T14:00:00+00:00"),
        ("20250715T090000", "2025-07-15T13:00:00+00:00"),
        ("20261215T090000", "2026-12-15T14:00:00+00:00"),
        ("20270401T090000", "2027-04-01T13:00:00+00:00"),
    ] {
        assert_eq!(zone.to_utc(at(local)).to_rfc3339(), utc, "{local}");
        assert_eq!(zone.to_local(zone.to_utc(at(local))), at(local));
    }
    assert!(text.contains("BEGIN:DAYLIGHT"), "{text}");
    assert!(text.contains("TZOFFSETTO:-0400"), "{text}");
}

#[test]
fn a_zone_without_changes_gets_one_standard_observance() {
    let written = vtimezone(chrono_tz::Asia::Kolkata, 2025, 2025);
    let text = icalendar::Calendar::from([written]).to_string();
    assert!(text.contains("TZOFFSETFROM:+0530"), "{text}");
    assert!(text.contains("TZOFFSETTO:+0530"), "{text}");
    assert!(!text.contains("DAYLIGHT"), "{text}");
}

#[test]
fn an_outlook_style_definition_with_rules_is_followed() {
    let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTIMEZONE\r\n\
        TZID:Eastern Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16010101T020000\r\n\
        TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\n\
        RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\n\
        DTSTART:16010101T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\n\
        RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n\
        END:VCALENDAR\r\n";
    let parsed: icalendar::Calendar = text.parse().unwrap();
    let zone = Zones::of(&parsed.components).resolve("Eastern Standard Time");
    assert_eq!(zone.name().as_deref(), Some("Eastern Standard Time"));
    assert_eq!(
        zone.to_utc(at("20251202T090000")).to_rfc3339(),
        "2025-12-02T14:00:00+00:00"
    );
    assert_eq!(
        zone.to_utc(at("20250702T090000")).to_rfc3339(),
        "2025-07-02T13:00:00+00:00"
    );
    assert_eq!(
        zone.to_utc(at("21500702T090000")).to_rfc3339(),
        "2150-07-02T13:00:00+00:00"
    );
    assert_eq!(
        zone.to_utc(at("19901202T090000")).to_rfc3339(),
        "1990-12-02T14:00:00+00:00"
    );
}

#[test]
fn a_definitions_rules_are_expanded_once_a_year_near_it() {
    // Outlook's rules from 1601, and one that never matches (30 February).
    let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTIMEZONE\r\n\
        TZID:Odd Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16010101T020000\r\n\
        TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\n\
        RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\n\
        DTSTART:16010101T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\n\
        RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nBEGIN:DAYLIGHT\r\n\
        DTSTART:16010101T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:+0100\r\n\
        RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n\
        END:VCALENDAR\r\n";
    let parsed: icalendar::Calendar = text.parse().unwrap();
    let zone = Zones::of(&parsed.components).resolve("Odd Standard Time");
    let Zone::Defined(_, definition) = &zone else {
        panic!("{zone:?}")
    };
    for day in 1..=28 {
        let local = at(&format!("202512{day:02}T090000"));
        assert_eq!(
            zone.to_utc(local).to_rfc3339(),
            format!("2025-12-{day:02}T14:00:00+00:00")
        );
        assert_eq!(zone.to_local(zone.to_utc(local)), local);
    }
    let years: Vec<i32> = {
        let cache = definition.onsets.lock().unwrap();
        let mut years: Vec<i32> = cache.keys().copied().collect();
        years.sort_unstable();
        years
    };
    // Three years' rules, each expanded once, whatever the number of times converted.
    assert_eq!(years, [2023, 2024, 2025]);
    let onsets = definition.onsets_in(2025);
    assert_eq!(
        onsets,
        [
            (at("20251102T020000"), -18000),
            (at("20250309T020000"), -14400)
        ]
    );
}
