//! An event's Meet room: made as the Meet API makes one (the organizer hosts it, for the
//! event's time and length, with the attendees of the organizer's company as participants),
//! changed with the event, and cancelled with it. The same steps run at once from the API and,
//! when they failed, from the outbox (`provisioning::calendar_meetings`).
//!
//! Attendees of another company are external: they get the invitation by mail, with the join
//! link, and are not made participants. Whether an address is a user of another company is not
//! looked at, so nothing about it can show.
//!
//! The join link also goes into the event's `LOCATION` (beside what the organizer wrote) and
//! `DESCRIPTION` (a last paragraph), for clients that do not read `CONFERENCE`; the API shows
//! both without it ([`shown`]).

use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::config::Config;
use crate::directory::{Directory, FoundLogin};
use crate::provisioning::calendar_meetings::CalendarMeetings;
use crate::provisioning::Outcome;
use crate::store::calendar_events::EventRecord;
use crate::store::meet_rooms::{RoomChange, RoomStatus};
use crate::store::outbox::CalendarMeetingSync;
use crate::store::Db;
use crate::workspace::meet::rooms::{
    is_room_id, Member, NewRoom, RoomError, MAX_DURATION_MINUTES, MAX_NAME_CHARS,
};
use crate::workspace::meet::MeetService;

use super::ical::{EventSpec, MeetingLink};

const JOIN: &str = "Join the meeting: ";

/// Why a room could not be brought in line with its event.
#[derive(Debug, thiserror::Error)]
pub enum MeetingError {
    /// The meeting took place and ended: its room is not changed any more.
    #[error("the meeting has ended; its room is not changed")]
    Ended,
    /// The room is not the event's organizer's (another host's, or not a room id at all): a
    /// stored event names its room, and any CalDAV client may write that, so it is left alone.
    #[error("the room is not the organizer's; it is not changed")]
    NotOurs,
    /// Worth trying again (the database or LiveKit failed).
    #[error("{0}")]
    Failed(String),
}

/// `spec` with its meeting's join link in `LOCATION` and `DESCRIPTION`.
pub fn with_link(spec: &mut EventSpec) {
    let Some(meeting) = &spec.meeting else {
        return;
    };
    let url = &meeting.join_url;
    spec.location = Some(match spec.location.take() {
        Some(location) => format!("{location} ({url})"),
        None => url.clone(),
    });
    spec.description = Some(match spec.description.take() {
        Some(description) => format!("{description}\n\n{JOIN}{url}"),
        None => format!("{JOIN}{url}"),
    });
}

/// The location and description the organizer wrote, without what [`with_link`] added.
pub fn shown(
    meeting: Option<&MeetingLink>,
    location: Option<&str>,
    description: Option<&str>,
) -> (Option<String>, Option<String>) {
    let Some(url) = meeting.map(|m| m.join_url.as_str()) else {
        return (location.map(str::to_owned), description.map(str::to_owned));
    };
    let location = location.and_then(|l| {
        if l == url {
            None
        } else {
            Some(l.strip_suffix(&format!(" ({url})")).unwrap_or(l).to_owned())
        }
    });
    let joined = format!("{JOIN}{url}");
    let description = description.and_then(|d| {
        if d == joined {
            None
        } else {
            Some(
                d.strip_suffix(&format!("\n\n{joined}"))
                    .unwrap_or(d)
                    .to_owned(),
            )
        }
    });
    (location, description)
}

/// The attendees who are active users of `company_id`: the room's participants.
pub async fn company_attendees(
    directory: &dyn Directory,
    company_id: &str,
    attendees: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut members = Vec::new();
    for email in attendees {
        if let FoundLogin::Account(found) = directory.find_by_login(email).await? {
            let user = found.user;
            if user.active && user.company_id.to_string() == company_id {
                members.push(email.clone());
            }
        }
    }
    Ok(members)
}

fn host(record: &EventRecord) -> Member {
    Member {
        user_id: record.organizer_user_id.clone(),
        email: String::new(),
        company_id: record.company_id.clone(),
        is_company_admin: false,
    }
}

/// The meeting `named` in a stored event, if it is one `organizer_user_id` may change or end:
/// the room the hub's `record` of the event names, or a room they host in `company_id`. The
/// stored event is anyone's to write (any CalDAV client, any room id in it), so its id alone
/// is never trusted: another's room, or what is not a room id, gives `None`.
pub async fn owned(
    db: &Db,
    company_id: &str,
    organizer_user_id: &str,
    record: Option<&EventRecord>,
    named: Option<&MeetingLink>,
) -> anyhow::Result<Option<MeetingLink>> {
    let Some(named) = named.filter(|m| is_room_id(&m.room_id)) else {
        return Ok(None);
    };
    if record.is_some_and(|r| {
        r.organizer_user_id == organizer_user_id && r.room_id.as_ref() == Some(&named.room_id)
    }) {
        return Ok(Some(named.clone()));
    }
    let room = db.meet_room_alone(company_id, &named.room_id).await?;
    Ok(room
        .filter(|room| room.host_user_id == organizer_user_id)
        .map(|_| named.clone()))
}

fn failed(e: RoomError) -> MeetingError {
    match e {
        RoomError::Ended => MeetingError::Ended,
        RoomError::NotHost => MeetingError::NotOurs,
        other => MeetingError::Failed(other.to_string()),
    }
}

/// Makes the room of `record` (if it has one) match it: made when missing, else its name, time,
/// length and participants changed.
pub async fn align(
    meet: &MeetService,
    db: &Db,
    record: &EventRecord,
    participants: Vec<String>,
    now: UnixTime,
) -> Result<(), MeetingError> {
    let Some(room_id) = &record.room_id else {
        return Ok(());
    };
    if !is_room_id(room_id) {
        return Err(MeetingError::NotOurs);
    }
    let rooms = meet.rooms(db);
    let host = host(record);
    let name: String = record.title.chars().take(MAX_NAME_CHARS).collect();
    let duration = record.duration_minutes.clamp(1, MAX_DURATION_MINUTES);
    let existing = db
        .meet_room_alone(&record.company_id, room_id)
        .await
        .map_err(|e| MeetingError::Failed(format!("{e:#}")))?;
    match existing {
        None => {
            let new = NewRoom {
                name,
                scheduled_time: Some(record.starts_at),
                duration_minutes: Some(duration),
                participants,
            };
            rooms
                .create_as(room_id.clone(), &host, new, now)
                .await
                .map_err(failed)?;
        }
        Some(room) if room.host_user_id != record.organizer_user_id => {
            return Err(MeetingError::NotOurs)
        }
        Some(room) if room.status == RoomStatus::Completed => return Err(MeetingError::Ended),
        Some(_) => {
            let change = RoomChange {
                name: Some(name),
                scheduled_time: Some(Some(record.starts_at)),
                duration_minutes: Some(Some(duration)),
                participants: Some(participants),
            };
            rooms
                .change(&host, room_id, &change, now)
                .await
                .map_err(failed)?;
        }
    }
    Ok(())
}

/// Cancels room `room_id` of `record`'s organizer: completed here, so nobody can join it any
/// more, then closed in LiveKit (whoever is in it is disconnected). A room someone else hosts
/// is not cancelled ([`MeetingError::NotOurs`]).
pub async fn cancel(
    meet: &MeetService,
    db: &Db,
    record: &EventRecord,
    room_id: &str,
    now: UnixTime,
) -> Result<(), MeetingError> {
    let rooms = meet.rooms(db);
    let host = host(record);
    let room = match rooms.hosted(&host, room_id).await {
        Ok(room) => room,
        Err(RoomError::NotFound) => return Ok(()),
        Err(e) => return Err(failed(e)),
    };
    if room.status != RoomStatus::Completed {
        rooms.complete(&host, room_id, now).await.map_err(failed)?;
    }
    meet.close_in_livekit(room_id)
        .await
        .map_err(|e| MeetingError::Failed(format!("LiveKit: {e:?}")))
}

/// The outbox's retries of rooms (`calendar_meeting` jobs), when Meet is on: any node with
/// `[meet]` can do them (they touch the record and the room only, not CalDAV).
pub fn retries(config: &Config) -> anyhow::Result<Option<Arc<dyn CalendarMeetings>>> {
    Ok(MeetService::from_config(config)?
        .map(|meet| Arc::new(Retries { meet }) as Arc<dyn CalendarMeetings>))
}

struct Retries {
    meet: MeetService,
}

#[async_trait]
impl CalendarMeetings for Retries {
    async fn sync(
        &self,
        job: &CalendarMeetingSync,
        db: &Db,
        directory: &dyn Directory,
        now: UnixTime,
    ) -> Outcome {
        let record = match db
            .calendar_event(&job.company_id, &job.organizer_user_id, &job.event_uid)
            .await
        {
            Ok(Some(record)) => record,
            Ok(None) => return Outcome::Fail("the event has no record".into()),
            Err(e) => return Outcome::Retry(format!("{e:#}")),
        };
        let done = match (&job.cancel_room, &record.room_id) {
            (Some(room), _) => cancel(&self.meet, db, &record, room, now).await,
            // The record moved on: that change's own attempt (or job) has the room.
            (None, _) if record.sequence > job.sequence => Ok(()),
            (None, Some(room)) if record.deleted_at.is_some() => {
                cancel(&self.meet, db, &record, room, now).await
            }
            (None, _) if record.deleted_at.is_some() => Ok(()),
            (None, _) => {
                match company_attendees(directory, &record.company_id, &record.attendees).await {
                    Ok(participants) => align(&self.meet, db, &record, participants, now).await,
                    Err(e) => return Outcome::Retry(format!("{e:#}")),
                }
            }
        };
        match done {
            Ok(()) => Outcome::Done,
            Err(MeetingError::Ended) => {
                tracing::info!(uid = %record.uid, "the event's meeting has ended: its room is left as it is");
                Outcome::Done
            }
            Err(MeetingError::NotOurs) => {
                tracing::warn!(uid = %record.uid, "the event names a room its organizer does not host: left as it is");
                Outcome::Done
            }
            Err(MeetingError::Failed(e)) => Outcome::Retry(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::calendar::ical::When;

    fn spec(location: Option<&str>, description: Option<&str>) -> EventSpec {
        EventSpec {
            uid: "u".into(),
            sequence: 0,
            title: "t".into(),
            when: When::AllDay {
                start: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
                end: chrono::NaiveDate::from_ymd_opt(2025, 1, 2).unwrap(),
            },
            location: location.map(str::to_owned),
            description: description.map(str::to_owned),
            recurrence: None,
            organizer: None,
            attendees: Vec::new(),
            meeting: Some(MeetingLink {
                room_id: "bhm-abcde-fghij-klmno".into(),
                join_url: "https://meet.example/join/bhm-abcde-fghij-klmno".into(),
            }),
        }
    }

    #[test]
    fn the_link_goes_in_and_comes_out_again() {
        for (location, description) in [
            (None, None),
            (Some("Room 4"), Some("Agenda:\n1. this")),
            (Some("Room 4"), None),
        ] {
            let mut s = spec(location, description);
            with_link(&mut s);
            let url = "https://meet.example/join/bhm-abcde-fghij-klmno";
            assert!(s.location.as_deref().unwrap().contains(url));
            assert!(s.description.as_deref().unwrap().ends_with(url));
            let shown = shown(
                s.meeting.as_ref(),
                s.location.as_deref(),
                s.description.as_deref(),
            );
            assert_eq!(
                shown,
                (location.map(str::to_owned), description.map(str::to_owned))
            );
        }
    }
}
