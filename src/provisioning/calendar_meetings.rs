//! The outbox's retry of an event's Meet room (`calendar_meeting` jobs): made to match the
//! event's record, or cancelled, after doing it at once from the calendar API failed.
//!
//! The steps are the calendar area's, which knows Meet; this layer does not, so the area hands
//! them over as a [`CalendarMeetings`] (the composition root, `app`, wires it in). Without it
//! (no `[meet]` here) such a job fails with a clear message.

use async_trait::async_trait;

use super::{Outcome, Provisioning};
use crate::clock::UnixTime;
use crate::directory::Directory;
use crate::store::outbox::CalendarMeetingSync;
use crate::store::Db;

/// Brings an event's room in line with the event's record.
#[async_trait]
pub trait CalendarMeetings: Send + Sync {
    async fn sync(
        &self,
        job: &CalendarMeetingSync,
        db: &Db,
        directory: &dyn Directory,
        now: UnixTime,
    ) -> Outcome;
}

pub async fn sync(provisioning: &Provisioning, job: &CalendarMeetingSync) -> Outcome {
    match &provisioning.calendar_meetings {
        Some(meetings) => {
            meetings
                .sync(
                    job,
                    &provisioning.db,
                    provisioning.directory.as_ref(),
                    provisioning.clock.now(),
                )
                .await
        }
        None => Outcome::Fail("Bheem Meet ([meet]) is not configured on this node".into()),
    }
}
