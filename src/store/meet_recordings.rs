//! The recordings of Meet's rooms: one row per LiveKit egress. Reads take the company, as a
//! room's do; the outcome is written by LiveKit's signed `egress_ended` webhook, by egress id.

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::outbox::{enqueue, Job};
use super::{is_unique_violation, Db};
use crate::clock::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingStatus {
    /// LiveKit is recording (or still uploading).
    Recording,
    /// The file is in the bucket.
    Complete,
    Failed,
}

impl RecordingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recording => "recording",
            Self::Complete => "complete",
            Self::Failed => "failed",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "recording" => Some(Self::Recording),
            "complete" => Some(Self::Complete),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub id: String,
    pub room_id: String,
    pub company_id: String,
    pub egress_id: String,
    pub status: RecordingStatus,
    pub s3_key: String,
    pub started_by: String,
    pub started_at: UnixTime,
    pub ended_at: Option<UnixTime>,
    pub duration_seconds: Option<i64>,
    pub size_bytes: Option<i64>,
    pub error: Option<String>,
}

/// How an egress ended, as LiveKit reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Complete {
        duration_seconds: i64,
        size_bytes: i64,
    },
    Failed {
        error: String,
    },
}

const COLUMNS: &str = "id, room_id, company_id, egress_id, status, s3_key, started_by, \
                       started_at, ended_at, duration_seconds, size_bytes, error";

fn recording_from(row: &AnyRow) -> anyhow::Result<Recording> {
    let status: String = row.try_get("status")?;
    Ok(Recording {
        id: row.try_get("id")?,
        room_id: row.try_get("room_id")?,
        company_id: row.try_get("company_id")?,
        egress_id: row.try_get("egress_id")?,
        status: RecordingStatus::parse(&status)
            .with_context(|| format!("a recording with the unknown status {status:?}"))?,
        s3_key: row.try_get("s3_key")?,
        started_by: row.try_get("started_by")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        duration_seconds: row.try_get("duration_seconds")?,
        size_bytes: row.try_get("size_bytes")?,
        error: row.try_get("error")?,
    })
}

impl Db {
    /// Stores a recording LiveKit has started; `Ok(false)` when the room has a running one
    /// already (another start won).
    pub async fn insert_meet_recording(&self, recording: &Recording) -> anyhow::Result<bool> {
        let inserted = sqlx::query(&format!(
            "INSERT INTO meet_recordings ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(recording.id.clone())
        .bind(recording.room_id.clone())
        .bind(recording.company_id.clone())
        .bind(recording.egress_id.clone())
        .bind(recording.status.as_str())
        .bind(recording.s3_key.clone())
        .bind(recording.started_by.clone())
        .bind(recording.started_at)
        .bind(recording.ended_at)
        .bind(recording.duration_seconds)
        .bind(recording.size_bytes)
        .bind(recording.error.clone())
        .execute(self.pool())
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e).with_context(|| {
                format!("storing the recording of meet room {}", recording.room_id)
            }),
        }
    }

    /// The running recording of room `room_id`, if any.
    pub async fn running_meet_recording(&self, room_id: &str) -> anyhow::Result<Option<Recording>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM meet_recordings WHERE room_id = $1 AND status = 'recording'"
        ))
        .bind(room_id.to_owned())
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("loading the running recording of meet room {room_id}"))?;
        row.as_ref().map(recording_from).transpose()
    }

    /// The recordings of room `room_id` of `company_id`, newest first.
    pub async fn meet_recordings(
        &self,
        company_id: &str,
        room_id: &str,
    ) -> anyhow::Result<Vec<Recording>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM meet_recordings WHERE room_id = $1 AND company_id = $2 \
             ORDER BY started_at DESC, id DESC"
        ))
        .bind(room_id.to_owned())
        .bind(company_id.to_owned())
        .fetch_all(self.pool())
        .await
        .with_context(|| format!("listing the recordings of meet room {room_id}"))?;
        rows.iter().map(recording_from).collect()
    }

    /// The recording of `egress_id`, whatever its company (LiveKit's webhooks and the ERP sync
    /// act for no caller).
    pub async fn meet_recording_by_egress(
        &self,
        egress_id: &str,
    ) -> anyhow::Result<Option<Recording>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM meet_recordings WHERE egress_id = $1"
        ))
        .bind(egress_id.to_owned())
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("loading the recording of egress {egress_id}"))?;
        row.as_ref().map(recording_from).transpose()
    }

    /// Records how egress `egress_id` ended, once: a recording that has ended already stays as
    /// it is (a repeated webhook). With the jobs the ended recording calls for. `Ok(None)`: not
    /// one of ours, or ended already.
    pub async fn end_meet_recording(
        &self,
        egress_id: &str,
        ending: &Ending,
        now: UnixTime,
        jobs: impl Fn(&Recording) -> Vec<Job>,
    ) -> anyhow::Result<Option<Recording>> {
        let (status, duration, size, error) = match ending {
            Ending::Complete {
                duration_seconds,
                size_bytes,
            } => (
                RecordingStatus::Complete,
                Some(*duration_seconds),
                Some(*size_bytes),
                None,
            ),
            Ending::Failed { error } => (RecordingStatus::Failed, None, None, Some(error.clone())),
        };
        let mut tx = self
            .pool()
            .begin()
            .await
            .context("beginning a recording's end")?;
        let ended = sqlx::query(
            "UPDATE meet_recordings SET status = $1, ended_at = $2, duration_seconds = $3, \
             size_bytes = $4, error = $5 WHERE egress_id = $6 AND status = 'recording'",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(duration)
        .bind(size)
        .bind(error)
        .bind(egress_id.to_owned())
        .execute(&mut *tx)
        .await
        .with_context(|| format!("ending the recording of egress {egress_id}"))?
        .rows_affected();
        if ended == 0 {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM meet_recordings WHERE egress_id = $1"
        ))
        .bind(egress_id.to_owned())
        .fetch_one(&mut *tx)
        .await
        .with_context(|| format!("reading back the recording of egress {egress_id}"))?;
        let recording = recording_from(&row)?;
        for job in jobs(&recording) {
            enqueue(&mut tx, &job, now).await?;
        }
        tx.commit().await.context("committing a recording's end")?;
        Ok(Some(recording))
    }

    /// The recording `id`, whatever its company, for the ERP sync job.
    pub async fn meet_recording_for_sync(&self, id: &str) -> anyhow::Result<Option<Recording>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM meet_recordings WHERE id = $1"
        ))
        .bind(id.to_owned())
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("loading recording {id}"))?;
        row.as_ref().map(recording_from).transpose()
    }
}
