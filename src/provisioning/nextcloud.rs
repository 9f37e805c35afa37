//! Nextcloud accounts through the OCS provisioning API (v2): the user id is the claim
//! Nextcloud's user_oidc maps, so the account it finds at first SSO login is this one.

use serde_json::Value;

use super::accounts::job_user;
use super::Outcome;
use crate::app::AppState;
use crate::config::NextcloudConfig;
use crate::directory::User;
use crate::oidc::claims::{claim_string, groups};
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
    state: &'a AppState,
    payload: &str,
) -> Result<(&'a NextcloudConfig, User), Outcome> {
    let config = state
        .config
        .provisioning
        .nextcloud
        .as_ref()
        .ok_or_else(|| Outcome::Fail("[provisioning.nextcloud] is not configured".into()))?;
    Ok((config, job_user(state, payload).await?))
}

fn uid(config: &NextcloudConfig, user: &User) -> Result<String, Outcome> {
    claim_string(user, &config.uid_claim)
        .ok_or_else(|| Outcome::Fail(format!("user {} has no {}", user.id, config.uid_claim)))
}

pub async fn create(state: &AppState, http: &reqwest::Client, payload: &str) -> Outcome {
    let (config, user) = match prepare(state, payload).await {
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
        ("password", crate::oidc::tokens::new_secret()),
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
        // 102: the user exists already, which is what this job wanted.
        Ok((_, body)) if ocs_status(&body) == Some(102) => Outcome::Done,
        Ok((status, body)) => Outcome::Fail(format!(
            "creating Nextcloud user {uid}: {status} {} {}",
            ocs_status(&body).unwrap_or(0),
            ocs_message(&body)
        )),
        Err(o) => o,
    }
}

pub async fn disable(state: &AppState, http: &reqwest::Client, payload: &str) -> Outcome {
    let (config, user) = match prepare(state, payload).await {
        Ok(found) => found,
        Err(o) => return o,
    };
    let uid = match uid(config, &user) {
        Ok(u) => u,
        Err(o) => return o,
    };
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

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
