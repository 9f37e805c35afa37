//! iCalendar (RFC 5545) as the calendar area reads and writes it, with the `icalendar` crate:
//! its parser unfolds and unescapes, its writer escapes and folds, so no iCalendar text is put
//! together by hand here. Events are read into [`EventData`] (`read`), written from an
//! [`EventSpec`] (`write`); time zones are in `zones`.

pub mod read;
mod write;
pub mod zones;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;

pub use read::{parse, EventData, ObjectEvents};
pub use write::{cancellation, invitation, new_object, updated_object};
pub use zones::Zone;

/// A local `DATE-TIME` value without its zone (RFC 5545 §3.3.5).
pub const LOCAL_FORMAT: &str = "%Y%m%dT%H%M%S";
/// A `DATE` value (RFC 5545 §3.3.4).
pub const DATE_FORMAT: &str = "%Y%m%d";

/// A start or end as an event has it: a day, or a wall-clock time in a zone.
#[derive(Clone, Debug)]
pub enum Moment {
    Date(NaiveDate),
    Time { local: NaiveDateTime, zone: Zone },
}

impl Moment {
    /// The instant: a day starts at midnight UTC (all-day events float: they are the same
    /// days wherever one is).
    pub fn utc(&self) -> DateTime<Utc> {
        match self {
            Self::Date(date) => date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
            Self::Time { local, zone } => zone.to_utc(*local),
        }
    }

    pub fn is_date(&self) -> bool {
        matches!(self, Self::Date(_))
    }

    /// The zone's name for the API (`None` for days and floating times).
    pub fn zone_name(&self) -> Option<String> {
        match self {
            Self::Date(_) => None,
            Self::Time { zone, .. } => zone.name(),
        }
    }
}

/// The zone a written time is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteZone {
    Utc,
    Iana(Tz),
}

/// When an event is, as the API writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// Whole days, `end` exclusive (the day after the last), as `DTEND;VALUE=DATE` has it.
    AllDay { start: NaiveDate, end: NaiveDate },
    /// Wall-clock times in `zone`.
    Timed {
        start: NaiveDateTime,
        end: NaiveDateTime,
        zone: WriteZone,
    },
}

/// Someone an event names: the organizer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub email: String,
    pub name: Option<String>,
}

/// The event the API writes: what a request sets, with the identity and the meeting the
/// service adds.
#[derive(Clone, Debug)]
pub struct EventSpec {
    pub uid: String,
    /// RFC 5545 §3.8.7.4: up by one with each change attendees are told of.
    pub sequence: i64,
    pub title: String,
    pub when: When,
    pub location: Option<String>,
    pub description: Option<String>,
    /// An RRULE value (`FREQ=WEEKLY;COUNT=10`) as `rrule` wrote it back after parsing.
    pub recurrence: Option<String>,
    /// Set when there are attendees (RFC 5546 §3.2.2: a request has an organizer).
    pub organizer: Option<Person>,
    /// E-mail addresses, in lower case.
    pub attendees: Vec<String>,
    pub meeting: Option<MeetingLink>,
}

/// A Meet room attached to an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeetingLink {
    pub room_id: String,
    pub join_url: String,
}
