//! Nextcloud accounts through the OCS provisioning API (v2): the user id is the claim
//! Nextcloud's user_oidc maps, so the account it finds at first SSO login is this one.

use serde_json::Value;

use super::accounts::job_user;
use super::{Outcome, Provisioning};
use crate::config::NextcloudConfig;
use crate::directory::User;
use crate::oidc::claims::{claim_string, groups};
use crate::store::outbox::AccountJob;
use secrecy::ExposeSecret;

/// The OCS status code in a v2 envelope.
fn ocs_status(body: &Value) -> Option<i64> {
    body["ocs"]["meta"]["statuscode"].as_i64()
}

fn ocs_message(body: &Value) -> String {
    body["ocs"]["meta"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// Sends one OCS request; classifies transport and HTTP failures.
async fn ocs(
    http: &reqwest::Client,
    config: &NextcloudConfig,
    method: reqwest::Method,
    path: &str,
    form: &[(&str, String)],
) -> Result<(reqwest::StatusCode, Value), Outcome> {
    let url = format!("{}/ocs/v2.php{path}", config.url);
    let response = http
        .request(method, &url)
        .basic_auth(
            &config.admin_user,
            Some(config.admin_password.expose_secret()),
        )
        .header("OCS-APIRequest", "true")
        .header("Accept", "application/json")
        .form(form)
        .send()
        .await
        .map_err(|e| Outcome::Retry(format!("Nextcloud {path}: {e}")))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_server_error() {
        return Err(Outcome::Retry(format!(
            "Nextcloud {path} answered {status}"
        )));
    }
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        // A wrong or revoked admin password: fixable by the operator, so kept for retry.
        return Err(Outcome::Retry(format!(
            "Nextcloud refused the admin credentials ({status})"
        )));
    }
    Ok((status, body))
}

/// The configuration and the job's user, or why the job cannot go on.
async fn prepare<'a>(
    provisioning: &'a Provisioning,
    job: &AccountJob,
) -> Result<(&'a NextcloudConfig, User), Outcome> {
    let config = provisioning
        .config
        .provisioning
        .nextcloud
        .as_ref()
        .ok_or_else(|| Outcome::Fail("[provisioning.nextcloud] is not configured".into()))?;
    Ok((config, job_user(provisioning, job).await?))
}

fn uid(config: &NextcloudConfig, user: &User) -> Result<String, Outcome> {
    claim_string(user, &config.uid_claim)
        .ok_or_else(|| Outcome::Fail(format!("user {} has no {}", user.id, config.uid_claim)))
}

pub async fn create(
    provisioning: &Provisioning,
    http: &reqwest::Client,
    job: &AccountJob,
) -> Outcome {
    let (config, user) = match prepare(provisioning, job).await {
        Ok(found) => found,
        Err(o) => return o,
    };
    let uid = match uid(config, &user) {
        Ok(u) => u,
        Err(o) => return o,
    };
    let user_groups = groups(&user, &config.instance_admin_roles);
    for group in &user_groups {
        match ocs(
            http,
            config,
            reqwest::Method::POST,
            "/cloud/groups",
            &[("groupid", group.clone())],
        )
        .await
        {
            // 102: the group exists already.
            Ok((_, body)) if matches!(ocs_status(&body), Some(200 | 100 | 102)) => {}
            Ok((status, body)) => {
                return Outcome::Fail(format!(
                    "creating group {group}: {status} {}",
                    ocs_message(&body)
                ))
            }
            Err(o) => return o,
        }
    }
    // The password is random and never used: people sign in through SSO.
    let mut form = vec![
        ("userid", uid.clone()),
        ("password", crate::secrets::new_secret()),
        ("displayName", user.name.clone()),
        ("email", user.email.clone()),
    ];
    if let Some(quota) = &config.quota {
        form.push(("quota", quota.clone()));
    }
    for group in user_groups {
        form.push(("groups[]", group));
    }
    match ocs(http, config, reqwest::Method::POST, "/cloud/users", &form).await {
        Ok((_, body)) if matches!(ocs_status(&body), Some(200 | 100)) => Outcome::Done,
        // 102: the user exists already. What this job wanted if it is this user's (an earlier
        // attempt, or user_oidc at their first login, made it); someone else's otherwise: the
        // same uid in another company, or an account made by hand.
        Ok((_, body)) if ocs_status(&body) == Some(102) => {
            match account_of(http, config, &uid, &user).await {
                Ok(Account::Theirs) => Outcome::Done,
                // Gone between the two calls: the next attempt makes it.
                Ok(Account::Missing) => {
                    Outcome::Retry(format!("Nextcloud user {uid} exists, then not"))
                }
                Ok(Account::Others) => Outcome::Fail(format!(
                    "Nextcloud user {uid} exists but is not in group company-{}, so it is not \
                     user {}'s (another company's user with the same {}, or made by hand); \
                     refusing to give it to them",
                    user.company_id, user.id, config.uid_claim
                )),
                Err(o) => o,
            }
        }
        Ok((status, body)) => Outcome::Fail(format!(
            "creating Nextcloud user {uid}: {status} {} {}",
            ocs_status(&body).unwrap_or(0),
            ocs_message(&body)
        )),
        Err(o) => o,
    }
}

pub async fn disable(
    provisioning: &Provisioning,
    http: &reqwest::Client,
    job: &AccountJob,
) -> Outcome {
    let (config, user) = match prepare(provisioning, job).await {
        Ok(found) => found,
        Err(o) => return o,
    };
    let uid = match uid(config, &user) {
        Ok(u) => u,
        Err(o) => return o,
    };
    // An account of the same uid that is not this user's is not theirs to disable.
    match account_of(http, config, &uid, &user).await {
        Ok(Account::Theirs) => {}
        // Already gone: nothing left to disable.
        Ok(Account::Missing) => return Outcome::Done,
        Ok(Account::Others) => {
            tracing::warn!(user_id = %user.id, %uid, "the Nextcloud user of this uid is not this user's; left alone");
            return Outcome::Done;
        }
        Err(o) => return o,
    }
    let path = format!("/cloud/users/{}/disable", urlencode(&uid));
    match ocs(http, config, reqwest::Method::PUT, &path, &[]).await {
        Ok((_, body)) if matches!(ocs_status(&body), Some(200 | 100)) => Outcome::Done,
        // Already gone: nothing left to disable.
        Ok((status, _)) if status == reqwest::StatusCode::NOT_FOUND => Outcome::Done,
        Ok((status, body)) => Outcome::Fail(format!(
            "disabling Nextcloud user {uid}: {status} {}",
            ocs_message(&body)
        )),
        Err(o) => o,
    }
}

/// Whose Nextcloud's user `uid` is.
enum Account {
    /// A member of the user's company group, which every account made for a user of that
    /// company has (by this provisioning, or by user_oidc from the `groups` claim).
    Theirs,
    /// Another company's user of the same uid, or an account made by hand.
    Others,
    Missing,
}

async fn account_of(
    http: &reqwest::Client,
    config: &NextcloudConfig,
    uid: &str,
    user: &User,
) -> Result<Account, Outcome> {
    let path = format!("/cloud/users/{}", urlencode(uid));
    let (status, body) = ocs(http, config, reqwest::Method::GET, &path, &[]).await?;
    if status == reqwest::StatusCode::NOT_FOUND || ocs_status(&body) == Some(404) {
        return Ok(Account::Missing);
    }
    if !matches!(ocs_status(&body), Some(200 | 100)) {
        return Err(Outcome::Retry(format!(
            "reading Nextcloud user {uid}: {status} {}",
            ocs_message(&body)
        )));
    }
    let company = format!("company-{}", user.company_id);
    let theirs = body["ocs"]["data"]["groups"]
        .as_array()
        .is_some_and(|groups| groups.iter().any(|g| g.as_str() == Some(company.as_str())));
    Ok(if theirs {
        Account::Theirs
    } else {
        Account::Others
    })
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
