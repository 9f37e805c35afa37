//! What follows a write of an event with attendees or a meeting, once CalDAV has it (the event is
//! the source of truth: when its write fails, none of this happens): the hub's record of it, the
//! iMIP messages to its attendees (RFC 6047: a REQUEST with the new SEQUENCE to those invited,
//! a CANCEL to those taken off or to all when it is deleted), queued in the outbox in the same
//! transaction as the record, and its Meet room made, changed or cancelled. A room that could
//! not be is retried through the outbox too, and named in the answer's `pending`. When the
//! record and its jobs cannot be stored, [`Scheduler::written`] and [`Scheduler::deleted`] fail
//! and the route undoes its CalDAV write, so that nothing is left half done.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use icalendar::Calendar;

use super::ical::{
    cancellation, invitation, EventData, EventSpec, Moment, Person, When, WriteZone, Zone,
};
use super::meetings::{align, cancel, company_attendees, MeetingError};
use super::CalendarArea;
use crate::http::AppState;
use crate::store::calendar_events::EventRecord;
use crate::store::outbox::{CalendarInvitation, CalendarMeetingSync, Job};
use crate::workspace::meet::MeetService;
use crate::workspace::{ApiError, Caller};

/// What the event was before the change, as far as scheduling cares.
#[derive(Default)]
pub struct Before {
    pub record: Option<EventRecord>,
    /// The addresses the stored event invited.
    pub attendees: Vec<String>,
    /// The room the stored event named, when it is the organizer's ([`super::meetings::owned`]).
    pub room_id: Option<String>,
}

/// Who acts, where, with what.
pub struct Scheduler<'a> {
    pub state: &'a AppState,
    pub meet: Option<&'a MeetService>,
    pub caller: &'a Caller<CalendarArea>,
    /// The caller as the events' organizer, under the address the invitations are sent from.
    pub organizer: &'a Person,
    pub calendar: &'a str,
    pub resource: &'a str,
}

/// `pending`'s word for a meeting part left to the outbox.
pub const MEETING_PENDING: &str = "meeting";

impl Scheduler<'_> {
    fn company(&self) -> String {
        self.caller.company_id.to_string()
    }

    /// After `spec` was written (made or changed, as `object` when that is a series that may
    /// have exceptions): the record, the invitations and the room. The parts left to retry.
    pub async fn written(
        &self,
        spec: &EventSpec,
        object: Option<&Calendar>,
        before: Before,
        now: DateTime<Utc>,
    ) -> Result<Vec<&'static str>, ApiError> {
        let old_attendees = union(before.record.as_ref(), &before.attendees);
        let old_room = before
            .room_id
            .clone()
            .or_else(|| before.record.as_ref().and_then(|r| r.room_id.clone()));
        let new_room = spec.meeting.as_ref().map(|m| m.room_id.clone());
        if spec.attendees.is_empty()
            && new_room.is_none()
            && before.record.is_none()
            && old_attendees.is_empty()
            && old_room.is_none()
        {
            return Ok(Vec::new());
        }
        let at = now.timestamp();
        let record = self.record(spec, new_room.clone(), before.record.as_ref(), at);
        let mut jobs = Vec::new();
        let mut pending = Vec::new();
        if let Some(meet) = self.meet {
            if let Some(old) = old_room.filter(|o| Some(o) != new_room.as_ref()) {
                self.cancel_room(meet, &record, &old, &mut jobs, &mut pending)
                    .await;
            }
            if new_room.is_some() {
                let done = match company_attendees(
                    self.state.directory.as_ref(),
                    &record.company_id,
                    &record.attendees,
                )
                .await
                {
                    Ok(participants) => {
                        align(meet, &self.state.db, &record, participants, at).await
                    }
                    // The event is written: its room is left to the outbox, not the answer a 500.
                    Err(e) => Err(MeetingError::Failed(format!("the directory: {e:#}"))),
                };
                match done {
                    Ok(()) => {}
                    Err(MeetingError::Ended) => {
                        tracing::info!(uid = %spec.uid, "the event's meeting has ended: its room is left as it is");
                    }
                    Err(MeetingError::NotOurs) => {
                        tracing::warn!(uid = %spec.uid, "the event names a room its organizer does not host: left as it is");
                    }
                    Err(MeetingError::Failed(e)) => {
                        tracing::warn!(uid = %spec.uid, error = %e, "the event's room could not be made or changed: retried through the outbox");
                        jobs.push(self.meeting_job(&record, None));
                        pending.push(MEETING_PENDING);
                    }
                }
            }
        }
        let removed: Vec<String> = old_attendees
            .iter()
            .filter(|a| !spec.attendees.contains(a))
            .cloned()
            .collect();
        if !spec.attendees.is_empty() {
            let (subject, verb) = if before.record.is_none() && spec.sequence == 0 {
                ("Invitation", "invites you to")
            } else {
                ("Updated invitation", "has changed")
            };
            jobs.push(self.message(
                spec,
                "REQUEST",
                spec.attendees.clone(),
                format!("{subject}: {}", spec.title),
                text(spec, &self.organizer_name(), verb),
                invitation(spec, now, object),
            ));
        }
        if !removed.is_empty() {
            jobs.push(self.cancellation_job(spec, removed, now));
        }
        self.state.db.save_calendar_event(&record, &jobs).await?;
        Ok(pending)
    }

    /// After the event `spec` (as it was) was deleted: CANCEL to all it invited, the room
    /// cancelled, the record marked deleted.
    pub async fn deleted(
        &self,
        spec: &EventSpec,
        before: Before,
        now: DateTime<Utc>,
    ) -> Result<Vec<&'static str>, ApiError> {
        let attendees = union(before.record.as_ref(), &before.attendees);
        let room = before
            .room_id
            .clone()
            .or_else(|| before.record.as_ref().and_then(|r| r.room_id.clone()));
        if attendees.is_empty() && room.is_none() && before.record.is_none() {
            return Ok(Vec::new());
        }
        let at = now.timestamp();
        let mut cancelled = spec.clone();
        cancelled.sequence = spec
            .sequence
            .max(before.record.as_ref().map_or(0, |r| r.sequence))
            + 1;
        let mut record = self.record(&cancelled, room.clone(), before.record.as_ref(), at);
        record.attendees = attendees.clone();
        record.deleted_at = Some(at);
        let mut jobs = Vec::new();
        let mut pending = Vec::new();
        if let (Some(meet), Some(room)) = (self.meet, room.as_deref()) {
            self.cancel_room(meet, &record, room, &mut jobs, &mut pending)
                .await;
        }
        if !attendees.is_empty() {
            jobs.push(self.cancellation_job(&cancelled, attendees, now));
        }
        self.state.db.save_calendar_event(&record, &jobs).await?;
        Ok(pending)
    }

    async fn cancel_room(
        &self,
        meet: &MeetService,
        record: &EventRecord,
        room: &str,
        jobs: &mut Vec<Job>,
        pending: &mut Vec<&'static str>,
    ) {
        match cancel(meet, &self.state.db, record, room, record.updated_at).await {
            Ok(()) | Err(MeetingError::Ended) => {}
            Err(MeetingError::NotOurs) => {
                tracing::warn!(
                    room,
                    "an event names a room its organizer does not host: not cancelled"
                );
            }
            Err(MeetingError::Failed(e)) => {
                tracing::warn!(room, error = %e, "an event's room could not be cancelled: retried through the outbox");
                jobs.push(self.meeting_job(record, Some(room.to_owned())));
                pending.push(MEETING_PENDING);
            }
        }
    }

    fn meeting_job(&self, record: &EventRecord, cancel_room: Option<String>) -> Job {
        Job::SyncCalendarMeeting(CalendarMeetingSync {
            company_id: record.company_id.clone(),
            organizer_user_id: record.organizer_user_id.clone(),
            event_uid: record.uid.clone(),
            sequence: record.sequence,
            cancel_room,
        })
    }

    fn cancellation_job(&self, spec: &EventSpec, to: Vec<String>, now: DateTime<Utc>) -> Job {
        // RFC 5546 §3.2.5: a CANCEL names its organizer, whoever is left on the event.
        let mut spec = spec.clone();
        spec.organizer = Some(self.organizer());
        let spec = &spec;
        self.message(
            spec,
            "CANCEL",
            to.clone(),
            format!("Cancelled: {}", spec.title),
            text(spec, &self.organizer_name(), "has cancelled"),
            cancellation(spec, &to, now),
        )
    }

    fn message(
        &self,
        spec: &EventSpec,
        method: &str,
        recipients: Vec<String>,
        subject: String,
        text: String,
        ics: String,
    ) -> Job {
        Job::send_calendar_invitation(CalendarInvitation {
            company_id: self.company(),
            organizer_user_id: self.caller.user.id.clone(),
            event_uid: spec.uid.clone(),
            sequence: spec.sequence,
            method: method.to_owned(),
            recipients,
            subject,
            text,
            ics,
        })
    }

    /// The caller as the events' organizer.
    pub fn organizer(&self) -> Person {
        self.organizer.clone()
    }

    fn organizer_name(&self) -> String {
        let user = &self.caller.user;
        if user.name.trim().is_empty() {
            user.email.clone()
        } else {
            user.name.clone()
        }
    }

    fn record(
        &self,
        spec: &EventSpec,
        room_id: Option<String>,
        before: Option<&EventRecord>,
        at: i64,
    ) -> EventRecord {
        let (starts_at, minutes) = span(&spec.when);
        let mut attendees = spec.attendees.clone();
        attendees.sort();
        EventRecord {
            company_id: self.company(),
            organizer_user_id: self.caller.user.id.clone(),
            uid: spec.uid.clone(),
            calendar: self.calendar.to_owned(),
            resource: self.resource.to_owned(),
            title: spec.title.clone(),
            starts_at,
            duration_minutes: minutes,
            room_id,
            sequence: spec.sequence,
            attendees,
            deleted_at: None,
            created_at: before.map_or(at, |r| r.created_at),
            updated_at: at,
        }
    }
}

/// The addresses the record and the stored event invite, once each.
fn union(record: Option<&EventRecord>, stored: &[String]) -> Vec<String> {
    let mut all: BTreeSet<String> = stored.iter().cloned().collect();
    if let Some(record) = record {
        all.extend(record.attendees.iter().cloned());
    }
    all.into_iter().collect()
}

/// When an event starts (Unix seconds) and how many minutes it lasts.
fn span(when: &When) -> (i64, i64) {
    match when {
        When::AllDay { start, end } => {
            let start = start.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
            let end = end.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
            (start.timestamp(), (end - start).num_minutes())
        }
        When::Timed { start, end, zone } => {
            let utc = |t: chrono::NaiveDateTime| match zone {
                WriteZone::Utc => t.and_utc(),
                WriteZone::Iana(tz) => Zone::Iana(*tz).to_utc(t),
            };
            let (s, e) = (utc(*start), utc(*end));
            (s.timestamp(), (e - s).num_minutes())
        }
    }
}

/// The mail's plain-text part: what, when, where, how to join.
fn text(spec: &EventSpec, organizer: &str, verb: &str) -> String {
    let mut lines = vec![format!("{organizer} {verb}: {}", spec.title), String::new()];
    lines.push(match &spec.when {
        When::AllDay { start, end } => format!("When: {start} to {end} (all day)"),
        When::Timed { start, end, zone } => {
            let name = match zone {
                WriteZone::Utc => "UTC".to_owned(),
                WriteZone::Iana(tz) => tz.name().to_owned(),
            };
            format!("When: {start} to {end} ({name})")
        }
    });
    if let Some(rule) = &spec.recurrence {
        lines.push(format!("Repeats: {rule}"));
    }
    if let Some(location) = &spec.location {
        lines.push(format!("Where: {location}"));
    }
    if let Some(description) = &spec.description {
        lines.push(String::new());
        lines.push(description.clone());
    }
    lines.join("\n")
}

/// The event `data` (a stored master) as a spec to write messages about: its times in their
/// zone when it is an IANA one, in UTC otherwise.
pub fn spec_of(data: &EventData, attendees: Vec<String>) -> EventSpec {
    let when = match (&data.start, &data.end) {
        (Moment::Date(start), Moment::Date(end)) => When::AllDay {
            start: *start,
            end: *end,
        },
        (
            Moment::Time {
                local,
                zone: Zone::Iana(tz),
            },
            end,
        ) => When::Timed {
            start: *local,
            end: Zone::Iana(*tz).to_local(end.utc()),
            zone: WriteZone::Iana(*tz),
        },
        (start, end) => When::Timed {
            start: start.utc().naive_utc(),
            end: end.utc().naive_utc(),
            zone: WriteZone::Utc,
        },
    };
    EventSpec {
        uid: data.uid.clone(),
        sequence: data.sequence,
        title: data.title.clone(),
        when,
        location: data.location.clone(),
        description: data.description.clone(),
        recurrence: data.recurrence.clone(),
        organizer: None,
        attendees,
        meeting: data.meeting.clone(),
    }
}
