//! Mailcow mailboxes through its REST API, with `authsource: generic-oidc` so the user signs in
//! to Mailcow through bheem-sso.

use secrecy::ExposeSecret;
use serde_json::{json, Value};

use super::accounts::job_user;
use super::Outcome;
use crate::app::AppState;
use crate::config::MailcowConfig;
use crate::directory::User;

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
    state: &'a AppState,
    payload: &str,
) -> Result<(&'a MailcowConfig, User), Outcome> {
    let config = state
        .config
        .provisioning
        .mailcow
        .as_ref()
        .ok_or_else(|| Outcome::Fail("[provisioning.mailcow] is not configured".into()))?;
    Ok((config, job_user(state, payload).await?))
}

/// The mailbox: the local part of the user's email (or their username) at the mail domain.
pub fn mailbox_for(config: &MailcowConfig, user: &User) -> (String, String) {
    let local = user
        .email
        .rsplit_once('@')
        .map(|(l, _)| l.to_owned())
        .or_else(|| user.username.clone())
        .unwrap_or_else(|| user.id.clone())
        .to_lowercase();
    (local, config.domain.clone())
}

pub async fn create(state: &AppState, http: &reqwest::Client, payload: &str) -> Outcome {
    let (config, user) = match prepare(state, payload).await {
        Ok(found) => found,
        Err(o) => return o,
    };
    let (local_part, domain) = mailbox_for(config, &user);
    let body = json!({
        "local_part": local_part,
        "domain": domain,
        "name": user.name,
        "quota": config.quota_mib,
        "active": "1",
        "authsource": "generic-oidc",
    });
    match call(http, config, "/api/v1/add/mailbox", &body).await {
        Ok((kind, _)) if kind == "success" => Outcome::Done,
        // Already there: what this job wanted.
        Ok((_, msg)) if msg == "object_exists" => Outcome::Done,
        Ok((kind, msg)) => Outcome::Fail(format!(
            "adding mailbox {local_part}@{domain}: {kind} {msg}"
        )),
        Err(o) => o,
    }
}

pub async fn disable(state: &AppState, http: &reqwest::Client, payload: &str) -> Outcome {
    let (config, user) = match prepare(state, payload).await {
        Ok(found) => found,
        Err(o) => return o,
    };
    let (local_part, domain) = mailbox_for(config, &user);
    let address = format!("{local_part}@{domain}");
    let body = json!({ "attr": { "active": "0" }, "items": [address] });
    match call(http, config, "/api/v1/edit/mailbox", &body).await {
        Ok((kind, _)) if kind == "success" => Outcome::Done,
        Ok((kind, msg)) => Outcome::Fail(format!("disabling mailbox {address}: {kind} {msg}")),
        Err(o) => o,
    }
}
