//! Recording a room: the host starts and stops LiveKit's Egress (room composite to an MP4 in the
//! recordings' bucket), LiveKit's `egress_ended` webhook says how it went, and the room's
//! members get download links that expire.

use super::livekit::{EgressInfo, EgressStatus, LiveKitError};
use super::rooms::{Member, RoomError};
use super::{livekit_failed, MeetService};
use crate::clock::UnixTime;
use crate::store::meet_recordings::{Ending, Recording, RecordingStatus};
use crate::store::meet_rooms::RoomStatus;
use crate::store::outbox::Job;
use crate::store::Db;
use crate::workspace::ApiError;

/// A recording as a member of the room's company sees it: with a download link while the
/// file is there.
pub struct Listed {
    pub recording: Recording,
    /// The presigned URL and when it stops working.
    pub download: Option<(String, UnixTime)>,
}

impl MeetService {
    /// The host starts recording room `room_id`. One recording at a time; LiveKit records a
    /// room only once someone is in it.
    pub async fn start_recording(
        &self,
        db: &Db,
        host: &Member,
        room_id: &str,
        now: UnixTime,
    ) -> Result<Recording, ApiError> {
        let room = self.rooms(db).hosted(host, room_id).await?;
        if room.status == RoomStatus::Completed {
            return Err(RoomError::Ended.into());
        }
        let Some(recordings) = &self.recordings else {
            return Err(ApiError::Conflict(
                "recording is not set up on this server ([meet.recordings])".into(),
            ));
        };
        if db.running_meet_recording(&room.id).await?.is_some() {
            return Err(already_recording());
        }
        let key = recordings.object_key(&room.id, now);
        let egress = self
            .livekit
            .start_recording(&room.id, &key, recordings.upload_target())
            .await
            .map_err(|e| match e {
                // LiveKit has no such room: nobody has joined it yet.
                LiveKitError::NotFound(_) => ApiError::Conflict(
                    "nobody is in the meeting yet: LiveKit records a room once someone joins"
                        .into(),
                ),
                e => livekit_failed(e),
            })?;
        let recording = Recording {
            id: uuid::Uuid::new_v4().to_string(),
            room_id: room.id.clone(),
            company_id: room.company_id.clone(),
            egress_id: egress.egress_id.clone(),
            status: RecordingStatus::Recording,
            s3_key: key,
            started_by: host.user_id.clone(),
            started_at: now,
            ended_at: None,
            duration_seconds: None,
            size_bytes: None,
            error: None,
        };
        if !db.insert_meet_recording(&recording).await? {
            // Another start won the race: this egress is one too many.
            if let Err(e) = self.livekit.stop_egress(&egress.egress_id).await {
                tracing::warn!(egress = %egress.egress_id, error = %e, "stopping a second egress failed");
            }
            return Err(already_recording());
        }
        tracing::info!(room = %room.id, egress = %recording.egress_id, "meet recording started");
        Ok(recording)
    }

    /// The host stops the room's running recording. LiveKit finishes the upload and says so by
    /// webhook; when its answer says the egress is over already, that is taken at once.
    pub async fn stop_recording(
        &self,
        db: &Db,
        host: &Member,
        room_id: &str,
        now: UnixTime,
    ) -> Result<Recording, ApiError> {
        let room = self.rooms(db).hosted(host, room_id).await?;
        let Some(running) = db.running_meet_recording(&room.id).await? else {
            return Err(ApiError::Conflict(
                "the meeting is not being recorded".into(),
            ));
        };
        match self.livekit.stop_egress(&running.egress_id).await {
            Ok(info) if info.status.is_over() => {
                Ok(self.egress_over(db, &info, now).await?.unwrap_or(running))
            }
            Ok(_) => Ok(running),
            // LiveKit no longer has it: its `egress_ended` is on the way, or was missed; the
            // recording stays as it is until then.
            Err(LiveKitError::NotFound(_)) => Ok(running),
            Err(e) => Err(livekit_failed(e)),
        }
    }

    /// The recordings of room `room_id`, newest first, for any member of its company.
    pub async fn list_recordings(
        &self,
        db: &Db,
        member: &Member,
        room_id: &str,
        now: UnixTime,
    ) -> Result<Vec<Listed>, ApiError> {
        let room = self.rooms(db).find(member, room_id).await?;
        let recordings = db.meet_recordings(&member.company_id, &room.id).await?;
        let mut listed = Vec::with_capacity(recordings.len());
        for recording in recordings {
            let download = match (&self.recordings, recording.status) {
                (Some(bucket), RecordingStatus::Complete) => {
                    let url = bucket.download_url(&recording.s3_key, now)?;
                    let expires = now + i64::try_from(bucket.url_ttl().as_secs()).unwrap_or(0);
                    Some((url.to_string(), expires))
                }
                _ => None,
            };
            listed.push(Listed {
                recording,
                download,
            });
        }
        Ok(listed)
    }

    /// An egress LiveKit reports over (`egress_ended`, or the answer to a stop): the recording's
    /// outcome, once. `Ok(None)`: not one of ours, or taken already.
    pub(super) async fn egress_over(
        &self,
        db: &Db,
        info: &EgressInfo,
        now: UnixTime,
    ) -> anyhow::Result<Option<Recording>> {
        if !info.status.is_over() {
            return Ok(None);
        }
        let ending = match (info.status, info.file_results.first()) {
            (EgressStatus::Complete, Some(file)) => Ending::Complete {
                duration_seconds: file.duration_seconds(),
                size_bytes: file.size,
            },
            (EgressStatus::Complete, None) => Ending::Failed {
                error: "LiveKit reported no file".into(),
            },
            (status, _) if info.error.is_empty() => Ending::Failed {
                error: status.as_str().to_owned(),
            },
            _ => Ending::Failed {
                error: info.error.clone(),
            },
        };
        let jobs = |recording: &Recording| {
            if self.erp_sync && recording.status == RecordingStatus::Complete {
                vec![Job::sync_meet_recording(&recording.id)]
            } else {
                Vec::new()
            }
        };
        let ended = db
            .end_meet_recording(&info.egress_id, &ending, now, jobs)
            .await?;
        if let Some(recording) = &ended {
            tracing::info!(
                room = %recording.room_id,
                egress = %recording.egress_id,
                status = recording.status.as_str(),
                "meet recording ended"
            );
        }
        Ok(ended)
    }
}

fn already_recording() -> ApiError {
    ApiError::Conflict("the meeting is being recorded already".into())
}
