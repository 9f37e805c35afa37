//! Mailcow mailboxes through its REST API, with `authsource: generic-oidc` so the user signs in
//! to Mailcow through bheem-sso.

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use super::accounts::job_user;
use super::{Outcome, Provisioning};
use crate::config::{MailcowConfig, ProvisionTarget};
use crate::directory::User;
use crate::oidc::mailbox_email::MailboxAddresses;
use crate::store::mailboxes::MailboxClaim;
use crate::store::outbox::{AccountJob, Job};
use crate::telemetry::DeliveryTarget;

/// Mailcow answers 200 with `[{"type": "success"|"danger"|"error", "msg": [key, …]}]`.
fn first_result(body: &Value) -> (String, String) {
    let entry = body.as_array().and_then(|a| a.first()).unwrap_or(body);
    let kind = entry["type"].as_str().unwrap_or("").to_owned();
    let msg = match &entry["msg"] {
        Value::Array(parts) => parts
            .first()
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    };
    (kind, msg)
}

async fn call(
    http: &reqwest::Client,
    config: &MailcowConfig,
    path: &str,
    body: &Value,
) -> Result<(String, String), Outcome> {
    let response = http
        .post(format!("{}{path}", config.url))
        .header("X-API-Key", config.api_key.expose_secret())
        .json(body)
        .send()
        .await
        .map_err(|e| Outcome::Retry(format!("Mailcow {path}: {e}")))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(Outcome::Retry(format!("Mailcow {path} answered {status}")));
    }
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(Outcome::Retry(format!(
            "Mailcow refused the API key ({status})"
        )));
    }
    let body: Value = response
        .json()
        .await
        .map_err(|e| Outcome::Retry(format!("Mailcow {path}: unreadable answer: {e}")))?;
    Ok(first_result(&body))
}

/// The configuration and the job's user, or why the job cannot go on.
async fn prepare<'a>(
    provisioning: &'a Provisioning,
    job: &AccountJob,
) -> Result<(&'a MailcowConfig, User), Outcome> {
    let config = provisioning
        .config
        .provisioning
        .mailcow
        .as_ref()
        .ok_or_else(|| Outcome::Fail("[provisioning.mailcow] is not configured".into()))?;
    Ok((config, job_user(provisioning, job).await?))
}

/// The mailbox: the local part of the user's email (or their username) at their company's mail
/// domain. Two users may come to the same address (john@acme.com and john@other.com sharing
/// the default domain); the `mailboxes` table gives it to the first, and the other is refused.
pub fn mailbox_for(config: &MailcowConfig, user: &User) -> (String, String) {
    let local = user
        .email
        .rsplit_once('@')
        .map(|(l, _)| l.to_owned())
        .or_else(|| user.username.clone())
        .unwrap_or_else(|| user.id.clone())
        .to_lowercase();
    (local, config.domain_of(user.company_id).to_owned())
}

/// The tag a mailbox made for `user` carries, by which a retried job knows its own mailbox
/// (Mailcow's `object_exists` says only that the address is taken, not by whom).
fn owner_tag(user: &User) -> String {
    format!("bheem-sso:{}", user.id)
}

/// `GET /api/v1/get/mailbox/{address}`: the mailbox, or `{}` when there is none.
async fn mailbox_tags(
    http: &reqwest::Client,
    config: &MailcowConfig,
    address: &str,
) -> Result<Vec<String>, Outcome> {
    let path = format!("/api/v1/get/mailbox/{}", urlencode(address));
    let response = http
        .get(format!("{}{path}", config.url))
        .header("X-API-Key", config.api_key.expose_secret())
        .send()
        .await
        .map_err(|e| Outcome::Retry(format!("Mailcow {path}: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(Outcome::Retry(format!("Mailcow {path} answered {status}")));
    }
    let body: Value = response
        .json()
        .await
        .map_err(|e| Outcome::Retry(format!("Mailcow {path}: unreadable answer: {e}")))?;
    Ok(body["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect())
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn create(
    provisioning: &Provisioning,
    http: &reqwest::Client,
    job: &AccountJob,
) -> Outcome {
    match prepare(provisioning, job).await {
        Ok((config, user)) => ensure_mailbox(provisioning, http, config, &user).await,
        Err(o) => o,
    }
}

/// Makes the user's mailbox unless Mailcow has it for them already, and records it as theirs.
/// Run by the outbox job, and at once by [`email_from_mailbox`] when the Mailcow client asks for
/// a user's `email` before the job has run; the two may run together, and both end as done.
async fn ensure_mailbox(
    provisioning: &Provisioning,
    http: &reqwest::Client,
    config: &MailcowConfig,
    user: &User,
) -> Outcome {
    let (local_part, domain) = mailbox_for(config, user);
    let address = format!("{local_part}@{domain}");
    // Claimed before Mailcow is asked: another user's job finds it taken even while this one
    // is in flight, and a crash after Mailcow's answer leaves the claim for the retry.
    let company = user.company_id.to_string();
    let claim = provisioning
        .db
        .claim_mailbox(&address, &user.id, &company, provisioning.clock.now())
        .await;
    match claim {
        Ok(MailboxClaim::Ours) => {}
        Ok(MailboxClaim::Taken { user_id }) => {
            return Outcome::Fail(format!(
                "mailbox {address} belongs to user {user_id}, so user {} cannot have it; \
                 give their company its own domain in [provisioning.mailcow.company_domains]",
                user.id
            ))
        }
        Err(e) => return Outcome::Retry(format!("{e:#}")),
    }
    let tag = owner_tag(user);
    let body = json!({
        "local_part": local_part,
        "domain": domain,
        "name": user.name,
        "quota": config.quota_mib,
        "active": "1",
        "authsource": "generic-oidc",
        "tags": [tag],
    });
    let refusal = match call(http, config, "/api/v1/add/mailbox", &body).await {
        Ok((kind, _)) if kind == "success" => None,
        // Already there: this user's only if an earlier attempt of theirs made it (its tag);
        // otherwise someone made it by hand or for another user, and it is not theirs.
        Ok((_, msg)) if msg == "object_exists" => {
            match mailbox_tags(http, config, &address).await {
                Ok(tags) if tags.contains(&tag) => None,
                Ok(_) => Some(format!(
                    "mailbox {address} exists in Mailcow but bheem-sso did not make it for \
                     user {}; refusing to give it to them",
                    user.id
                )),
                Err(o) => return o,
            }
        }
        Ok((kind, msg)) => Some(format!("adding mailbox {address}: {kind} {msg}")),
        Err(o) => return o,
    };
    let recorded = match &refusal {
        None => {
            provisioning
                .db
                .confirm_mailbox(&address, &user.id, provisioning.clock.now())
                .await
        }
        Some(_) => provisioning.db.release_mailbox(&address, &user.id).await,
    };
    match (recorded, refusal) {
        (Err(e), _) => Outcome::Retry(format!("{e:#}")),
        (Ok(()), None) => Outcome::Done,
        (Ok(()), Some(why)) => Outcome::Fail(why),
    }
}

/// Disables the mailboxes made for this user, and only those: an address computed from the
/// user's email may be someone else's.
pub async fn disable(
    provisioning: &Provisioning,
    http: &reqwest::Client,
    job: &AccountJob,
) -> Outcome {
    let (config, user) = match prepare(provisioning, job).await {
        Ok(found) => found,
        Err(o) => return o,
    };
    let addresses = match provisioning.db.confirmed_mailboxes(&user.id).await {
        Ok(addresses) => addresses,
        Err(e) => return Outcome::Retry(format!("{e:#}")),
    };
    for address in addresses {
        let body = json!({ "attr": { "active": "0" }, "items": [address] });
        match call(http, config, "/api/v1/edit/mailbox", &body).await {
            Ok((kind, _)) if kind == "success" => {}
            Ok((kind, msg)) => {
                return Outcome::Fail(format!("disabling mailbox {address}: {kind} {msg}"))
            }
            Err(o) => return o,
        }
    }
    Outcome::Done
}

/// The mailbox a client with `email_claim = "mailbox"` is given. On a user's first login through
/// Mailcow it asks for the `email` within a second of the login, before the outbox has made the
/// mailbox, so a user who has none yet gets it made here and now (the outbox job, running too,
/// finds it done).
#[async_trait]
impl MailboxAddresses for Provisioning {
    async fn address_of(&self, user: &User) -> anyhow::Result<Option<String>> {
        let mut mailboxes = self.db.confirmed_mailboxes(&user.id).await?;
        if let (true, Some(config)) = (mailboxes.is_empty(), &self.config.provisioning.mailcow) {
            // Only while the login's job is still to run: a job that failed for good (the
            // address is someone else's) or a user whose mailbox was never recorded (made before
            // the hub kept owners) must not cost every userinfo call a round of Mailcow requests.
            let job = Job::create_account(ProvisionTarget::Mailcow, &user.id).dedupe_key();
            let waiting = matches!(
                self.db.job_state(&job).await?.as_deref(),
                Some("pending" | "running")
            );
            if !waiting {
                return Ok(None);
            }
            let made = ensure_mailbox(self, &self.http, config, user).await;
            super::delivered(DeliveryTarget::Mailcow, &made);
            match made {
                Outcome::Done => mailboxes = self.db.confirmed_mailboxes(&user.id).await?,
                Outcome::Retry(why) | Outcome::Fail(why) => {
                    tracing::warn!(user_id = %user.id, error = %why, "no mailbox for the Mailcow client's email claim")
                }
            }
        }
        // The one at the user's present address if Mailcow has it, else the first made.
        let current = self.config.provisioning.mailcow.as_ref().map(|config| {
            let (local_part, domain) = mailbox_for(config, user);
            format!("{local_part}@{domain}")
        });
        let address = mailboxes
            .iter()
            .find(|a| Some(*a) == current.as_ref())
            .or_else(|| mailboxes.first());
        Ok(address.cloned())
    }
}
