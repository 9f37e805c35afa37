//! One `Config`: a TOML file, then `BHEEM_SSO_*` environment overrides, then validation.
//!
//! Every error names the key it is about, so that one line tells an operator what to fix.
//! Secrets (client secrets, database passwords) are wrapped so `Debug` never shows them.
//!
//! One file over 500 lines on purpose, for now: the loading, the environment overrides and the
//! validation of the top-level keys read as one sequence; each section of its own (`clients`,
//! `directory`, `provisioning`, `values`) is already a module beside it. The workspace areas'
//! sections (issue 16 and after) go into modules of their own.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod clients;
mod directory;
mod provisioning;
#[cfg(test)]
mod tests;
mod values;

pub use clients::{ClientConfig, EmailClaim, GrantType, TokenEndpointAuthMethod};
pub use directory::{DirectoryColumns, DirectoryConfig};
pub use provisioning::{
    InstanceAdminRoles, MailcowConfig, NextcloudConfig, ProvisionTarget, ProvisioningConfig,
};
pub use values::{Backend, DatabaseUrl, Issuer};

use clients::{validate_client, RawClient};
use directory::{validate_directory, RawDirectory};
use provisioning::{validate_provisioning, RawProvisioning};

/// The environment variable that names the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "BHEEM_SSO_CONFIG";
const ENV_PREFIX: &str = "BHEEM_SSO_";
const DEFAULT_FILE: &str = "bheem-sso.toml";

/// A configuration problem, always about one key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: `{key}`: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    /// The exact `iss` string; never derived from a request.
    pub issuer: Issuer,
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub keys_dir: PathBuf,
    /// How long a rotated-out signing key stays published in the JWKS.
    pub key_grace_seconds: u64,
    pub password: PasswordConfig,
    pub session: SessionConfig,
    pub tokens: TokenConfig,
    pub login_limits: LoginLimitConfig,
    /// Peers whose `X-Forwarded-For` (or `Forwarded`) header says who the client is.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Which header the trusted proxies set.
    pub forwarded_header: ForwardedHeader,
    pub outbox: OutboxConfig,
    pub http: HttpConfig,
    pub provisioning: ProvisioningConfig,
    /// `client_id` (and `aud`) of tokens from the first-party JSON login of the workspace SPA.
    pub first_party_client_id: String,
    pub directory: Option<DirectoryConfig>,
    pub clients: Vec<ClientConfig>,
    /// Where the configuration came from, for the start-up log line.
    pub source: ConfigSource,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    BuiltInDefaults,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(path) => write!(f, "{}", path.display()),
            ConfigSource::BuiltInDefaults => f.write_str("built-in development defaults"),
        }
    }
}

/// Argon2id parameters for new hashes, and how many hashes may run at once.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// Memory in KiB (OWASP: 19 MiB with 2 passes).
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Hashes running at once; 0 means one per core.
    pub max_concurrent: usize,
    /// Every password check answers after at least this long, whatever the stored hash (bcrypt
    /// and pbkdf2 are faster than argon2id) or whether the user exists, so timing does not tell
    /// who has an account. 0: the moving average of an argon2id check with the parameters
    /// above, measured as the server runs.
    pub min_verify_ms: u64,
    /// A login that would wait longer than this for a free hashing slot is refused at once
    /// (503 with `Retry-After`) instead of joining a queue without bound.
    pub max_queue_ms: u64,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 0,
            min_verify_ms: 0,
            max_queue_ms: 1000,
        }
    }
}

/// The header a trusted proxy says the client's address in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For`, as nginx's `$proxy_add_x_forwarded_for` and most balancers set it.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=…`.
    Forwarded,
}

/// Lifetimes of the SSO session.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Ends after this long without use.
    pub idle_seconds: u64,
    /// Ends this long after login, however busy.
    pub absolute_seconds: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_seconds: 8 * 3600,
            absolute_seconds: 7 * 24 * 3600,
        }
    }
}

/// Token lifetimes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    pub access_token_seconds: u64,
    pub id_token_seconds: u64,
    pub refresh_token_seconds: u64,
    pub authorization_code_seconds: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            access_token_seconds: 600,
            id_token_seconds: 3600,
            refresh_token_seconds: 30 * 24 * 3600,
            authorization_code_seconds: 60,
        }
    }
}

/// Brute-force defence: failed password logins allowed per minute. Only failures count, so a
/// busy office behind one address is never throttled by its own successful logins.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginLimitConfig {
    /// Failures against one account from one client address, or from one browser that has
    /// logged in to that account before (its device cookie).
    pub per_account_per_minute: u32,
    /// Failures from one client address, whatever the account (password spraying).
    pub per_ip_per_minute: u32,
    /// Failures against one account from all addresses together (a distributed attack). It
    /// holds back only browsers without the account's device cookie, so an attacker can't lock
    /// the owner out, and must be above `per_account_per_minute` so that one address can't
    /// reach it alone. Unset (0): four times `per_account_per_minute`.
    pub per_account_all_addresses_per_minute: u32,
    /// How long a device cookie keeps a browser known to an account.
    pub device_cookie_days: u32,
}

impl Default for LoginLimitConfig {
    fn default() -> Self {
        Self {
            per_account_per_minute: 5,
            per_ip_per_minute: 30,
            per_account_all_addresses_per_minute: 0,
            device_cookie_days: 90,
        }
    }
}

/// The outbox workers: how often they look, how they back off, when they give up.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    pub poll_interval_ms: u64,
    /// First retry after about this long; each further one waits twice as long (with jitter).
    pub retry_base_seconds: u64,
    pub retry_max_seconds: u64,
    /// Attempts before a job is marked failed.
    pub max_attempts: u32,
    pub request_timeout_seconds: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 1000,
            retry_base_seconds: 5,
            retry_max_seconds: 3600,
            max_attempts: 10,
            request_timeout_seconds: 10,
        }
    }
}

/// The HTTP connections themselves, below any request.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A connection must deliver a complete request head within this long, counted from the
    /// moment it opens or its previous response went out; otherwise it is closed. So it bounds
    /// both a client that trickles its headers and a kept-alive connection left idle (hyper
    /// starts this timer again whenever a connection goes idle).
    pub header_read_timeout_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_seconds: 10,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The file as written: everything optional, unknown keys refused.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    issuer: Option<String>,
    listen: Option<String>,
    database_url: Option<String>,
    keys_dir: Option<PathBuf>,
    key_grace_seconds: Option<u64>,
    password: Option<PasswordConfig>,
    session: Option<SessionConfig>,
    tokens: Option<TokenConfig>,
    login_limits: Option<LoginLimitConfig>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    forwarded_header: Option<ForwardedHeader>,
    outbox: Option<OutboxConfig>,
    http: Option<HttpConfig>,
    provisioning: Option<RawProvisioning>,
    first_party_client_id: Option<String>,
    directory: Option<RawDirectory>,
    #[serde(default)]
    clients: Vec<RawClient>,
}

impl Config {
    /// Loads the configuration the way `serve` does: `--config`, else `$BHEEM_SSO_CONFIG`, else
    /// `./bheem-sso.toml` if present, else the built-in development defaults; then the environment.
    pub fn load(explicit: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let from_env = env
            .iter()
            .find(|(k, _)| k == CONFIG_ENV)
            .map(|(_, v)| PathBuf::from(v));
        let path = explicit.map(Path::to_path_buf).or(from_env).or_else(|| {
            let default = PathBuf::from(DEFAULT_FILE);
            default.exists().then_some(default)
        });
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    ConfigError::new(
                        "config file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                Self::from_parts(&text, &env, ConfigSource::File(path))
            }
            None => Self::from_parts("", &env, ConfigSource::BuiltInDefaults),
        }
    }

    /// Parses `toml` text, applies `BHEEM_SSO_*` overrides from `env`, and validates.
    pub fn from_parts(
        toml_text: &str,
        env: &[(String, String)],
        source: ConfigSource,
    ) -> Result<Self, ConfigError> {
        let mut raw: RawConfig = toml::from_str(toml_text).map_err(|e| toml_error(toml_text, e))?;
        apply_env(&mut raw, env)?;
        validate(raw, env, source)
    }

    /// The process environment as the `env` argument of [`Config::from_parts`] wants it.
    pub fn process_env() -> Vec<(String, String)> {
        std::env::vars().collect()
    }
}

fn toml_error(text: &str, e: toml::de::Error) -> ConfigError {
    let message = e.message().trim().to_owned();
    // toml reports unknown fields as "unknown field `x`, expected one of …".
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        let key = match e.span().and_then(|span| key_at(text, span.start)) {
            Some(path) if path.ends_with(field) => path,
            _ => field.to_owned(),
        };
        return ConfigError::new(key, "unknown key");
    }
    let key = e
        .span()
        .and_then(|span| key_at(text, span.start))
        .unwrap_or_else(|| "config file".to_owned());
    ConfigError::new(key, message)
}

/// The dotted key whose line holds byte `offset`: `section.key`, or `section` for a table that
/// is wrong as a whole.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let section = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    let key = line.split_once('=').map(|(k, _)| k.trim().to_owned());
    match (section, key) {
        (Some(section), Some(key)) => Some(format!("{section}.{key}")),
        (None, Some(key)) => Some(key),
        (Some(section), None) => Some(section),
        (None, None) => None,
    }
}

/// `BHEEM_SSO_<KEY>` overrides the top-level `<key>`; `BHEEM_SSO_DIRECTORY_<KEY>` the
/// `[directory]` one. An unknown `BHEEM_SSO_` variable is an error: it is almost always a typo.
fn apply_env(raw: &mut RawConfig, env: &[(String, String)]) -> Result<(), ConfigError> {
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
            "key_grace_seconds" => {
                raw.key_grace_seconds = Some(value.parse().map_err(|_| {
                    ConfigError::new(name.as_str(), "must be a whole number of seconds")
                })?)
            }
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

fn validate(
    raw: RawConfig,
    env: &[(String, String)],
    source: ConfigSource,
) -> Result<Config, ConfigError> {
    let issuer_raw = raw.issuer.as_deref().unwrap_or("http://127.0.0.1:8080");
    let issuer = Issuer::parse(issuer_raw).map_err(|m| ConfigError::new("issuer", m))?;

    let listen_raw = raw.listen.as_deref().unwrap_or("127.0.0.1:8080");
    let listen = listen_raw.parse().map_err(|_| {
        ConfigError::new(
            "listen",
            "must be an address and port such as 127.0.0.1:8080",
        )
    })?;

    let database_url = DatabaseUrl::parse(
        raw.database_url
            .as_deref()
            .unwrap_or("sqlite://data/bheem-sso.db"),
    )
    .map_err(|m| ConfigError::new("database_url", m))?;

    let keys_dir = raw.keys_dir.unwrap_or_else(|| PathBuf::from("keys"));
    if keys_dir.as_os_str().is_empty() {
        return Err(ConfigError::new("keys_dir", "must not be empty"));
    }

    let password = raw.password.unwrap_or_default();
    validate_password(&password)?;

    let session = raw.session.unwrap_or_default();
    if session.idle_seconds == 0 || session.absolute_seconds < session.idle_seconds {
        return Err(ConfigError::new(
            "session.absolute_seconds",
            "must be at least session.idle_seconds, and both above 0",
        ));
    }
    let tokens = raw.tokens.unwrap_or_default();
    for (key, value) in [
        ("tokens.access_token_seconds", tokens.access_token_seconds),
        ("tokens.id_token_seconds", tokens.id_token_seconds),
        ("tokens.refresh_token_seconds", tokens.refresh_token_seconds),
        (
            "tokens.authorization_code_seconds",
            tokens.authorization_code_seconds,
        ),
    ] {
        if value == 0 {
            return Err(ConfigError::new(key, "must be above 0"));
        }
    }
    if tokens.authorization_code_seconds > 600 {
        return Err(ConfigError::new(
            "tokens.authorization_code_seconds",
            "must be at most 600 (RFC 6749 §4.1.2)",
        ));
    }
    let mut login_limits = raw.login_limits.unwrap_or_default();
    if login_limits.per_account_all_addresses_per_minute == 0 {
        login_limits.per_account_all_addresses_per_minute =
            login_limits.per_account_per_minute.saturating_mul(4);
    }
    if login_limits.per_account_per_minute == 0
        || login_limits.per_ip_per_minute == 0
        || login_limits.device_cookie_days == 0
    {
        return Err(ConfigError::new("login_limits", "limits must be above 0"));
    }
    if login_limits.per_account_all_addresses_per_minute <= login_limits.per_account_per_minute {
        return Err(ConfigError::new(
            "login_limits.per_account_all_addresses_per_minute",
            "must be above per_account_per_minute, or one address could lock an account alone",
        ));
    }
    let trusted_proxies = raw
        .trusted_proxies
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            parse_network(raw).ok_or_else(|| {
                ConfigError::new(
                    format!("trusted_proxies[{i}]"),
                    format!("`{raw}` is not an address or a CIDR network such as 10.0.0.0/8"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outbox = raw.outbox.unwrap_or_default();
    if outbox.poll_interval_ms == 0
        || outbox.max_attempts == 0
        || outbox.request_timeout_seconds == 0
    {
        return Err(ConfigError::new(
            "outbox",
            "poll_interval_ms, max_attempts and request_timeout_seconds must be above 0",
        ));
    }
    if outbox.retry_max_seconds < outbox.retry_base_seconds {
        return Err(ConfigError::new(
            "outbox.retry_max_seconds",
            "must be at least retry_base_seconds",
        ));
    }
    let http = raw.http.unwrap_or_default();
    if !(1..=300).contains(&http.header_read_timeout_seconds) {
        return Err(ConfigError::new(
            "http.header_read_timeout_seconds",
            "must be between 1 and 300",
        ));
    }
    let provisioning = validate_provisioning(raw.provisioning.unwrap_or_default(), env)?;
    let first_party_client_id = raw
        .first_party_client_id
        .unwrap_or_else(|| "bheem-workspace".to_owned());

    let directory = raw
        .directory
        .map(|d| validate_directory(d, env))
        .transpose()?;

    let mut seen = HashSet::new();
    let clients = raw
        .clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            if !seen.insert(c.client_id.clone()) {
                return Err(ConfigError::new(
                    format!("clients[{i}].client_id"),
                    format!("`{}` is registered twice", c.client_id),
                ));
            }
            // The workspace's own tokens are told apart by this id (`/api/v1/auth/me` and
            // `/api/v1/auth/refresh` take only them): a relying party must not share it.
            if c.client_id == first_party_client_id {
                return Err(ConfigError::new(
                    format!("clients[{i}].client_id"),
                    format!(
                        "`{}` is first_party_client_id, the workspace's own login's id",
                        c.client_id
                    ),
                ));
            }
            validate_client(i, c, env)
        })
        .collect::<Result<Vec<_>, _>>()?;

    for (i, c) in clients.iter().enumerate() {
        for target in &c.provision {
            let configured = match target {
                ProvisionTarget::Nextcloud => provisioning.nextcloud.is_some(),
                ProvisionTarget::Mailcow => provisioning.mailcow.is_some(),
            };
            if !configured {
                return Err(ConfigError::new(
                    format!("clients[{i}].provision"),
                    format!(
                        "{} is listed but [provisioning.{}] is missing",
                        target.as_str(),
                        target.as_str()
                    ),
                ));
            }
        }
        if c.email_claim == EmailClaim::Mailbox && provisioning.mailcow.is_none() {
            return Err(ConfigError::new(
                format!("clients[{i}].email_claim"),
                "\"mailbox\" needs [provisioning.mailcow], which makes the mailboxes",
            ));
        }
        let makes_mailboxes = c.provision.contains(&ProvisionTarget::Mailcow)
            || provisioning.targets.contains(&ProvisionTarget::Mailcow);
        if c.email_claim == EmailClaim::Mailbox && !makes_mailboxes {
            return Err(ConfigError::new(
                format!("clients[{i}].email_claim"),
                "\"mailbox\" needs mailcow in this client's provision (or in \
                 provisioning.targets): otherwise no login makes the mailbox it names",
            ));
        }
    }
    Ok(Config {
        issuer,
        listen,
        database_url,
        keys_dir,
        key_grace_seconds: raw.key_grace_seconds.unwrap_or(7 * 24 * 3600),
        password,
        session,
        tokens,
        login_limits,
        trusted_proxies,
        forwarded_header: raw.forwarded_header.unwrap_or_default(),
        outbox,
        http,
        provisioning,
        first_party_client_id,
        directory,
        clients,
        source,
    })
}

/// A CIDR network, or a single address as the network of just that address.
fn parse_network(raw: &str) -> Option<ipnet::IpNet> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .ok()
        .map(|net| net.trunc())
        .or_else(|| raw.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

fn validate_password(p: &PasswordConfig) -> Result<(), ConfigError> {
    if p.memory_kib < 8 * 1024 {
        return Err(ConfigError::new(
            "password.memory_kib",
            "must be at least 8192 (OWASP recommends 19456)",
        ));
    }
    if p.iterations == 0 {
        return Err(ConfigError::new(
            "password.iterations",
            "must be at least 1",
        ));
    }
    if p.parallelism == 0 {
        return Err(ConfigError::new(
            "password.parallelism",
            "must be at least 1",
        ));
    }
    Ok(())
}

pub(super) fn lookup(env: &[(String, String)], var: &str) -> Option<String> {
    env.iter()
        .find(|(k, _)| k == var)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}
