//! `BHEEM_SSO_*` environment overrides, and the look-up of the variables a section names.

use std::path::PathBuf;

use super::{ConfigError, RawConfig, CONFIG_ENV};

const ENV_PREFIX: &str = "BHEEM_SSO_";

/// `BHEEM_SSO_<KEY>` overrides the top-level `<key>`; `BHEEM_SSO_DIRECTORY_<KEY>` the
/// `[directory]` one. An unknown `BHEEM_SSO_` variable is an error: it is almost always a typo.
pub(super) fn apply_env(raw: &mut RawConfig, env: &[(String, String)]) -> Result<(), ConfigError> {
    for (name, value) in env {
        let Some(key) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if name == CONFIG_ENV {
            continue;
        }
        let value = value.clone();
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
                        .map_err(|()| ConfigError::new(name.as_str(), "must be text or json"))?,
                )
            }
            "access_log" => {
                raw.access_log = Some(
                    parse_bool(&value)
                        .ok_or_else(|| ConfigError::new(name.as_str(), "must be true or false"))?,
                )
            }
            "key_grace_seconds" => {
                raw.key_grace_seconds = Some(value.parse().map_err(|_| {
                    ConfigError::new(name.as_str(), "must be a whole number of seconds")
                })?)
            }
            "key_refresh_seconds" => {
                raw.key_refresh_seconds = Some(value.parse().map_err(|_| {
                    ConfigError::new(name.as_str(), "must be a whole number of seconds")
                })?)
            }
            "key_rotation_days" => {
                raw.key_rotation_days = Some(value.parse().map_err(|_| {
                    ConfigError::new(name.as_str(), "must be a whole number of days")
                })?)
            }
            // Decoded where the keys are loaded, so that its error names the variable only.
            "key_encryption_key" => raw.key_encryption_key = Some(value.into()),
            "directory_url" => raw.directory.get_or_insert_with(Default::default).url = Some(value),
            "directory_table" => {
                raw.directory.get_or_insert_with(Default::default).table = Some(value)
            }
            "directory_rehash" => {
                raw.directory.get_or_insert_with(Default::default).rehash = parse_bool(&value)
                    .ok_or_else(|| ConfigError::new(name.as_str(), "must be true or false"))?
            }
            _ => {
                return Err(ConfigError::new(
                    name.as_str(),
                    "unknown environment override",
                ))
            }
        }
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

pub(super) fn lookup(env: &[(String, String)], var: &str) -> Option<String> {
    env.iter()
        .find(|(k, _)| k == var)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}
