//! Calendar objects written: a new event, an existing one changed (what this API does not
//! model, such as alarms, other clients' properties and, unless the times or the rule changed,
//! the series' exceptions, is kept), and the iMIP messages (RFC 6047) to its attendees.
//!
//! The stored copy marks the organizer and attendees `SCHEDULE-AGENT=CLIENT` (RFC 6638 §7.1):
//! the hub sends the invitations itself, so Nextcloud's CalDAV server must not send its own.
//! The messages leave that parameter out.

use chrono::{DateTime, Utc};
use icalendar::{
    Calendar, CalendarComponent, CalendarDateTime, Component, DatePerhapsTime, Event, EventLike,
    Property,
};

use super::read::ROOM_PROPERTY;
use super::zones::{vtimezone, years_of};
use super::{EventSpec, When, WriteZone};

const PRODID: &str = "-//Bheem//Bheem Calendar//EN";

/// Whom the copy is for: the calendar store, or attendees' mailboxes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Copy {
    Stored,
    Message,
}

/// A new calendar object holding `spec`'s event (and its zone's `VTIMEZONE`).
pub fn new_object(spec: &EventSpec, now: DateTime<Utc>) -> Calendar {
    let mut calendar = calendar(None);
    if let Some(zone) = zone_of(spec) {
        calendar.push(zone);
    }
    let mut event = Event::new();
    event.created(now);
    fill(&mut event, spec, now, Copy::Stored, &[]);
    calendar.push(event);
    calendar
}

/// `existing` with its master event changed to `spec`. With `reset_exceptions` (the times or
/// the rule changed) the series' overridden occurrences and exceptions go, as they no longer
/// fit it; everything else of the object is kept.
pub fn updated_object(
    existing: &Calendar,
    spec: &EventSpec,
    now: DateTime<Utc>,
    reset_exceptions: bool,
) -> Calendar {
    let mut calendar = Calendar::empty();
    for property in &existing.properties {
        // RFC 4791 §4.1: a stored object has no METHOD.
        if property.key() != "METHOD" {
            calendar.append_property(property.clone());
        }
    }
    let ours = zone_of(spec);
    let our_tzid = match &spec.when {
        When::Timed {
            zone: WriteZone::Iana(tz),
            ..
        } => Some(tz.name()),
        _ => None,
    };
    for component in &existing.components {
        match component {
            CalendarComponent::Other(zone)
                if zone.component_kind() == "VTIMEZONE"
                    && zone.property_value("TZID") == our_tzid => {}
            CalendarComponent::Event(event) if event.get_recurrence_id().is_some() => {
                if !reset_exceptions {
                    calendar.push(occurrence(event, spec, now, Copy::Stored));
                }
            }
            CalendarComponent::Event(event) => {
                let mut event = event.clone();
                let kept = kept_statuses(&event, reset_exceptions);
                for name in [
                    "DURATION",
                    "ORGANIZER",
                    "CONFERENCE",
                    ROOM_PROPERTY,
                    "STATUS",
                ] {
                    event.remove_property(name);
                }
                event.remove_multi_property("ATTENDEE");
                if reset_exceptions {
                    event.remove_multi_property("EXDATE");
                    event.remove_multi_property("RDATE");
                }
                fill(&mut event, spec, now, Copy::Stored, &kept);
                calendar.push(event);
            }
            other => {
                calendar.push(other.clone());
            }
        }
    }
    if let Some(zone) = ours {
        calendar.components.insert(0, zone);
    }
    calendar
}

/// The attendees' answers so far, kept across a change that does not move the event.
fn kept_statuses(event: &Event, moved: bool) -> Vec<(String, String)> {
    if moved {
        return Vec::new();
    }
    event
        .multi_properties()
        .get("ATTENDEE")
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let email = p.value().split_once(':')?.1.trim().to_lowercase();
            let status = p.params().get("PARTSTAT")?.value().to_owned();
            Some((email, status))
        })
        .collect()
}

/// An overridden occurrence of `spec`'s series, kept: with the series' organizer, attendees
/// (their answers to this occurrence kept in the stored copy) and SEQUENCE (RFC 5546 §2.1.5:
/// every component of a revision carries its SEQUENCE).
fn occurrence(event: &Event, spec: &EventSpec, now: DateTime<Utc>, copy: Copy) -> Event {
    let statuses = match copy {
        Copy::Stored => kept_statuses(event, false),
        Copy::Message => Vec::new(),
    };
    let mut event = event.clone();
    for name in ["ORGANIZER", "SEQUENCE"] {
        event.remove_property(name);
    }
    event.remove_multi_property("ATTENDEE");
    event
        .sequence(u32::try_from(spec.sequence).unwrap_or(0))
        .timestamp(now);
    people(&mut event, spec, copy, &statuses);
    event
}

/// The iMIP request (RFC 6047, RFC 5546 §3.2.2) that invites `spec`'s attendees, or tells
/// them of its change. With `stored`, the object the change wrote, the series as stored: its
/// EXDATEs and RDATEs, its overridden occurrences, and the zones they name.
pub fn invitation(spec: &EventSpec, now: DateTime<Utc>, stored: Option<&Calendar>) -> String {
    let mut calendar = calendar(Some("REQUEST"));
    let ours = zone_of(spec);
    let our_tzid = ours
        .as_ref()
        .and_then(|zone| match zone {
            CalendarComponent::Other(zone) => zone.property_value("TZID"),
            _ => None,
        })
        .map(str::to_owned);
    if let Some(zone) = ours {
        calendar.push(zone);
    }
    let mut event = Event::new();
    fill(&mut event, spec, now, Copy::Message, &[]);
    let mut occurrences = Vec::new();
    for component in stored.map_or(&[][..], |c| &c.components[..]) {
        match component {
            CalendarComponent::Other(zone)
                if zone.component_kind() == "VTIMEZONE"
                    && zone.property_value("TZID") != our_tzid.as_deref() =>
            {
                calendar.push(component.clone());
            }
            CalendarComponent::Event(stored) if stored.get_uid() == Some(spec.uid.as_str()) => {
                if stored.get_recurrence_id().is_some() {
                    occurrences.push(occurrence(stored, spec, now, Copy::Message));
                    continue;
                }
                for name in ["EXDATE", "RDATE"] {
                    for property in stored.multi_properties().get(name).into_iter().flatten() {
                        event.append_multi_property(property.clone());
                    }
                }
            }
            _ => {}
        }
    }
    calendar.push(event);
    for occurrence in occurrences {
        calendar.push(occurrence);
    }
    calendar.to_string()
}

/// The iMIP cancellation (RFC 5546 §3.2.5) of `spec`'s event for `attendees`: all of them
/// when the event is deleted, those taken off it otherwise.
pub fn cancellation(spec: &EventSpec, attendees: &[String], now: DateTime<Utc>) -> String {
    let mut calendar = calendar(Some("CANCEL"));
    if let Some(zone) = zone_of(spec) {
        calendar.push(zone);
    }
    let mut cancelled = spec.clone();
    cancelled.attendees = attendees.to_vec();
    let mut event = Event::new();
    fill(&mut event, &cancelled, now, Copy::Message, &[]);
    event.add_property("STATUS", "CANCELLED");
    calendar.push(event);
    calendar.to_string()
}

fn calendar(method: Option<&str>) -> Calendar {
    let mut calendar = Calendar::empty();
    calendar
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new("PRODID", PRODID))
        .append_property(Property::new("CALSCALE", "GREGORIAN"));
    if let Some(method) = method {
        calendar.append_property(Property::new("METHOD", method));
    }
    calendar
}

fn zone_of(spec: &EventSpec) -> Option<CalendarComponent> {
    let When::Timed {
        start,
        end,
        zone: WriteZone::Iana(tz),
    } = spec.when
    else {
        return None;
    };
    let last = spec.recurrence.is_none().then_some(end);
    let (from, to) = years_of(start, last);
    Some(vtimezone(tz, from, to))
}

/// Sets on `event` all `spec` says; `statuses` are attendees' answers to keep.
fn fill(
    event: &mut Event,
    spec: &EventSpec,
    now: DateTime<Utc>,
    copy: Copy,
    statuses: &[(String, String)],
) {
    event
        .uid(&spec.uid)
        .sequence(u32::try_from(spec.sequence).unwrap_or(0))
        .timestamp(now)
        .last_modified(now)
        .summary(&spec.title);
    let (start, end): (DatePerhapsTime, DatePerhapsTime) = match &spec.when {
        When::AllDay { start, end } => ((*start).into(), (*end).into()),
        When::Timed { start, end, zone } => match zone {
            WriteZone::Utc => (start.and_utc().into(), end.and_utc().into()),
            WriteZone::Iana(tz) => (
                CalendarDateTime::WithTimezone {
                    date_time: *start,
                    tzid: tz.name().to_owned(),
                }
                .into(),
                CalendarDateTime::WithTimezone {
                    date_time: *end,
                    tzid: tz.name().to_owned(),
                }
                .into(),
            ),
        },
    };
    event.starts(start).ends(end);
    match &spec.location {
        Some(location) => event.location(location),
        None => event.remove_property("LOCATION"),
    };
    match &spec.description {
        Some(description) => event.description(description),
        None => event.remove_description(),
    };
    match &spec.recurrence {
        Some(rule) => event.add_property("RRULE", rule),
        None => event.remove_property("RRULE"),
    };
    people(event, spec, copy, statuses);
    if let Some(meeting) = &spec.meeting {
        // RFC 7986 §5.11: where to join, for clients that show a "join" button.
        let mut conference = Property::new("CONFERENCE", &meeting.join_url);
        conference
            .add_parameter("VALUE", "URI")
            .add_parameter("FEATURE", "AUDIO,VIDEO")
            .add_parameter("LABEL", "Bheem Meet");
        event.append_property(conference);
        event.add_property(ROOM_PROPERTY, &meeting.room_id);
    }
}

/// `spec`'s organizer and attendees on `event`; `statuses` are attendees' answers to keep.
fn people(event: &mut Event, spec: &EventSpec, copy: Copy, statuses: &[(String, String)]) {
    if let Some(organizer) = &spec.organizer {
        let mut property = Property::new("ORGANIZER", format!("mailto:{}", organizer.email));
        if let Some(name) = organizer.name.as_deref().filter(|n| parameter_safe(n)) {
            property.add_parameter("CN", name);
        }
        if copy == Copy::Stored {
            property.add_parameter("SCHEDULE-AGENT", "CLIENT");
        }
        event.append_property(property);
    }
    for email in &spec.attendees {
        let status = statuses
            .iter()
            .find(|(e, _)| e == email)
            .map_or("NEEDS-ACTION", |(_, s)| s.as_str());
        let mut property = Property::new("ATTENDEE", format!("mailto:{email}"));
        property
            .add_parameter("CUTYPE", "INDIVIDUAL")
            .add_parameter("ROLE", "REQ-PARTICIPANT")
            .add_parameter("PARTSTAT", status)
            .add_parameter("RSVP", "TRUE");
        if copy == Copy::Stored {
            property.add_parameter("SCHEDULE-AGENT", "CLIENT");
        }
        event.append_multi_property(property);
    }
}

/// Whether a name can be a parameter value as the crate writes it: no `"` (RFC 5545 §3.1
/// forbids it even quoted), no `,` (it would read as a list), no control characters.
fn parameter_safe(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c == '"' || c == ',' || c.is_control())
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::workspace::calendar::ical::{parse, ObjectEvents, Person};

    const STORED: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Thunderbird//EN\r\n\
        BEGIN:VEVENT\r\nUID:s1\r\nDTSTAMP:20251101T000000Z\r\nDTSTART:20251201T090000Z\r\n\
        DTEND:20251201T100000Z\r\nRRULE:FREQ=DAILY;COUNT=5\r\nEXDATE:20251202T090000Z\r\n\
        SUMMARY:Old\r\nX-MOZ-GENERATION:3\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\n\
        TRIGGER:-PT15M\r\nDESCRIPTION:Soon\r\nEND:VALARM\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:s1\r\nDTSTAMP:20251101T000000Z\r\n\
        RECURRENCE-ID:20251203T090000Z\r\nDTSTART:20251203T150000Z\r\n\
        DTEND:20251203T160000Z\r\nSUMMARY:Moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    fn spec(start: &str, end: &str) -> EventSpec {
        let at = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap();
        EventSpec {
            uid: "s1".into(),
            sequence: 1,
            title: "New, better; \"title\"".into(),
            when: When::Timed {
                start: at(start),
                end: at(end),
                zone: WriteZone::Utc,
            },
            location: None,
            description: Some("two\nlines".into()),
            recurrence: Some("FREQ=DAILY;COUNT=5".into()),
            organizer: None,
            attendees: Vec::new(),
            meeting: None,
        }
    }

    fn now() -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(2025, 11, 20)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
    }

    #[test]
    fn a_change_keeps_what_the_api_does_not_model() {
        let existing = parse(STORED).unwrap();
        let text = updated_object(
            &existing,
            &spec("2025-12-01T09:00", "2025-12-01T10:00"),
            now(),
            false,
        )
        .to_string();
        assert!(text.contains("BEGIN:VALARM"), "{text}");
        assert!(text.contains("X-MOZ-GENERATION:3"), "{text}");
        assert!(text.contains("EXDATE:20251202T090000Z"), "{text}");
        assert!(text.contains("RECURRENCE-ID:20251203T090000Z"), "{text}");
        let read = ObjectEvents::of(&parse(&text).unwrap());
        let master = read.master.unwrap();
        assert_eq!(master.title, "New, better; \"title\"");
        assert_eq!(master.description.as_deref(), Some("two\nlines"));
        assert_eq!(master.sequence, 1);
        assert_eq!(read.overrides.len(), 1);
    }

    #[test]
    fn a_request_carries_the_series_exceptions_as_stored() {
        let mut s = spec("2025-12-01T09:00", "2025-12-01T10:00");
        s.organizer = Some(Person {
            email: "alice@acme.example".into(),
            name: None,
        });
        s.attendees = vec!["bob@acme.example".into()];
        let stored = updated_object(&parse(STORED).unwrap(), &s, now(), false);
        let request = invitation(&s, now(), Some(&stored));
        assert!(request.contains("EXDATE:20251202T090000Z"), "{request}");
        let read = ObjectEvents::of(&parse(&request).unwrap());
        assert_eq!(read.master.as_ref().unwrap().exdates.len(), 1);
        assert_eq!(read.overrides.len(), 1, "{request}");
        // The moved occurrence at its new time, of this revision, inviting whom the series does.
        let moved = &read.overrides[0];
        assert_eq!(moved.title, "Moved");
        assert_eq!(moved.sequence, 1);
        assert_eq!(moved.organizer.as_deref(), Some("alice@acme.example"));
        assert_eq!(moved.attendees.len(), 1);
        assert_eq!(moved.attendees[0].email, "bob@acme.example");
        assert!(!request.contains("SCHEDULE-AGENT"), "{request}");
        // The stored copy's occurrence too.
        let kept = ObjectEvents::of(&stored);
        assert_eq!(kept.overrides[0].sequence, 1);
        assert_eq!(kept.overrides[0].attendees[0].email, "bob@acme.example");
    }

    #[test]
    fn a_move_drops_the_series_exceptions() {
        let existing = parse(STORED).unwrap();
        let text = updated_object(
            &existing,
            &spec("2025-12-01T11:00", "2025-12-01T12:00"),
            now(),
            true,
        )
        .to_string();
        assert!(!text.contains("EXDATE"), "{text}");
        assert!(!text.contains("RECURRENCE-ID"), "{text}");
        assert!(text.contains("BEGIN:VALARM"), "{text}");
    }

    #[test]
    fn messages_carry_their_method_and_the_stored_copy_keeps_nextcloud_out() {
        let mut s = spec("2025-12-01T09:00", "2025-12-01T10:00");
        s.organizer = Some(Person {
            email: "alice@acme.example".into(),
            name: Some("Alice, \"the\" boss".into()),
        });
        s.attendees = vec!["bob@acme.example".into()];
        let stored = new_object(&s, now()).to_string();
        assert!(stored.contains("SCHEDULE-AGENT=CLIENT"), "{stored}");
        assert!(!stored.contains("METHOD"), "{stored}");
        // A name that cannot be a parameter value is left out rather than written wrong.
        assert!(
            stored.contains("ORGANIZER;SCHEDULE-AGENT=CLIENT:mailto:alice@acme.example"),
            "{stored}"
        );
        let request = invitation(&s, now(), None);
        assert!(request.contains("METHOD:REQUEST"), "{request}");
        assert!(!request.contains("SCHEDULE-AGENT"), "{request}");
        assert!(request.contains("PARTSTAT=NEEDS-ACTION"), "{request}");
        let cancel = cancellation(&s, &["bob@acme.example".to_owned()], now());
        assert!(cancel.contains("METHOD:CANCEL"), "{cancel}");
        assert!(cancel.contains("STATUS:CANCELLED"), "{cancel}");
    }
}
