//! `/api/v1/calendar`: thin handlers over [`super::caldav`], [`super::ical`] and
//! [`super::expand`], one file a concept: the calendars (`calendars`), reading events
//! (`events`) and changing them (`changes`); the bodies they share are here.

mod calendars;
mod changes;
mod events;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ical::read::{api_time, Attendee};
use super::ical::{EventData, Moment};
use super::ids::EventId;
use super::meetings::shown;
use crate::http::AppState;

/// The area's routes, relative to `/api/v1/calendar`, with their documentation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(calendars::list_calendars))
        .routes(routes!(events::list_events, changes::create_event))
        .routes(routes!(
            events::get_event,
            changes::update_event,
            changes::delete::delete_event
        ))
}

/// An event, or one occurrence of a recurring one.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventBody {
    /// Names the event (all its occurrences) in this API; opaque.
    pub event_id: String,
    /// The iCalendar UID, the same in every attendee's copy.
    pub uid: String,
    pub calendar: String,
    pub title: String,
    /// RFC 3339 in UTC (`2025-12-02T03:30:00Z`), or a date for an all-day event.
    #[schema(example = "2025-12-02T03:30:00Z")]
    pub start: String,
    /// RFC 3339 in UTC, or for an all-day event the day after its last.
    pub end: String,
    pub all_day: bool,
    /// The zone the event's times are written in (`Asia/Kolkata`, `UTC`); none for all-day
    /// events and times without a zone.
    #[schema(example = "Asia/Kolkata")]
    pub timezone: Option<String>,
    pub location: Option<String>,
    pub description: Option<String>,
    /// The organizer's address, for an event with attendees.
    pub organizer: Option<String>,
    pub attendees: Vec<AttendeeBody>,
    /// The series' rule (RFC 5545 RRULE), on every occurrence of a recurring event.
    #[schema(example = "FREQ=WEEKLY;BYDAY=MO;COUNT=10")]
    pub recurrence: Option<String>,
    /// Which occurrence of the series this is: its start in the series (RFC 3339 UTC, or a
    /// date), also when it was moved.
    pub recurrence_id: Option<String>,
    /// The version, for `If-Match` when changing or deleting the event.
    pub etag: Option<String>,
    pub meeting: Option<MeetingBody>,
    /// Parts of this change left to the outbox, which retries them: `meeting` when the Meet
    /// room could not be made, changed or cancelled at once. Invitations always go through the
    /// outbox and are not listed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<&'static str>,
}

/// Someone an event invites, and their answer so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttendeeBody {
    pub email: String,
    pub name: Option<String>,
    /// `NEEDS-ACTION`, `ACCEPTED`, `DECLINED` or `TENTATIVE`.
    pub status: Option<String>,
}

/// The Meet room of an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeetingBody {
    pub room_id: String,
    pub join_url: String,
}

/// A new event, or an event's new state (every field is set again: one left out is cleared,
/// except `create_meeting`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    /// 1 to 500 characters.
    #[schema(example = "Design review")]
    pub title: String,
    /// RFC 3339 (`2025-12-02T09:00:00+05:30`), a local time with `timezone`
    /// (`2025-12-02T09:00`), or a date for an all-day event.
    #[schema(example = "2025-12-02T09:00")]
    pub start: String,
    /// As `start`; an all-day event's is the day after its last.
    #[schema(example = "2025-12-02T10:00")]
    pub end: String,
    /// The calendar's id (`[calendar] default_calendar` when not given); an event stays in
    /// its calendar.
    pub calendar: Option<String>,
    /// An IANA zone; the times are written in it, with its VTIMEZONE.
    #[schema(example = "Asia/Kolkata")]
    pub timezone: Option<String>,
    pub location: Option<String>,
    pub description: Option<String>,
    /// E-mail addresses; each gets an invitation by mail.
    pub attendees: Option<Vec<String>>,
    /// Whole days (default: when `start` and `end` are dates).
    pub all_day: Option<bool>,
    /// An RFC 5545 RRULE (`FREQ=WEEKLY;BYDAY=MO;COUNT=10`).
    pub recurrence: Option<String>,
    /// A Meet room for the event (`[meet]` must be on); on a change, `false` cancels the
    /// event's room and leaving it out keeps what is.
    pub create_meeting: Option<bool>,
}

/// The body of an occurrence of `event` (of the object at `id`).
pub(super) fn body(
    id: &EventId,
    etag: Option<&str>,
    event: &EventData,
    start: &Moment,
    end: &Moment,
    recurrence_id: Option<&Moment>,
) -> EventBody {
    let (location, description) = shown(
        event.meeting.as_ref(),
        event.location.as_deref(),
        event.description.as_deref(),
    );
    EventBody {
        event_id: id.encode(),
        uid: event.uid.clone(),
        calendar: id.calendar.clone(),
        title: event.title.clone(),
        start: api_time(start),
        end: api_time(end),
        all_day: start.is_date(),
        timezone: start.zone_name(),
        location,
        description,
        organizer: event.organizer.clone(),
        attendees: event.attendees.iter().map(attendee).collect(),
        recurrence: event.recurrence.clone(),
        recurrence_id: recurrence_id.map(api_time),
        etag: etag.map(str::to_owned),
        meeting: event.meeting.as_ref().map(|m| MeetingBody {
            room_id: m.room_id.clone(),
            join_url: m.join_url.clone(),
        }),
        pending: Vec::new(),
    }
}

fn attendee(a: &Attendee) -> AttendeeBody {
    AttendeeBody {
        email: a.email.clone(),
        name: a.name.clone(),
        status: a.status.clone(),
    }
}
