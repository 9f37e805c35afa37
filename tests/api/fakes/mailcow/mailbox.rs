//! `mailbox('add' | 'edit' | 'delete' | 'get', 'mailbox', …)` from functions.mailbox.inc.php:
//! the checks in Mailcow's order, each failure a `danger` result with Mailcow's message key.

use serde_json::{json, Map, Value};

use super::php;
use super::{Mailbox, McState};

const AUTHSOURCES: [&str; 4] = ["mailcow", "keycloak", "generic-oidc", "ldap"];
/// The default mailbox template's quota (3 GiB).
const DEFAULT_QUOTA_MIB: i64 = 3072;
/// Mailcow's default password policy: at least 6 characters.
const MIN_PASSWORD_LENGTH: usize = 6;

/// One entry of Mailcow's `$_SESSION['return']`. `log` is what Mailcow logs: the function,
/// action and type, the input with passwords masked, and the (unused) `$_attr`.
fn entry(kind: &str, action: &str, data_log: &Value, msg: Value) -> Value {
    json!({
        "type": kind,
        "log": ["mailbox", action, "mailbox", data_log, null],
        "msg": msg,
    })
}

fn masked(data: &Map<String, Value>) -> Value {
    let mut log = data.clone();
    for key in ["password", "password2"] {
        if let Some(value) = log.get_mut(key).filter(|value| !value.is_null()) {
            *value = json!("*");
        }
    }
    Value::Object(log)
}

/// Adds one mailbox from `attr`.
pub(super) fn add(state: &mut McState, attr: &Map<String, Value>) -> Vec<Value> {
    let log = masked(attr);
    let danger = |msg: Value| vec![entry("danger", "add", &log, msg)];
    let field = |key: &str| attr.get(key).unwrap_or(&Value::Null);

    let local_part = php::string(field("local_part")).trim().to_lowercase();
    let domain = php::string(field("domain")).trim().to_lowercase();
    let username = format!("{local_part}@{domain}");
    if !php::is_valid_email(&username) || php::is_empty(field("local_part")) {
        return danger(json!("mailbox_invalid"));
    }
    let authsource = php::string(field("authsource"));
    let authsource = if AUTHSOURCES.contains(&authsource.as_str()) {
        authsource
    } else {
        "mailcow".to_owned()
    };
    let name = php::string(field("name"));
    let name = name
        .trim_end_matches('>')
        .trim_start_matches('<')
        .to_owned();
    let quota_mib = php::isset(attr, "quota").map_or(DEFAULT_QUOTA_MIB, php::intval);
    let quota_mib = u64::try_from(quota_mib).unwrap_or(0);
    let active = php::isset(attr, "active").map_or(1, php::intval) != 0;
    let tags: Vec<String> = match field("tags") {
        Value::Array(tags) => tags
            .iter()
            .filter(|tag| !php::is_empty(tag))
            .map(php::string)
            .collect(),
        _ => Vec::new(),
    };

    if !php::is_valid_domain_name(&domain) {
        return danger(json!("domain_invalid"));
    }
    // hasDomainAccess: even the admin has access only to a domain that exists, so an unknown
    // domain is `access_denied` (Mailcow's later `domain_not_found` is never reached).
    let Some(limits) = state.domains.get(&domain).copied() else {
        return danger(json!("access_denied"));
    };
    if state.mailboxes.contains_key(&username) {
        return danger(json!(["object_exists", username]));
    }
    let mut password = None;
    if authsource == "mailcow" {
        if let Err(msg) = password_check(field("password"), field("password2")) {
            return vec![password_check_failure(msg)];
        }
        password = Some(php::string(field("password")));
    }
    let in_domain: Vec<&Mailbox> = state
        .mailboxes
        .values()
        .filter(|mailbox| mailbox.domain == domain)
        .collect();
    let count = in_domain.len() as u64;
    let quota_in_use: u64 = in_domain.iter().map(|mailbox| mailbox.quota_mib).sum();
    if count >= limits.max_mailboxes {
        return danger(json!(["max_mailbox_exceeded", count, limits.max_mailboxes]));
    }
    if quota_mib > limits.max_quota_mib {
        return danger(json!(["mailbox_quota_exceeded", limits.max_quota_mib]));
    }
    if quota_in_use + quota_mib > limits.total_quota_mib {
        let left = limits.total_quota_mib.saturating_sub(quota_in_use);
        return danger(json!(["mailbox_quota_left_exceeded", left]));
    }

    state.mailboxes.insert(
        username.clone(),
        Mailbox {
            username: username.clone(),
            local_part,
            domain,
            name,
            quota_mib,
            active,
            authsource,
            password,
            tags,
        },
    );
    vec![entry(
        "success",
        "add",
        &log,
        json!(["mailbox_added", username]),
    )]
}

fn password_check_failure(msg: &str) -> Value {
    json!({ "type": "danger", "log": ["password_check", null, null], "msg": msg })
}

/// password_check() in functions.inc.php.
fn password_check(password: &Value, password2: &Value) -> Result<(), &'static str> {
    if php::is_empty(password) || php::is_empty(password2) {
        return Err("password_complexity");
    }
    let password = php::string(password);
    if password != php::string(password2) {
        return Err("password_mismatch");
    }
    if password.len() < MIN_PASSWORD_LENGTH {
        return Err("password_complexity");
    }
    Ok(())
}

/// Edits each of `items` with `attr` (`active`, `name`, `quota`, `authsource`, `tags`,
/// `password`/`password2`).
pub(super) fn edit(
    state: &mut McState,
    items: Vec<Value>,
    attr: &Map<String, Value>,
) -> Vec<Value> {
    let mut data = attr.clone();
    data.insert("username".to_owned(), Value::Array(items.clone()));
    let log = masked(&data);
    let danger = |msg: Value| entry("danger", "edit", &log, msg);
    let field = |key: &str| attr.get(key).unwrap_or(&Value::Null);

    let mut results = Vec::new();
    for item in items {
        let username = php::string(&item);
        if !item.is_string() || !php::is_valid_email(&username) {
            results.push(danger(json!(["username_invalid", item])));
            continue;
        }
        let Some(current) = state.mailboxes.get(&username.to_lowercase()).cloned() else {
            results.push(danger(json!("access_denied")));
            continue;
        };
        let active = php::isset(attr, "active").map_or(current.active, |v| php::intval(v) != 0);
        let quota_mib = match php::isset(attr, "quota") {
            Some(quota) if !php::string(quota).is_empty() => {
                u64::try_from(php::intval(quota)).unwrap_or(0)
            }
            _ => current.quota_mib,
        };
        let name = if php::is_empty(field("name")) {
            current.name.clone()
        } else {
            let name = php::string(field("name"));
            name.trim_end_matches('>')
                .trim_start_matches('<')
                .to_owned()
        };
        let authsource = php::string(field("authsource"));
        let authsource = if AUTHSOURCES.contains(&authsource.as_str()) {
            authsource
        } else {
            current.authsource.clone()
        };

        let limits = state
            .domains
            .get(&current.domain)
            .copied()
            .unwrap_or_default();
        let others_quota: u64 = state
            .mailboxes
            .values()
            .filter(|other| other.domain == current.domain && other.username != current.username)
            .map(|other| other.quota_mib)
            .sum();
        let max_new_quota = limits
            .total_quota_mib
            .saturating_sub(others_quota)
            .min(limits.max_quota_mib);
        if quota_mib > max_new_quota {
            results.push(danger(json!([
                "mailbox_quota_left_exceeded",
                max_new_quota
            ])));
            continue;
        }
        if quota_mib > limits.max_quota_mib {
            results.push(danger(json!([
                "mailbox_quota_exceeded",
                limits.max_quota_mib
            ])));
            continue;
        }
        let mut new_password = None;
        if !php::is_empty(field("password")) {
            if let Err(msg) = password_check(field("password"), field("password2")) {
                results.push(password_check_failure(msg));
                continue;
            }
            // The password is only written for a mailbox that already is `mailcow`'s.
            if current.authsource == "mailcow" {
                new_password = Some(php::string(field("password")));
            }
        }

        let mailbox = state.mailboxes.get_mut(&current.username).unwrap();
        mailbox.active = active;
        mailbox.name = name;
        mailbox.quota_mib = quota_mib;
        mailbox.authsource = authsource;
        if let Value::Array(tags) = field("tags") {
            mailbox.tags = tags
                .iter()
                .filter(|tag| !php::is_empty(tag))
                .map(php::string)
                .collect();
        }
        if new_password.is_some() {
            mailbox.password = new_password;
        }
        results.push(entry(
            "success",
            "edit",
            &log,
            json!(["mailbox_modified", mailbox.username]),
        ));
    }
    results
}

/// Deletes each of `items`.
pub(super) fn delete(state: &mut McState, items: Vec<Value>) -> Vec<Value> {
    let log = json!({ "username": items });
    let mut results = Vec::new();
    for item in items {
        let username = php::string(&item);
        let msg = if !item.is_string() || !php::is_valid_email(&username) {
            entry("danger", "delete", &log, json!(["username_invalid", item]))
        } else if let Some(removed) = state.mailboxes.remove(&username.to_lowercase()) {
            entry(
                "success",
                "delete",
                &log,
                json!(["mailbox_removed", removed.username]),
            )
        } else {
            entry("danger", "delete", &log, json!("access_denied"))
        };
        results.push(msg);
    }
    results
}

/// `mailbox('get', 'mailbox_details', …)`: what GET answers for a mailbox (quota and the
/// `quota_used` bytes).
pub(super) fn details(mailbox: &Mailbox, quota_used: u64) -> Value {
    let active = i64::from(mailbox.active);
    json!({
        "username": mailbox.username,
        "active": active,
        "active_int": active,
        "domain": mailbox.domain,
        "name": mailbox.name,
        "local_part": mailbox.local_part,
        "quota": mailbox.quota_mib * 1024 * 1024,
        "messages": 0,
        "attributes": {
            "force_pw_update": "0",
            "tls_enforce_in": "0",
            "tls_enforce_out": "0",
            "sogo_access": "1",
            "imap_access": "1",
            "pop3_access": "1",
            "smtp_access": "1",
            "sieve_access": "1",
            "relayhost": "0",
            "mailbox_format": "maildir:",
            "quarantine_notification": "hourly",
            "quarantine_category": "reject",
        },
        "quota_used": quota_used,
        "percent_in_use": (quota_used * 100).checked_div(mailbox.quota_mib * 1024 * 1024).unwrap_or(0),
        "percent_class": "success",
        "is_relayed": 0,
        "last_imap_login": 0,
        "last_smtp_login": 0,
        "last_pop3_login": 0,
        "last_sso_login": 0,
        "authsource": mailbox.authsource,
        "tags": mailbox.tags,
        "spam_aliases": 0,
        "pushover_active": 0,
        "rl": false,
        "rl_scope": "domain",
    })
}
