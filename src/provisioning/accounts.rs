//! Which downstream accounts a login or a deactivation calls for, as outbox jobs.

use std::collections::BTreeSet;

use crate::app::AppState;
use crate::config::ProvisionTarget;
use crate::directory::User;
use crate::oidc::client::Client;
use crate::store::outbox::{AccountJob, Job};
use crate::store::sessions::SsoSession;

/// The accounts a login through `client` needs: the global targets and the client's own. The
/// dedupe key makes this "on first login": later logins find the job there and add nothing.
fn jobs_for_login(state: &AppState, user: &User, client: Option<&Client>) -> Vec<Job> {
    let mut targets: BTreeSet<ProvisionTarget> =
        state.config.provisioning.targets.iter().copied().collect();
    if let Some(client) = client {
        targets.extend(client.provision.iter().copied());
    }
    targets
        .into_iter()
        .map(|t| Job::create_account(t, &user.id))
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
        crate::secrets::new_secret(),
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
pub async fn job_user(state: &AppState, job: &AccountJob) -> Result<User, super::Outcome> {
    use super::Outcome;
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
    let create_key = |t: ProvisionTarget| Job::create_account(t, user_id).dedupe_key();
    let keys: Vec<String> = targets.iter().map(|t| create_key(*t)).collect();
    let existing = state.db.existing_job_keys(&keys).await?;
    let jobs: Vec<Job> = targets
        .iter()
        .filter(|t| existing.contains(&create_key(**t)))
        .map(|t| Job::disable_account(*t, user_id))
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
    for target in [ProvisionTarget::Nextcloud, ProvisionTarget::Mailcow] {
        users.extend(state.db.users_with_account_jobs(target).await?);
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
