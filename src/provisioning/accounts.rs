//! Which downstream accounts a login or a deactivation calls for, as outbox jobs.

use std::collections::BTreeSet;

use super::Provisioning;
use crate::audit::{Event, Kind, SYSTEM};
use crate::config::{Config, ProvisionTarget};
use crate::directory::User;
use crate::oidc::client::Client;
use crate::store::outbox::{AccountJob, Job};

/// The accounts a login through `client` needs: the global targets and the client's own. The
/// dedupe key makes this "on first login": later logins find the job there and add nothing.
pub fn jobs_for_login(config: &Config, user: &User, client: Option<&Client>) -> Vec<Job> {
    let mut targets: BTreeSet<ProvisionTarget> =
        config.provisioning.targets.iter().copied().collect();
    if let Some(client) = client {
        targets.extend(client.provision.iter().copied());
    }
    targets
        .into_iter()
        .map(|t| Job::create_account(t, &user.id))
        .collect()
}

/// The user a provisioning job is about, read from the directory now.
pub async fn job_user(
    provisioning: &Provisioning,
    job: &AccountJob,
) -> Result<User, super::Outcome> {
    use super::Outcome;
    match provisioning.directory.find_by_id(&job.user_id).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(Outcome::Fail(format!(
            "user {} is not in the directory",
            job.user_id
        ))),
        Err(e) => Err(Outcome::Retry(format!("directory: {e:#}"))),
    }
}

/// A user found disabled: disable the downstream accounts made for them and end their sessions
/// (which tells the clients through back-channel logout). `noticed_by` says where, for the audit
/// trail, which records the user disabled the first time this finds something to do.
pub async fn deactivated(
    provisioning: &Provisioning,
    user_id: &str,
    noticed_by: &str,
) -> anyhow::Result<()> {
    let now = provisioning.clock.now();
    let targets = [ProvisionTarget::Nextcloud, ProvisionTarget::Mailcow];
    let create_key = |t: ProvisionTarget| Job::create_account(t, user_id).dedupe_key();
    let disable_key = |t: ProvisionTarget| Job::disable_account(t, user_id).dedupe_key();
    let keys: Vec<String> = targets
        .iter()
        .flat_map(|t| [create_key(*t), disable_key(*t)])
        .collect();
    let existing = provisioning.db.existing_job_keys(&keys).await?;
    // A disable job already there was queued when this user was first found disabled.
    let jobs: Vec<Job> = targets
        .iter()
        .filter(|t| existing.contains(&create_key(**t)) && !existing.contains(&disable_key(**t)))
        .map(|t| Job::disable_account(*t, user_id))
        .collect();
    if !jobs.is_empty() {
        provisioning.db.enqueue_jobs(&jobs, now).await?;
    }
    let mut company = None;
    let mut sessions_ended = 0;
    for sid in provisioning.db.live_sessions_of(user_id).await? {
        let ended = provisioning
            .db
            .end_sso_session(&sid, USER_DISABLED, now)
            .await?;
        if let Some(ended) = ended {
            company = Some(ended.company_id.clone());
            sessions_ended += 1;
            provisioning.audit.record(
                Event::new(Kind::SessionEnded, SYSTEM)
                    .user(user_id)
                    .company(ended.company_id)
                    .detail("reason", USER_DISABLED),
            );
        }
    }
    if !jobs.is_empty() || sessions_ended > 0 {
        let disabling: Vec<&str> = jobs.iter().map(Job::kind).collect();
        let event = Event::new(Kind::UserDisabled, SYSTEM)
            .user(user_id)
            .detail("noticed_by", noticed_by)
            .detail("sessions_ended", sessions_ended)
            .detail("jobs", disabling);
        provisioning.audit.record(match company {
            Some(company) => event.company(company),
            None => event,
        });
    }
    Ok(())
}

const USER_DISABLED: &str = "user disabled";

/// Checks every user with downstream accounts against the directory.
pub async fn sweep(provisioning: &Provisioning) -> anyhow::Result<usize> {
    let mut users = BTreeSet::new();
    for target in [ProvisionTarget::Nextcloud, ProvisionTarget::Mailcow] {
        users.extend(provisioning.db.users_with_account_jobs(target).await?);
    }
    let mut disabled = 0;
    for user_id in users {
        let active = provisioning
            .directory
            .find_by_id(&user_id)
            .await?
            .is_some_and(|u| u.active);
        if !active {
            deactivated(provisioning, &user_id, "sweep").await?;
            disabled += 1;
        }
    }
    Ok(disabled)
}
