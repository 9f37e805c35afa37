//! The durable outbox: work for the world outside (back-channel logout, downstream accounts),
//! written in the same transaction as the change that causes it, and done by workers that may
//! run in several processes at once. A job is claimed with a lease; a worker that dies leaves a
//! lease that runs out, and the job is claimed again. The jobs themselves are in `jobs.rs`.

mod jobs;

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

pub use jobs::{
    AccountJob, BackchannelLogout, CalendarInvitation, CalendarMeetingSync, DocsDocumentSync, Job,
    MeetRecordingSync, MeetRoomSync, UnreadableJob, KINDS,
};

use super::Db;
use crate::clock::UnixTime;
use crate::config::{Backend, ProvisionTarget};

/// A job a worker claimed, as its row holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    pub id: String,
    pub kind: String,
    pub payload: String,
    /// Attempts including the one now under way.
    pub attempts: i64,
}

impl ClaimedJob {
    /// The job its row holds.
    pub fn job(&self) -> Result<Job, UnreadableJob> {
        Job::read(&self.kind, &self.payload)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    pub id: String,
    pub kind: String,
    pub dedupe_key: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: UnixTime,
    pub last_error: Option<String>,
    pub updated_at: UnixTime,
}

/// The outbox at a glance, for the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxLoad {
    /// Jobs not done, by kind and state (`pending`, `running`, `failed`).
    pub jobs: Vec<(String, String, u64)>,
    /// For each kind with a pending job that is due, how many seconds the oldest has been due.
    pub oldest_due: Vec<(String, u64)>,
}

/// Adds a job unless one with the same [`Job::dedupe_key`] exists (then nothing happens).
pub async fn enqueue(
    tx: &mut Transaction<'_, Any>,
    job: &Job,
    now: UnixTime,
) -> anyhow::Result<()> {
    let (kind, dedupe_key) = (job.kind(), job.dedupe_key());
    sqlx::query(
        "INSERT INTO outbox (id, kind, dedupe_key, payload, state, attempts, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(kind)
    .bind(dedupe_key.clone())
    .bind(job.payload())
    .bind(now)
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await
    .with_context(|| format!("queueing {kind} job {dedupe_key}"))?;
    Ok(())
}

fn job_from(row: &AnyRow) -> Result<ClaimedJob, sqlx::Error> {
    Ok(ClaimedJob {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        attempts: row.try_get("attempts")?,
    })
}

impl Db {
    /// Claims up to `limit` due jobs for `lease_seconds`. On PostgreSQL `FOR UPDATE SKIP LOCKED`
    /// keeps concurrent workers off each other's rows; SQLite has one writer at a time anyway.
    pub async fn claim_jobs(
        &self,
        now: UnixTime,
        lease_seconds: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<ClaimedJob>> {
        let lock = match self.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outbox SET state = 'running', locked_until = $1, attempts = attempts + 1, updated_at = $2 \
             WHERE id IN (SELECT id FROM outbox WHERE (state = 'pending' AND next_attempt_at <= $3) \
             OR (state = 'running' AND locked_until < $4) ORDER BY next_attempt_at LIMIT $5 {lock}) \
             RETURNING id, kind, payload, attempts"
        );
        let rows = sqlx::query(&sql)
            .bind(now + lease_seconds)
            .bind(now)
            .bind(now)
            .bind(now)
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .context("claiming outbox jobs")?;
        Ok(rows.iter().map(job_from).collect::<Result<_, _>>()?)
    }

    pub async fn complete_job(&self, id: &str, now: UnixTime) -> anyhow::Result<()> {
        sqlx::query("UPDATE outbox SET state = 'done', locked_until = NULL, last_error = NULL, updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.to_owned())
            .execute(self.pool())
            .await
            .context("completing an outbox job")?;
        Ok(())
    }

    /// Records a failed attempt: back to `pending` at `retry_at`, or `failed` for good.
    pub async fn fail_job(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<UnixTime>,
        now: UnixTime,
    ) -> anyhow::Result<()> {
        let error: String = error.chars().take(2000).collect();
        let (state, next) = match retry_at {
            Some(at) => ("pending", at),
            None => ("failed", now),
        };
        sqlx::query(
            "UPDATE outbox SET state = $1, next_attempt_at = $2, locked_until = NULL, last_error = $3, updated_at = $4 \
             WHERE id = $5",
        )
        .bind(state)
        .bind(next)
        .bind(error)
        .bind(now)
        .bind(id.to_owned())
        .execute(self.pool())
        .await
        .context("recording a failed outbox job")?;
        Ok(())
    }

    /// The state of the job under `dedupe_key` (`pending`, `running`, `done`, `failed`), if any.
    pub async fn job_state(&self, dedupe_key: &str) -> anyhow::Result<Option<String>> {
        sqlx::query_scalar("SELECT state FROM outbox WHERE dedupe_key = $1")
            .bind(dedupe_key.to_owned())
            .fetch_optional(self.pool())
            .await
            .with_context(|| format!("reading the state of job {dedupe_key}"))
    }

    /// Which of these dedupe keys have a job (in any state).
    pub async fn existing_job_keys(&self, keys: &[String]) -> anyhow::Result<Vec<String>> {
        let mut found = Vec::new();
        for key in keys {
            let hit: Option<String> =
                sqlx::query_scalar("SELECT dedupe_key FROM outbox WHERE dedupe_key = $1")
                    .bind(key.clone())
                    .fetch_optional(self.pool())
                    .await
                    .context("looking up an outbox job")?;
            found.extend(hit);
        }
        Ok(found)
    }

    /// The users whose account on `target` was asked for (a create job in any state), for the
    /// deactivation sweep. A payload that does not read names nobody.
    pub async fn users_with_account_jobs(
        &self,
        target: ProvisionTarget,
    ) -> anyhow::Result<Vec<String>> {
        let payloads: Vec<String> =
            sqlx::query_scalar("SELECT payload FROM outbox WHERE kind = $1")
                .bind(jobs::create_kind(target))
                .fetch_all(self.pool())
                .await
                .context("listing outbox jobs by kind")?;
        Ok(payloads
            .iter()
            .filter_map(|payload| serde_json::from_str::<AccountJob>(payload).ok())
            .map(|job| job.user_id)
            .collect())
    }

    /// Queues jobs on their own (not as part of another change).
    pub async fn enqueue_jobs(&self, jobs: &[Job], now: UnixTime) -> anyhow::Result<()> {
        let mut tx = self
            .pool()
            .begin()
            .await
            .context("beginning to queue jobs")?;
        for job in jobs {
            enqueue(&mut tx, job, now).await?;
        }
        tx.commit().await.context("committing queued jobs")?;
        Ok(())
    }

    /// The jobs not done yet by kind and state, and how long each kind's oldest due job has
    /// waited. Done jobs are left out: they are most of the table, and counting them would
    /// cost each scrape a walk over all of them.
    pub async fn outbox_load(&self, now: UnixTime) -> anyhow::Result<OutboxLoad> {
        let rows = sqlx::query(
            "SELECT kind, state, COUNT(*) AS jobs FROM outbox \
             WHERE state IN ('pending', 'running', 'failed') GROUP BY kind, state",
        )
        .fetch_all(self.pool())
        .await
        .context("counting outbox jobs")?;
        let jobs = rows
            .iter()
            .map(|row| {
                let count: i64 = row.try_get("jobs")?;
                Ok((
                    row.try_get("kind")?,
                    row.try_get("state")?,
                    count.max(0) as u64,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()?;
        let rows = sqlx::query(
            "SELECT kind, MIN(next_attempt_at) AS due FROM outbox \
             WHERE state = 'pending' AND next_attempt_at <= $1 GROUP BY kind",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await
        .context("finding the oldest due outbox jobs")?;
        let oldest_due = rows
            .iter()
            .map(|row| {
                let due: i64 = row.try_get("due")?;
                Ok((row.try_get("kind")?, (now - due).max(0) as u64))
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(OutboxLoad { jobs, oldest_due })
    }

    /// Every job, newest first, for operators.
    pub async fn job_statuses(&self) -> anyhow::Result<Vec<JobStatus>> {
        let rows = sqlx::query(
            "SELECT id, kind, dedupe_key, state, attempts, next_attempt_at, last_error, updated_at FROM outbox \
             ORDER BY updated_at DESC, id",
        )
        .fetch_all(self.pool())
        .await
        .context("listing outbox jobs")?;
        rows.iter()
            .map(|row| {
                Ok(JobStatus {
                    id: row.try_get("id")?,
                    kind: row.try_get("kind")?,
                    dedupe_key: row.try_get("dedupe_key")?,
                    state: row.try_get("state")?,
                    attempts: row.try_get("attempts")?,
                    next_attempt_at: row.try_get("next_attempt_at")?,
                    last_error: row.try_get("last_error")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// Puts failed jobs back in line (all, or those whose id or key contains `filter`).
    pub async fn retry_failed_jobs(
        &self,
        filter: Option<&str>,
        now: UnixTime,
    ) -> anyhow::Result<u64> {
        let pattern = format!("%{}%", filter.unwrap_or(""));
        Ok(sqlx::query(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $2 \
             WHERE state = 'failed' AND (id LIKE $3 OR dedupe_key LIKE $4)",
        )
        .bind(now)
        .bind(now)
        .bind(pattern.clone())
        .bind(pattern)
        .execute(self.pool())
        .await
        .context("retrying failed outbox jobs")?
        .rows_affected())
    }
}
