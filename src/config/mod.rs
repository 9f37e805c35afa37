//! One `Config`: a TOML file, then `BHEEM_SSO_*` environment overrides, then validation.
//!
//! Every error names the key it is about, so that one line tells an operator what to fix.
//! Secrets (client secrets, database passwords) are wrapped so `Debug` never shows them.
//!
//! The sections with rules of their own (`clients`, `directory`, `provisioning`) are modules of
//! their own; the small ones (`password`, `session`, `tokens`, …) are together in `sections`.
//! `env` applies the overrides; `validate` checks the whole, with the rules that span sections
//! (a client's `provision` needs its `[provisioning]` section).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod calendar;
mod clients;
mod directory;
mod docs;
mod env;
mod erp_sync;
mod mail;
mod meet;
mod paths;
#[cfg(test)]
mod problem_tests;
mod provisioning;
mod sections;
#[cfg(test)]
mod tests;
mod validate;
mod values;
mod workspace;

pub use calendar::{is_calendar_name, CalendarConfig};
pub use clients::{client_key, ClientConfig, EmailClaim, GrantType, TokenEndpointAuthMethod};
pub use directory::{DirectoryColumns, DirectoryConfig};
pub use docs::DocsConfig;
pub use erp_sync::{
    DocumentColumns, ErpSyncConfig, ErpTable, MeetingRoomColumns, RoomBookingColumns,
};
pub use mail::{MailConfig, MailTls};
pub use meet::{MeetConfig, RecordingsConfig};
pub use provisioning::{
    InstanceAdminRoles, MailcowConfig, NextcloudConfig, ProvisionTarget, ProvisioningConfig,
};
pub use sections::{
    AuditConfig, ForwardedHeader, HttpConfig, LogFormat, LoginLimitConfig, OutboxConfig,
    PasswordConfig, SessionConfig, TokenConfig,
};
pub use values::{Backend, DatabaseUrl, Issuer};
pub use workspace::{WorkspaceConfig, AREA_SCOPES, DEFAULT_MAX_BODY_BYTES};

use calendar::RawCalendar;
use clients::RawClient;
use directory::RawDirectory;
use docs::RawDocs;
use env::apply_env;
use erp_sync::RawErpSync;
use mail::RawMail;
use meet::RawMeet;
use provisioning::RawProvisioning;
use validate::validate;
use workspace::RawWorkspace;

/// The environment variable that names the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "BHEEM_SSO_CONFIG";
const DEFAULT_FILE: &str = "bheem-sso.toml";

/// How long relying parties may cache the JWKS (`Cache-Control: max-age` of the JWKS endpoint).
/// A rotated-in key is published this long (and a margin) before it signs, and each node
/// re-reads the keys more often than this (`key_refresh_seconds`). Here, at the bottom of the
/// layers, so that the configuration can check against it; `crate::keys` re-exports it.
pub const JWKS_MAX_AGE_SECONDS: u64 = 300;

/// A configuration problem, always about one key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: `{key}`: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Every problem found in one configuration, in the order they were found: an operator fixes
/// them all in one go instead of one per start. Never empty.
#[derive(Debug)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    /// The keys, in order: what a test or a summary wants.
    pub fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|e| e.key.as_str()).collect()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: there is no `ConfigErrors` without an error (clippy asks for the pair).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<ConfigError> {
        self.0
    }
}

/// One line per problem.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    /// The exact `iss` string; never derived from a request.
    pub issuer: Issuer,
    pub listen: SocketAddr,
    /// Where Prometheus metrics are served (`GET /metrics`); `None`: not at all, and nothing
    /// is recorded.
    pub metrics_listen: Option<SocketAddr>,
    pub database_url: DatabaseUrl,
    pub keys_dir: PathBuf,
    /// How long a rotated-out signing key stays published in the JWKS.
    pub key_grace_seconds: u64,
    /// How often a serving node looks for keys added by another node or command.
    pub key_refresh_seconds: u64,
    /// Rotate (two-stage) when the newest key is this many days old; `None`: only by hand.
    pub key_rotation_days: Option<u64>,
    /// The key-encryption key, base64, from `BHEEM_SSO_KEY_ENCRYPTION_KEY` only (never the
    /// file); when `None` it is read from `<keys_dir>/encryption.key`.
    pub key_encryption_key: Option<secrecy::SecretString>,
    pub password: PasswordConfig,
    pub session: SessionConfig,
    pub tokens: TokenConfig,
    pub login_limits: LoginLimitConfig,
    /// Peers whose `X-Forwarded-For` (or `Forwarded`) header says who the client is.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Which header the trusted proxies set.
    pub forwarded_header: ForwardedHeader,
    /// Text or JSON lines on stderr.
    pub log_format: LogFormat,
    /// A line for every request answered (method, route, status, latency), at `info`.
    pub access_log: bool,
    pub outbox: OutboxConfig,
    pub http: HttpConfig,
    pub audit: AuditConfig,
    pub provisioning: ProvisioningConfig,
    /// `client_id` (and `aud`) of tokens from the first-party JSON login of the workspace SPA.
    pub first_party_client_id: String,
    pub directory: Option<DirectoryConfig>,
    /// Where the workspace's objects are copied into the ERP; `None`: nowhere.
    pub erp_sync: Option<ErpSyncConfig>,
    pub clients: Vec<ClientConfig>,
    /// What the workspace APIs share (`[workspace]`).
    pub workspace: WorkspaceConfig,
    /// Bheem Meet on LiveKit; `None`: the meet routes answer 404 and discovery omits `meet`.
    pub meet: Option<MeetConfig>,
    /// Bheem Docs on Nextcloud; `None`: the docs routes answer 404 and discovery omits `docs`.
    pub docs: Option<DocsConfig>,
    /// Bheem Calendar on Nextcloud's CalDAV; `None`: the calendar routes answer 404 and
    /// discovery omits `calendar`.
    pub calendar: Option<CalendarConfig>,
    /// Bheem Mail on Mailcow's Dovecot and Postfix; `None`: the mail routes answer 404 and
    /// discovery omits `mail`.
    pub mail: Option<MailConfig>,
    /// Where the configuration came from, for the start-up log line.
    pub source: ConfigSource,
}

/// A configuration as loaded, with the parts that are valid even when others are not.
pub struct Checked {
    pub result: Result<Config, ConfigErrors>,
    pub usable: Usable,
}

/// The parts of a configuration that `config check` tests against the outside world, each
/// present when it is valid by itself.
#[derive(Debug)]
pub struct Usable {
    pub source: ConfigSource,
    pub database_url: Option<DatabaseUrl>,
    /// Where the key-encryption key file is, and the one the environment gives.
    pub keys_dir: PathBuf,
    pub key_encryption_key: Option<secrecy::SecretString>,
    pub directory: Option<DirectoryConfig>,
    pub provisioning: ProvisioningConfig,
    /// The clients without a problem of their own.
    pub clients: Vec<ClientConfig>,
    pub meet: Option<MeetConfig>,
    pub docs: Option<DocsConfig>,
    pub mail: Option<MailConfig>,
    pub calendar: Option<CalendarConfig>,
}

impl Checked {
    /// Nothing could be read (not TOML, an unknown override): no part to check further.
    fn unusable(errors: ConfigErrors, source: ConfigSource) -> Self {
        Self {
            result: Err(errors),
            usable: Usable {
                source,
                database_url: None,
                keys_dir: PathBuf::new(),
                key_encryption_key: None,
                directory: None,
                provisioning: ProvisioningConfig::default(),
                clients: Vec::new(),
                meet: None,
                docs: None,
                mail: None,
                calendar: None,
            },
        }
    }
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

// ---------------------------------------------------------------------------------------------
// The file as written: everything optional, unknown keys refused.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    issuer: Option<String>,
    listen: Option<String>,
    metrics_listen: Option<String>,
    database_url: Option<String>,
    keys_dir: Option<PathBuf>,
    key_grace_seconds: Option<u64>,
    key_refresh_seconds: Option<u64>,
    key_rotation_days: Option<u64>,
    /// Set from the environment only: a secret does not belong in the configuration file.
    #[serde(skip)]
    key_encryption_key: Option<secrecy::SecretString>,
    password: Option<PasswordConfig>,
    session: Option<SessionConfig>,
    tokens: Option<TokenConfig>,
    login_limits: Option<LoginLimitConfig>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    forwarded_header: Option<ForwardedHeader>,
    log_format: Option<LogFormat>,
    access_log: Option<bool>,
    outbox: Option<OutboxConfig>,
    http: Option<HttpConfig>,
    audit: Option<AuditConfig>,
    provisioning: Option<RawProvisioning>,
    first_party_client_id: Option<String>,
    directory: Option<RawDirectory>,
    erp_sync: Option<RawErpSync>,
    #[serde(default)]
    clients: Vec<RawClient>,
    workspace: Option<RawWorkspace>,
    meet: Option<RawMeet>,
    docs: Option<RawDocs>,
    calendar: Option<RawCalendar>,
    mail: Option<RawMail>,
}

impl Config {
    /// Loads the configuration the way `serve` does: `--config`, else `$BHEEM_SSO_CONFIG`, else
    /// `./bheem-sso.toml` if present, else the built-in development defaults; then the environment.
    pub fn load(explicit: Option<&Path>) -> Result<Self, ConfigErrors> {
        Self::check(explicit).result
    }

    /// As [`Config::load`], keeping the valid parts when there are problems: what
    /// `bheem-sso config check` goes on to check against the outside world.
    pub fn check(explicit: Option<&Path>) -> Checked {
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
            Some(path) => match std::fs::read_to_string(&path) {
                Ok(text) => Self::check_parts(&text, &env, ConfigSource::File(path)),
                Err(e) => Checked::unusable(
                    ConfigError::new(
                        "config file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                    .into(),
                    ConfigSource::File(path),
                ),
            },
            None => Self::check_parts("", &env, ConfigSource::BuiltInDefaults),
        }
    }

    /// Parses `toml` text, applies `BHEEM_SSO_*` overrides from `env`, and validates, reporting
    /// every problem found (a file that is not TOML at all is one problem).
    ///
    /// Relative paths written in a file are taken from the file's folder
    /// ([`paths::resolve_against`]), before the overrides: a path from the environment means
    /// what it means to the shell that set it, relative to the current directory.
    pub fn from_parts(
        toml_text: &str,
        env: &[(String, String)],
        source: ConfigSource,
    ) -> Result<Self, ConfigErrors> {
        Self::check_parts(toml_text, env, source).result
    }

    /// [`Config::from_parts`], keeping the valid parts.
    pub fn check_parts(toml_text: &str, env: &[(String, String)], source: ConfigSource) -> Checked {
        let mut raw: RawConfig = match toml::from_str(toml_text) {
            Ok(raw) => raw,
            Err(e) => return Checked::unusable(toml_error(toml_text, e).into(), source),
        };
        if let ConfigSource::File(path) = &source {
            paths::resolve_against(&mut raw, path);
        }
        if let Err(errors) = apply_env(&mut raw, env) {
            return Checked::unusable(errors, source);
        }
        validate(raw, env, source)
    }

    /// Whether Bheem Meet is configured (`[meet]`): without it the meet routes answer 404 and
    /// discovery does not list the `meet` scope.
    pub fn meet_enabled(&self) -> bool {
        self.meet.is_some()
    }

    /// Whether Bheem Docs is configured (`[docs]`).
    pub fn docs_enabled(&self) -> bool {
        self.docs.is_some()
    }

    /// Whether Bheem Calendar is configured (`[calendar]`).
    pub fn calendar_enabled(&self) -> bool {
        self.calendar.is_some()
    }

    /// Whether Bheem Mail is configured (`[mail]`).
    pub fn mail_enabled(&self) -> bool {
        self.mail.is_some()
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
