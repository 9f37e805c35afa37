//! The outbox's retry of an event's Meet room (`calendar_meeting` jobs): made to match the
//! event's record, or cancelled when the meeting was taken off the event or the event deleted,
//! after doing it at once from the calendar API failed. The steps are the API's
//! (`workspace::calendar::meetings`).

use super::{Outcome, Provisioning};
use crate::store::outbox::CalendarMeetingSync;
use crate::workspace::calendar::meetings::{align, cancel, company_attendees, MeetingError};
use crate::workspace::meet::MeetService;

pub async fn sync(provisioning: &Provisioning, job: &CalendarMeetingSync) -> Outcome {
    let meet = match MeetService::from_config(&provisioning.config) {
        Ok(Some(meet)) => meet,
        Ok(None) => return Outcome::Fail("Bheem Meet ([meet]) is not configured".into()),
        Err(e) => return Outcome::Fail(format!("Bheem Meet cannot be set up: {e:#}")),
    };
    let record = match provisioning
        .db
        .calendar_event(&job.company_id, &job.organizer_user_id, &job.event_uid)
        .await
    {
        Ok(Some(record)) => record,
        Ok(None) => return Outcome::Fail("the event has no record".into()),
        Err(e) => return Outcome::Retry(format!("{e:#}")),
    };
    let now = provisioning.clock.now();
    let done = match &job.cancel_room {
        Some(room) => cancel(&meet, &provisioning.db, &record, room, now).await,
        // The record moved on to a later change: that change's own attempt (or job) has it.
        None if record.sequence > job.sequence => Ok(()),
        None if record.deleted_at.is_some() => match &record.room_id {
            Some(room) => cancel(&meet, &provisioning.db, &record, room, now).await,
            None => Ok(()),
        },
        None => {
            let participants = match company_attendees(
                provisioning.directory.as_ref(),
                &record.company_id,
                &record.attendees,
            )
            .await
            {
                Ok(participants) => participants,
                Err(e) => return Outcome::Retry(format!("{e:#}")),
            };
            align(&meet, &provisioning.db, &record, participants, now).await
        }
    };
    match done {
        Ok(()) => Outcome::Done,
        Err(MeetingError::Ended) => {
            tracing::info!(uid = %record.uid, "the event's meeting has ended: its room is left as it is");
            Outcome::Done
        }
        Err(MeetingError::Failed(e)) => Outcome::Retry(e),
    }
}
