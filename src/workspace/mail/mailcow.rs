//! Mailcow's API for the company admins' mailbox routes: list a domain's mailboxes
//! (`GET /api/v1/get/mailbox/all/{domain}`), read one (`GET /api/v1/get/mailbox/{address}`), add
//! one (`POST /api/v1/add/mailbox`) and change its quota or whether it is active
//! (`POST /api/v1/edit/mailbox` with `attr.quota` in MiB and `attr.active`). Which mailboxes are
//! a company's is the routes' to decide; this only speaks the API.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::config::MailcowConfig;

const MAILCOW: &str = "mailcow";

/// A mailbox as the admins see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MailboxInfo {
    #[schema(example = "alice@acme.example")]
    pub address: String,
    pub name: String,
    pub active: bool,
    /// 0: unlimited.
    pub quota_bytes: u64,
    pub quota_used_bytes: u64,
    pub messages: u64,
}

/// Why a call to Mailcow failed.
#[derive(Debug, thiserror::Error)]
pub enum McError {
    #[error("cannot reach Mailcow: {0}")]
    Unreachable(String),
    #[error("Mailcow did not answer in time")]
    Timeout,
    /// An answer that is not what the API gives (a refused API key, a 5xx, not JSON).
    #[error("Mailcow answered {0}")]
    Unusable(String),
    /// The call was understood and refused (`danger`): Mailcow's message key.
    #[error("Mailcow refused: {0}")]
    Refused(String),
}

impl McError {
    pub fn service(&self) -> &'static str {
        MAILCOW
    }
}

pub struct MailcowAdmin {
    url: String,
    api_key: SecretString,
    http: reqwest::Client,
}

fn number(value: &Value) -> u64 {
    match value {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

fn mailbox(details: &Value) -> Option<MailboxInfo> {
    Some(MailboxInfo {
        address: details["username"].as_str()?.to_lowercase(),
        name: details["name"].as_str().unwrap_or("").to_owned(),
        active: number(&details["active"]) != 0,
        quota_bytes: number(&details["quota"]),
        quota_used_bytes: number(&details["quota_used"]),
        messages: number(&details["messages"]),
    })
}

fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl MailcowAdmin {
    pub fn new(config: &MailcowConfig, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            url: config.url.clone(),
            api_key: config.api_key.clone(),
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, McError> {
        let response = request
            .header("X-API-Key", self.api_key.expose_secret())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    McError::Timeout
                } else {
                    McError::Unreachable(e.without_url().to_string())
                }
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(McError::Unusable(status.to_string()));
        }
        response
            .json()
            .await
            .map_err(|e| McError::Unusable(format!("no JSON: {e}")))
    }

    /// Every mailbox of `domain`.
    pub async fn list(&self, domain: &str) -> Result<Vec<MailboxInfo>, McError> {
        let url = format!("{}/api/v1/get/mailbox/all/{}", self.url, encode(domain));
        let body = self.call(self.http.get(url)).await?;
        // `{}` when the domain has none.
        Ok(body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(mailbox)
            .filter(|m| m.address.ends_with(&format!("@{domain}")))
            .collect())
    }

    /// One mailbox; `None` when Mailcow has none of that address.
    pub async fn get(&self, address: &str) -> Result<Option<MailboxInfo>, McError> {
        let url = format!("{}/api/v1/get/mailbox/{}", self.url, encode(address));
        let body = self.call(self.http.get(url)).await?;
        Ok(mailbox(&body).filter(|m| m.address.eq_ignore_ascii_case(address)))
    }

    /// Adds a mailbox whose owner signs in through this provider (`authsource: generic-oidc`:
    /// it has no password of its own).
    pub async fn add(
        &self,
        local_part: &str,
        domain: &str,
        name: &str,
        quota_mib: u64,
    ) -> Result<(), McError> {
        let body = json!({
            "local_part": local_part,
            "domain": domain,
            "name": name,
            "quota": quota_mib.to_string(),
            "active": "1",
            "authsource": "generic-oidc",
            "tags": ["bheem-sso:admin"],
        });
        let url = format!("{}/api/v1/add/mailbox", self.url);
        outcome(self.call(self.http.post(url).json(&body)).await?)
    }

    /// Sets a mailbox's quota (MiB) or whether it is active.
    pub async fn edit(
        &self,
        address: &str,
        quota_mib: Option<u64>,
        active: Option<bool>,
    ) -> Result<(), McError> {
        let mut attr = serde_json::Map::new();
        if let Some(quota) = quota_mib {
            attr.insert("quota".into(), json!(quota.to_string()));
        }
        if let Some(active) = active {
            attr.insert("active".into(), json!(if active { "1" } else { "0" }));
        }
        let body = json!({"items": [address], "attr": attr});
        let url = format!("{}/api/v1/edit/mailbox", self.url);
        outcome(self.call(self.http.post(url).json(&body)).await?)
    }
}

/// Mailcow answers 200 with `[{"type": "success"|"danger"|"error", "msg": …}]`.
fn outcome(body: Value) -> Result<(), McError> {
    let entries: Vec<&Value> = match &body {
        Value::Array(entries) => entries.iter().collect(),
        other => vec![other],
    };
    for entry in entries {
        match entry["type"].as_str() {
            Some("success") => {}
            _ => {
                let msg = match &entry["msg"] {
                    Value::Array(parts) => parts
                        .first()
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    Value::String(s) => s.clone(),
                    _ => String::new(),
                };
                return Err(McError::Refused(msg));
            }
        }
    }
    Ok(())
}
