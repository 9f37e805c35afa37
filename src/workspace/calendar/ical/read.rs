//! Calendar objects read: each `VEVENT` of one object (a series' master and its overridden
//! occurrences share a UID and a resource, RFC 4791 §4.1) as an [`EventData`], with its times
//! in the zones the object's `TZID`s name.

use chrono::Duration;
use icalendar::{
    Calendar, CalendarComponent, Component, DatePerhapsTime, Event, EventLike, Property,
};

use super::zones::{Zone, Zones};
use super::{MeetingLink, Moment};

/// The property this API writes the Meet room's id in, beside `CONFERENCE` (RFC 5545 §3.8.8.2
/// leaves `X-` names to us).
pub(super) const ROOM_PROPERTY: &str = "X-BHEEM-ROOM-ID";

/// Someone an event invites.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attendee {
    pub email: String,
    pub name: Option<String>,
    /// `PARTSTAT`: `NEEDS-ACTION`, `ACCEPTED`, `DECLINED`, `TENTATIVE`.
    pub status: Option<String>,
}

/// One `VEVENT`, read.
#[derive(Clone, Debug)]
pub struct EventData {
    pub uid: String,
    pub title: String,
    pub start: Moment,
    pub end: Moment,
    pub location: Option<String>,
    pub description: Option<String>,
    pub organizer: Option<String>,
    pub attendees: Vec<Attendee>,
    /// The RRULE value of a series' master.
    pub recurrence: Option<String>,
    /// Set on an overridden occurrence: the start it replaces.
    pub recurrence_id: Option<Moment>,
    pub exdates: Vec<Moment>,
    pub rdates: Vec<Moment>,
    pub sequence: i64,
    pub cancelled: bool,
    pub meeting: Option<MeetingLink>,
}

/// The events of one calendar object: the master (if any) and the overridden occurrences.
pub struct ObjectEvents {
    pub master: Option<EventData>,
    pub overrides: Vec<EventData>,
}

/// An iCalendar object as text, parsed.
pub fn parse(text: &str) -> Result<Calendar, String> {
    text.parse::<Calendar>()
}

impl ObjectEvents {
    /// The events of `calendar`; those without a usable start are left out (and logged).
    pub fn of(calendar: &Calendar) -> Self {
        let zones = Zones::of(&calendar.components);
        let mut master = None;
        let mut overrides = Vec::new();
        for component in &calendar.components {
            let CalendarComponent::Event(event) = component else {
                continue;
            };
            let Some(data) = EventData::read(event, &zones) else {
                tracing::info!("a calendar object with an event that has no usable start");
                continue;
            };
            if data.recurrence_id.is_some() {
                overrides.push(data);
            } else if master.is_none() {
                master = Some(data);
            }
        }
        Self { master, overrides }
    }

    /// The UID all its events share.
    pub fn uid(&self) -> Option<&str> {
        self.master
            .as_ref()
            .or(self.overrides.first())
            .map(|e| e.uid.as_str())
    }
}

impl EventData {
    fn read(event: &Event, zones: &Zones) -> Option<Self> {
        let at = |name: &str| event.properties().get(name).and_then(|p| moment(p, zones));
        let start = at("DTSTART")?;
        let end = match at("DTEND") {
            Some(end) => end,
            None => match event.property_value("DURATION").and_then(duration) {
                Some(d) => shifted(&start, d),
                // RFC 5545 §3.6.1: a day without an end takes the day; a time, no time.
                None if start.is_date() => shifted(&start, Duration::days(1)),
                None => start.clone(),
            },
        };
        let moments = |name: &str| -> Vec<Moment> {
            event
                .multi_properties()
                .get(name)
                .into_iter()
                .flatten()
                .flat_map(|p| {
                    p.value()
                        .split(',')
                        .filter_map(|v| {
                            // One value of a list, with the list's parameters (TZID).
                            let mut one = Property::new(p.key(), v);
                            for param in p.params().values() {
                                one.append_parameter(param.clone());
                            }
                            moment(&one, zones)
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let attendees = event
            .multi_properties()
            .get("ATTENDEE")
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some(Attendee {
                    email: mailto(p.value())?,
                    name: param(p, "CN"),
                    status: param(p, "PARTSTAT"),
                })
            })
            .collect();
        let meeting = match (
            event.property_value(ROOM_PROPERTY),
            event.property_value("CONFERENCE"),
        ) {
            (Some(room_id), Some(url)) => Some(MeetingLink {
                room_id: room_id.to_owned(),
                join_url: url.to_owned(),
            }),
            _ => None,
        };
        Some(Self {
            uid: event.get_uid().unwrap_or_default().to_owned(),
            title: event.get_summary().unwrap_or_default().to_owned(),
            start,
            end,
            location: event.get_location().map(str::to_owned),
            description: event.get_description().map(str::to_owned),
            organizer: event.property_value("ORGANIZER").and_then(mailto),
            attendees,
            recurrence: event.property_value("RRULE").map(str::to_owned),
            recurrence_id: at("RECURRENCE-ID"),
            exdates: moments("EXDATE"),
            rdates: moments("RDATE"),
            sequence: event
                .property_value("SEQUENCE")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
            cancelled: event
                .property_value("STATUS")
                .is_some_and(|s| s.eq_ignore_ascii_case("CANCELLED")),
            meeting,
        })
    }
}

fn moment(property: &Property, zones: &Zones) -> Option<Moment> {
    match DatePerhapsTime::from_property(property)? {
        DatePerhapsTime::Date(date) => Some(Moment::Date(date)),
        DatePerhapsTime::DateTime(t) => Some(match t {
            icalendar::CalendarDateTime::Utc(utc) => Moment::Time {
                local: utc.naive_utc(),
                zone: Zone::Utc,
            },
            icalendar::CalendarDateTime::Floating(local) => Moment::Time {
                local,
                zone: Zone::Floating,
            },
            icalendar::CalendarDateTime::WithTimezone { date_time, tzid } => Moment::Time {
                local: date_time,
                zone: zones.resolve(&tzid),
            },
        }),
    }
}

/// `start` moved on by `by`, in its own terms (days stay days).
fn shifted(start: &Moment, by: Duration) -> Moment {
    match start {
        Moment::Date(d) => Moment::Date(*d + Duration::days(by.num_days().max(1))),
        Moment::Time { local, zone } => Moment::Time {
            local: *local + by,
            zone: zone.clone(),
        },
    }
}

/// A `DURATION` value (RFC 5545 §3.3.6: `PT1H`, `P1D`, `P2W`), read with the iso8601 crate.
fn duration(raw: &str) -> Option<Duration> {
    let parsed = iso8601::duration(raw.trim()).ok()?;
    let std: std::time::Duration = parsed.into();
    Duration::from_std(std).ok()
}

/// The address of a `mailto:` CAL-ADDRESS (RFC 5545 §3.3.3), in lower case.
fn mailto(value: &str) -> Option<String> {
    let (scheme, address) = value.trim().split_once(':')?;
    scheme
        .eq_ignore_ascii_case("mailto")
        .then(|| address.trim().to_lowercase())
        .filter(|a| a.contains('@'))
}

fn param(property: &Property, name: &str) -> Option<String> {
    property
        .params()
        .get(name)
        .map(|p| p.value().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// `moment` as the API shows it: a date (`2025-12-24`) or an RFC 3339 time in UTC.
pub fn api_time(moment: &Moment) -> String {
    match moment {
        Moment::Date(d) => d.format("%Y-%m-%d").to_string(),
        Moment::Time { .. } => moment
            .utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}
