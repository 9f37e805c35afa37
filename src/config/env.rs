//! `BHEEM_SSO_*` environment overrides, and the look-up of the variables a section names.

use std::path::PathBuf;

use super::{ConfigError, ConfigErrors, RawConfig, CONFIG_ENV};

const ENV_PREFIX: &str = "BHEEM_SSO_";

/// `BHEEM_SSO_<KEY>` overrides the top-level `<key>`; `BHEEM_SSO_DIRECTORY_<KEY>` the
/// `[directory]` one and `BHEEM_SSO_WORKSPACE_<KEY>` the `[workspace]` one. An unknown
/// `BHEEM_SSO_` variable is an error: it is almost always a typo.
/// Every bad variable is reported, not only the first.
pub(super) fn apply_env(raw: &mut RawConfig, env: &[(String, String)]) -> Result<(), ConfigErrors> {
    let errors: Vec<ConfigError> = env
        .iter()
        .filter_map(|(name, value)| apply_one(raw, name, value).err())
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

fn apply_one(raw: &mut RawConfig, name: &str, value: &str) -> Result<(), ConfigError> {
    let Some(key) = name.strip_prefix(ENV_PREFIX) else {
        return Ok(());
    };
    if name == CONFIG_ENV {
        return Ok(());
    }
    let value = value.to_owned();
    match key.to_ascii_lowercase().as_str() {
        "issuer" => raw.issuer = Some(value),
        "listen" => raw.listen = Some(value),
        "metrics_listen" => raw.metrics_listen = Some(value),
        "database_url" => raw.database_url = Some(value),
        "keys_dir" => raw.keys_dir = Some(PathBuf::from(value)),
        "trusted_proxies" => {
            raw.trusted_proxies = value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect()
        }
        "log_format" => {
            raw.log_format = Some(
                value
                    .parse()
                    .map_err(|()| ConfigError::new(name, "must be text or json"))?,
            )
        }
        "access_log" => {
            raw.access_log = Some(
                parse_bool(&value)
                    .ok_or_else(|| ConfigError::new(name, "must be true or false"))?,
            )
        }
        "key_grace_seconds" => {
            raw.key_grace_seconds = Some(
                value
                    .parse()
                    .map_err(|_| ConfigError::new(name, "must be a whole number of seconds"))?,
            )
        }
        "key_refresh_seconds" => {
            raw.key_refresh_seconds = Some(
                value
                    .parse()
                    .map_err(|_| ConfigError::new(name, "must be a whole number of seconds"))?,
            )
        }
        "key_rotation_days" => {
            raw.key_rotation_days = Some(
                value
                    .parse()
                    .map_err(|_| ConfigError::new(name, "must be a whole number of days"))?,
            )
        }
        // Decoded where the keys are loaded, so that its error names the variable only.
        "key_encryption_key" => raw.key_encryption_key = Some(value.into()),
        "directory_url" => raw.directory.get_or_insert_with(Default::default).url = Some(value),
        "directory_table" => raw.directory.get_or_insert_with(Default::default).table = Some(value),
        "directory_rehash" => {
            raw.directory.get_or_insert_with(Default::default).rehash =
                parse_bool(&value).ok_or_else(|| ConfigError::new(name, "must be true or false"))?
        }
        "erp_sync_url" => raw.erp_sync.get_or_insert_with(Default::default).url = Some(value),
        "workspace_max_body_bytes" => {
            raw.workspace
                .get_or_insert_with(Default::default)
                .max_body_bytes = Some(
                value
                    .parse()
                    .map_err(|_| ConfigError::new(name, "must be a whole number of bytes"))?,
            )
        }
        "workspace_admin_roles" => {
            raw.workspace
                .get_or_insert_with(Default::default)
                .admin_roles = Some(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )
        }
        meet if meet.starts_with("meet_") => apply_meet(raw, &meet["meet_".len()..], name, value)?,
        docs if docs.starts_with("docs_") => apply_docs(raw, &docs["docs_".len()..], name, value)?,
        calendar if calendar.starts_with("calendar_") => {
            apply_calendar(raw, &calendar["calendar_".len()..], name, value)?
        }
        mail if mail.starts_with("mail_") => apply_mail(raw, &mail["mail_".len()..], name, value)?,
        _ => return Err(ConfigError::new(name, "unknown environment override")),
    }
    Ok(())
}

/// `BHEEM_SSO_DOCS_<KEY>`: every `[docs]` key (none is a secret).
fn apply_docs(
    raw: &mut RawConfig,
    key: &str,
    name: &str,
    value: String,
) -> Result<(), ConfigError> {
    let number = |value: &str| {
        value
            .parse::<u64>()
            .map_err(|_| ConfigError::new(name, "must be a whole number"))
    };
    let docs = raw.docs.get_or_insert_with(Default::default);
    match key {
        "nextcloud_url" => docs.nextcloud_url = Some(value),
        "uid_claim" => docs.uid_claim = Some(value),
        "max_upload_mib" => docs.max_upload_mib = Some(number(&value)?),
        "request_timeout_seconds" => docs.request_timeout_seconds = Some(number(&value)?),
        _ => return Err(ConfigError::new(name, "unknown environment override")),
    }
    Ok(())
}

/// `BHEEM_SSO_CALENDAR_<KEY>`: every `[calendar]` key (none is a secret).
fn apply_calendar(
    raw: &mut RawConfig,
    key: &str,
    name: &str,
    value: String,
) -> Result<(), ConfigError> {
    let number = |value: &str| {
        value
            .parse::<u64>()
            .map_err(|_| ConfigError::new(name, "must be a whole number"))
    };
    let small = |value: &str| {
        value
            .parse::<u32>()
            .map_err(|_| ConfigError::new(name, "must be a whole number"))
    };
    let calendar = raw.calendar.get_or_insert_with(Default::default);
    match key {
        "nextcloud_url" => calendar.nextcloud_url = Some(value),
        "uid_claim" => calendar.uid_claim = Some(value),
        "request_timeout_seconds" => calendar.request_timeout_seconds = Some(number(&value)?),
        "default_calendar" => calendar.default_calendar = Some(value),
        "max_range_days" => calendar.max_range_days = Some(small(&value)?),
        "max_occurrences" => calendar.max_occurrences = Some(small(&value)?),
        _ => return Err(ConfigError::new(name, "unknown environment override")),
    }
    Ok(())
}

/// `BHEEM_SSO_MAIL_<KEY>`: every `[mail]` key (the master password itself comes from the
/// variable `master_password_env` names).
fn apply_mail(
    raw: &mut RawConfig,
    key: &str,
    name: &str,
    value: String,
) -> Result<(), ConfigError> {
    let number = |value: &str| {
        value
            .parse::<u64>()
            .map_err(|_| ConfigError::new(name, "must be a whole number"))
    };
    let port = |value: &str| {
        value
            .parse::<u16>()
            .map_err(|_| ConfigError::new(name, "must be a port between 1 and 65535"))
    };
    let mail = raw.mail.get_or_insert_with(Default::default);
    match key {
        "imap_host" => mail.imap_host = Some(value),
        "imap_port" => mail.imap_port = Some(port(&value)?),
        "smtp_host" => mail.smtp_host = Some(value),
        "smtp_port" => mail.smtp_port = Some(port(&value)?),
        "tls" => mail.tls = Some(value),
        "tls_ca_file" => mail.tls_ca_file = Some(PathBuf::from(value)),
        "master_user" => mail.master_user = Some(value),
        "master_password_env" => mail.master_password_env = Some(value),
        "master_separator" => mail.master_separator = Some(value),
        "pool_idle_seconds" => mail.pool_idle_seconds = Some(number(&value)?),
        "request_timeout_seconds" => mail.request_timeout_seconds = Some(number(&value)?),
        "max_message_mib" => mail.max_message_mib = Some(number(&value)?),
        _ => return Err(ConfigError::new(name, "unknown environment override")),
    }
    Ok(())
}

/// `BHEEM_SSO_MEET_<KEY>` and `BHEEM_SSO_MEET_RECORDINGS_<KEY>`: the `[meet]` keys that are not
/// secrets (those come from the variables `api_secret_env` and the `*_env` keys name).
fn apply_meet(
    raw: &mut RawConfig,
    key: &str,
    name: &str,
    value: String,
) -> Result<(), ConfigError> {
    let seconds = |value: &str| {
        value
            .parse::<u64>()
            .map_err(|_| ConfigError::new(name, "must be a whole number of seconds"))
    };
    let meet = raw.meet.get_or_insert_with(Default::default);
    if let Some(key) = key.strip_prefix("recordings_") {
        let rec = meet.recordings.get_or_insert_with(Default::default);
        match key {
            "s3_endpoint" => rec.s3_endpoint = Some(value),
            "s3_region" => rec.s3_region = Some(value),
            "s3_bucket" => rec.s3_bucket = Some(value),
            "s3_access_key_env" => rec.s3_access_key_env = Some(value),
            "s3_secret_key_env" => rec.s3_secret_key_env = Some(value),
            "prefix" => rec.prefix = Some(value),
            "url_ttl_seconds" => rec.url_ttl_seconds = Some(seconds(&value)?),
            _ => return Err(ConfigError::new(name, "unknown environment override")),
        }
        return Ok(());
    }
    match key {
        "livekit_url" => meet.livekit_url = Some(value),
        "ws_url" => meet.ws_url = Some(value),
        "api_key" => meet.api_key = Some(value),
        "api_secret_env" => meet.api_secret_env = Some(value),
        "join_url_base" => meet.join_url_base = Some(value),
        "token_ttl_seconds" => meet.token_ttl_seconds = Some(seconds(&value)?),
        "request_timeout_seconds" => meet.request_timeout_seconds = Some(seconds(&value)?),
        _ => return Err(ConfigError::new(name, "unknown environment override")),
    }
    Ok(())
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The value of the variable a `*_env` key names, or what is wrong with it, in words that name
/// the variable: an operator looks for it in the unit file or the container's environment.
pub(super) fn secret_var(env: &[(String, String)], var: &str) -> Result<String, String> {
    match env.iter().find(|(k, _)| k == var) {
        None => Err(format!("environment variable {var} is not set")),
        Some((_, v)) if v.is_empty() => Err(format!("environment variable {var} is empty")),
        Some((_, v)) => Ok(v.clone()),
    }
}
