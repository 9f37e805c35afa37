//! The outbox worker: takes due jobs, hands each to the module for its kind, and records the
//! outcome. Failures are retried with exponential backoff and jitter up to a limit, then the job
//! is marked failed with the downstream's message, for `bheem-sso provisioning status/retry`.

pub mod accounts;
pub mod backchannel;
pub mod calendar_meetings;
pub mod erp_sync;
pub mod invitations;
pub mod mailcow;
pub mod nextcloud;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::audit::{Audit, Event, Kind, SYSTEM};
use crate::clock::Clock;
use crate::config::Config;
use crate::config::ProvisionTarget::{Mailcow, Nextcloud};
use crate::directory::Directory;
use crate::keys::KeyRing;
use crate::store::outbox::{ClaimedJob, Job};
use crate::store::Db;
use crate::telemetry::{self, DeliveryOutcome, DeliveryTarget};

/// What the outbox worker and the account jobs use; cheap to clone.
#[derive(Clone)]
pub struct Provisioning {
    pub config: Arc<Config>,
    pub db: Db,
    pub directory: Arc<dyn Directory>,
    pub clock: Clock,
    /// Back-channel logout tokens are signed when they are delivered.
    pub keys: KeyRing,
    /// For the downstream APIs: one connection pool for every job.
    pub http: reqwest::Client,
    pub audit: Audit,
    /// The ERP's database, when `[erp_sync]` copies objects into it.
    pub erp: Option<erp_sync::ErpSync>,
    /// The calendar area's steps for an event's Meet room, when both are on (set by `app`).
    pub calendar_meetings: Option<Arc<dyn calendar_meetings::CalendarMeetings>>,
}

impl Provisioning {
    pub fn new(
        config: Arc<Config>,
        db: Db,
        directory: Arc<dyn Directory>,
        clock: Clock,
        keys: KeyRing,
        audit: Audit,
    ) -> Self {
        let http = http_client(&config);
        let erp = config.erp_sync.as_ref().map(|erp| {
            let timeout = Duration::from_secs(config.outbox.request_timeout_seconds);
            erp_sync::ErpSync::connect(erp, timeout)
        });
        Self {
            config,
            db,
            directory,
            clock,
            keys,
            http,
            audit,
            erp: erp
                .transpose()
                .expect("erp_sync.url was checked when the configuration was read"),
            calendar_meetings: None,
        }
    }
}

/// How a job went.
#[derive(Debug)]
pub enum Outcome {
    Done,
    /// Worth trying again later (the downstream was down, slow, or said 5xx).
    Retry(String),
    /// Trying again will not help (the downstream refused the request itself).
    Fail(String),
}

/// Lease on a claimed job: long enough for one attempt with its timeout.
fn lease_seconds(config: &Config) -> i64 {
    (config.outbox.request_timeout_seconds * 3) as i64
}

fn http_client(config: &Config) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(config.outbox.request_timeout_seconds))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("bheem-sso/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("HTTP client builds")
}

/// Checks users with downstream accounts for deactivation, every `sweep_interval_seconds`.
pub async fn run_sweeper(provisioning: Provisioning) {
    let mut every = tokio::time::interval(Duration::from_secs(
        provisioning
            .config
            .provisioning
            .sweep_interval_seconds
            .max(1),
    ));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match accounts::sweep(&provisioning).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                users = n,
                "deactivated users found; their downstream accounts are being disabled"
            ),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "deactivation sweep failed"),
        }
    }
}

/// Runs until the task is dropped.
pub async fn run_worker(provisioning: Provisioning) {
    let mut every = tokio::time::interval(Duration::from_millis(
        provisioning.config.outbox.poll_interval_ms,
    ));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = run_once(&provisioning).await {
            tracing::warn!(error = format!("{e:#}"), "outbox worker round failed");
        }
    }
}

/// One round: claim what is due and do it. Returns how many jobs were attempted.
pub async fn run_once(provisioning: &Provisioning) -> anyhow::Result<usize> {
    let jobs = provisioning
        .db
        .claim_jobs(
            provisioning.clock.now(),
            lease_seconds(&provisioning.config),
            16,
        )
        .await?;
    let count = jobs.len();
    for job in jobs {
        let outcome = dispatch(provisioning, &job).await;
        record(provisioning, &job, outcome).await?;
    }
    Ok(count)
}

async fn dispatch(provisioning: &Provisioning, job: &ClaimedJob) -> Outcome {
    let http = &provisioning.http;
    let job = match job.job() {
        Ok(job) => job,
        Err(unreadable) => return Outcome::Fail(unreadable.to_string()),
    };
    let outcome = match &job {
        Job::BackchannelLogout(logout) => backchannel::deliver(provisioning, http, logout).await,
        Job::CreateAccount(Nextcloud, account) => {
            nextcloud::create(provisioning, http, account).await
        }
        Job::DisableAccount(Nextcloud, account) => {
            nextcloud::disable(provisioning, http, account).await
        }
        Job::CreateAccount(Mailcow, account) => mailcow::create(provisioning, http, account).await,
        Job::DisableAccount(Mailcow, account) => {
            mailcow::disable(provisioning, http, account).await
        }
        Job::SyncMeetRoom(sync) => erp_sync::sync_room(provisioning, sync).await,
        Job::SyncMeetRecording(sync) => erp_sync::sync_recording(provisioning, sync).await,
        Job::SyncDocsDocument(sync) => erp_sync::sync_document(provisioning, sync).await,
        Job::SendCalendarInvitation(invitation) => {
            invitations::deliver(provisioning, invitation).await
        }
        Job::SyncCalendarMeeting(sync) => calendar_meetings::sync(provisioning, sync).await,
    };
    let target = match &job {
        Job::BackchannelLogout(_) => DeliveryTarget::Backchannel,
        Job::CreateAccount(Nextcloud, _) | Job::DisableAccount(Nextcloud, _) => {
            DeliveryTarget::Nextcloud
        }
        Job::CreateAccount(Mailcow, _) | Job::DisableAccount(Mailcow, _) => DeliveryTarget::Mailcow,
        Job::SyncMeetRoom(_) | Job::SyncMeetRecording(_) | Job::SyncDocsDocument(_) => {
            DeliveryTarget::Erp
        }
        Job::SendCalendarInvitation(_) => DeliveryTarget::Mail,
        Job::SyncCalendarMeeting(_) => DeliveryTarget::Livekit,
    };
    delivered(target, &outcome);
    outcome
}

/// Counts a delivery to `target` in the metrics.
fn delivered(target: DeliveryTarget, outcome: &Outcome) {
    let outcome = match outcome {
        Outcome::Done => DeliveryOutcome::Done,
        Outcome::Retry(_) => DeliveryOutcome::Retry,
        Outcome::Fail(_) => DeliveryOutcome::Fail,
    };
    telemetry::delivery(target, outcome);
}

async fn record(
    provisioning: &Provisioning,
    job: &ClaimedJob,
    outcome: Outcome,
) -> anyhow::Result<()> {
    let now = provisioning.clock.now();
    let config = &provisioning.config.outbox;
    match outcome {
        Outcome::Done => {
            tracing::info!(job = %job.id, kind = %job.kind, attempts = job.attempts, "outbox job done");
            provisioning.db.complete_job(&job.id, now).await?;
            provisioning
                .audit
                .record(job_event(Kind::ProvisioningDone, job));
            Ok(())
        }
        Outcome::Retry(error) if job.attempts < i64::from(config.max_attempts) => {
            let exponent = (job.attempts - 1).clamp(0, 20) as u32;
            let backoff = config
                .retry_base_seconds
                .saturating_mul(1u64 << exponent)
                .min(config.retry_max_seconds);
            let jittered =
                (backoff as f64 * rand::thread_rng().gen_range(0.75..1.25)).round() as i64;
            tracing::warn!(job = %job.id, kind = %job.kind, attempts = job.attempts, retry_in = jittered, %error, "outbox job failed; will retry");
            provisioning
                .db
                .fail_job(&job.id, &error, Some(now + jittered.max(1)), now)
                .await
        }
        Outcome::Retry(error) | Outcome::Fail(error) => {
            tracing::error!(job = %job.id, kind = %job.kind, attempts = job.attempts, %error, "outbox job failed for good");
            provisioning.db.fail_job(&job.id, &error, None, now).await?;
            provisioning
                .audit
                .record(job_event(Kind::ProvisioningFailed, job).detail("error", error));
            Ok(())
        }
    }
}

/// A job's outcome for the audit trail: the job, and whom it was for.
fn job_event(kind: Kind, claimed: &ClaimedJob) -> Event {
    let event = Event::new(kind, SYSTEM)
        .detail("job", claimed.id.as_str())
        .detail("job_kind", claimed.kind.as_str())
        .detail("attempts", claimed.attempts);
    match claimed.job() {
        Ok(Job::BackchannelLogout(logout)) => event.user(logout.sub).client(logout.client_id),
        Ok(Job::CreateAccount(target, account) | Job::DisableAccount(target, account)) => event
            .user(account.user_id)
            .detail("target", target.as_str()),
        Ok(Job::SyncMeetRoom(sync)) => event.detail("room", sync.room_id).detail("target", "erp"),
        Ok(Job::SyncMeetRecording(sync)) => event
            .detail("recording", sync.recording_id)
            .detail("target", "erp"),
        Ok(Job::SyncDocsDocument(sync)) => event
            .company(sync.company_id)
            .detail("document", sync.file_id)
            .detail("target", "erp"),
        Ok(Job::SendCalendarInvitation(invitation)) => event
            .company(invitation.company_id)
            .user(invitation.organizer_user_id)
            .detail("event", invitation.event_uid)
            .detail("target", "mail"),
        Ok(Job::SyncCalendarMeeting(sync)) => event
            .company(sync.company_id)
            .user(sync.organizer_user_id)
            .detail("event", sync.event_uid)
            .detail("target", "meet"),
        Err(_) => event,
    }
}
