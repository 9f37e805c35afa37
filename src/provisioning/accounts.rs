//! Which downstream accounts a login or a deactivation calls for, as outbox jobs.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::config::ProvisionTarget;
use crate::directory::User;
use crate::oidc::client::Client;
use crate::store::outbox::NewJob;
use crate::store::sessions::SsoSession;

pub const CREATE_NEXTCLOUD: &str = "provision_nextcloud";
pub const CREATE_MAILCOW: &str = "provision_mailcow";
pub const DISABLE_NEXTCLOUD: &str = "disable_nextcloud";
pub const DISABLE_MAILCOW: &str = "disable_mailcow";

/// Jobs carry only the user's id: the job reads the directory when it runs, so a retried job
/// sends what is true then.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccountJob {
    pub user_id: String,
}

fn create_kind(target: ProvisionTarget) -> &'static str {
    match target {
        ProvisionTarget::Nextcloud => CREATE_NEXTCLOUD,
        ProvisionTarget::Mailcow => CREATE_MAILCOW,
    }
}

fn disable_kind(target: ProvisionTarget) -> &'static str {
    match target {
        ProvisionTarget::Nextcloud => DISABLE_NEXTCLOUD,
        ProvisionTarget::Mailcow => DISABLE_MAILCOW,
    }
}

pub(crate) fn create_key(target: ProvisionTarget, user_id: &str) -> String {
    format!("{}:create:{user_id}", target.as_str())
}

fn job(kind: &str, key: String, user_id: &str) -> NewJob {
    NewJob {
        kind: kind.to_owned(),
        dedupe_key: key,
        payload: serde_json::to_string(&AccountJob {
            user_id: user_id.to_owned(),
        })
        .expect("serialises"),
    }
}

/// The accounts a login through `client` needs: the global targets and the client's own. The
/// dedupe key makes this "on first login": later logins find the job there and add nothing.
fn jobs_for_login(state: &AppState, user: &User, client: Option<&Client>) -> Vec<NewJob> {
    let mut targets: BTreeSet<ProvisionTarget> =
        state.config.provisioning.targets.iter().copied().collect();
    if let Some(client) = client {
        targets.extend(client.provision.iter().copied());
    }
    targets
        .into_iter()
        .map(|t| job(create_kind(t), create_key(t, &user.id), &user.id))
        .collect()
}

/// Records a login: a new SSO session, and in the same transaction the accounts it calls for.
/// Returns the session, as [`crate::store::Db::sso_session`] would now read it.
pub async fn record_login(
    state: &AppState,
    user: &User,
    client: Option<&Client>,
) -> anyhow::Result<SsoSession> {
    let now = state.clock.now();
    let session = SsoSession::started(
        crate::oidc::tokens::new_secret(),
        user.id.clone(),
        user.company_id.to_string(),
        now,
        now + state.config.session.absolute_seconds as i64,
    );
    let jobs = jobs_for_login(state, user, client);
    state.db.create_sso_session(&session, &jobs).await?;
    Ok(session)
}

/// The user a provisioning job is about, read from the directory now.
pub async fn job_user(state: &AppState, payload: &str) -> Result<User, super::Outcome> {
    use super::Outcome;
    let job: AccountJob = serde_json::from_str(payload)
        .map_err(|e| Outcome::Fail(format!("unreadable payload: {e}")))?;
    match state.directory.find_by_id(&job.user_id).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(Outcome::Fail(format!(
            "user {} is not in the directory",
            job.user_id
        ))),
        Err(e) => Err(Outcome::Retry(format!("directory: {e:#}"))),
    }
}

/// A user found disabled: disable the downstream accounts made for them and end their sessions
/// (which tells the clients through back-channel logout).
pub async fn deactivated(state: &AppState, user_id: &str) -> anyhow::Result<()> {
    let now = state.clock.now();
    let targets = [ProvisionTarget::Nextcloud, ProvisionTarget::Mailcow];
    let keys: Vec<String> = targets.iter().map(|t| create_key(*t, user_id)).collect();
    let existing = state.db.existing_job_keys(&keys).await?;
    let jobs: Vec<NewJob> = targets
        .iter()
        .filter(|t| existing.contains(&create_key(**t, user_id)))
        .map(|t| {
            job(
                disable_kind(*t),
                format!("{}:disable:{user_id}", t.as_str()),
                user_id,
            )
        })
        .collect();
    if !jobs.is_empty() {
        state.db.enqueue_jobs(&jobs, now).await?;
    }
    for sid in state.db.live_sessions_of(user_id).await? {
        state.db.end_sso_session(&sid, "user disabled", now).await?;
    }
    Ok(())
}

/// Checks every user with downstream accounts against the directory.
pub async fn sweep(state: &AppState) -> anyhow::Result<usize> {
    let mut users = BTreeSet::new();
    for kind in [CREATE_NEXTCLOUD, CREATE_MAILCOW] {
        for payload in state.db.job_payloads(kind).await? {
            if let Ok(job) = serde_json::from_str::<AccountJob>(&payload) {
                users.insert(job.user_id);
            }
        }
    }
    let mut disabled = 0;
    for user_id in users {
        let active = state
            .directory
            .find_by_id(&user_id)
            .await?
            .is_some_and(|u| u.active);
        if !active {
            deactivated(state, &user_id).await?;
            disabled += 1;
        }
    }
    Ok(disabled)
}
