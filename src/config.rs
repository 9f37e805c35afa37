//! One `Config`: a TOML file, then `BHEEM_SSO_*` environment overrides, then validation.
//!
//! Every error names the key it is about, so that one line tells an operator what to fix.
//! Secrets (client secrets, database passwords) are wrapped so `Debug` never shows them.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

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
    pub outbox: OutboxConfig,
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

/// The issuer URL: absolute http(s), no query, no fragment, no trailing slash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(|e| format!("not a valid URL ({e})"))?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err("must be an http:// or https:// URL".into());
        }
        if url.host_str().is_none() {
            return Err("must have a host".into());
        }
        // OpenID Connect Discovery §3: the issuer has no query or fragment components.
        if url.query().is_some() || raw.contains('?') {
            return Err("must not contain a query".into());
        }
        if url.fragment().is_some() || raw.contains('#') {
            return Err("must not contain a fragment".into());
        }
        if url.username() != "" || url.password().is_some() {
            return Err("must not contain credentials".into());
        }
        // The string is used as `iss` exactly, and endpoint URLs are built by appending paths.
        Ok(Self(raw.trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// An endpoint under the issuer: `path` starts with `/`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }
}

/// A database URL whose password never reaches `Debug` or a log line.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let backend = Backend::of(raw)?;
        if backend == Backend::Postgres {
            let url = Url::parse(raw).map_err(|e| format!("not a valid URL ({e})"))?;
            if url.host_str().is_none() && !raw.contains("host=") {
                return Err("a postgres:// URL needs a host".into());
            }
        } else if raw
            .trim_start_matches("sqlite:")
            .trim_start_matches("//")
            .is_empty()
        {
            return Err("a sqlite: URL needs a file name (or :memory:)".into());
        }
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    pub fn backend(&self) -> Backend {
        Backend::of(self.expose()).expect("checked at parse")
    }

    /// The full URL, password included: only for opening the connection.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL with any password replaced, for logs.
    pub fn redacted(&self) -> String {
        match Url::parse(self.expose()) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            _ => self.expose().to_owned(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn of(raw: &str) -> Result<Self, String> {
        if raw.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err("must start with sqlite: or postgres://".into())
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
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 0,
        }
    }
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

/// Brute-force defence: failed password logins allowed per minute, per account and per IP.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginLimitConfig {
    pub per_account_per_minute: u32,
    pub per_ip_per_minute: u32,
}

impl Default for LoginLimitConfig {
    fn default() -> Self {
        Self {
            per_account_per_minute: 5,
            per_ip_per_minute: 30,
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

/// The ERP's users table.
#[derive(Clone, Debug)]
pub struct DirectoryConfig {
    pub url: DatabaseUrl,
    /// `schema.table`, both plain SQL identifiers.
    pub schema: String,
    pub table: String,
    pub columns: DirectoryColumns,
    /// Rewrite legacy hashes as argon2id after a successful login (writes to the ERP table).
    pub rehash: bool,
}

/// Column names in the ERP table; each a plain SQL identifier.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryColumns {
    pub id: String,
    pub email: String,
    pub username: String,
    pub name: String,
    pub company_id: String,
    pub role: String,
    pub active: String,
    pub password_hash: String,
}

impl Default for DirectoryColumns {
    fn default() -> Self {
        Self {
            id: "id".into(),
            email: "email".into(),
            username: "username".into(),
            name: "full_name".into(),
            company_id: "company_id".into(),
            role: "role".into(),
            active: "is_active".into(),
            password_hash: "hashed_password".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

impl TokenEndpointAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// A relying party registered in the config file.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub client_id: String,
    pub name: String,
    /// `None` for public clients (`token_endpoint_auth_method = "none"`).
    pub client_secret: Option<SecretString>,
    /// As written: redirect URIs are compared as exact strings (RFC 6749 §3.1.2.3).
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub grant_types: Vec<GrantType>,
    pub skip_consent: bool,
    pub require_pkce: bool,
    /// Issue refresh tokens without the `offline_access` scope (Mailcow refreshes on every page).
    pub refresh_without_offline_access: bool,
    /// Empty: users of every company may use this client.
    pub allowed_company_ids: Vec<uuid::Uuid>,
    /// Fixed claims for this client, in its ID tokens and userinfo (e.g. Nextcloud's `quota`).
    pub extra_claims: BTreeMap<String, String>,
    /// Claims whose value depends on the user: claim → key → value, the key being the user's
    /// role, else `company:<company_id>`, else `*` (e.g. Mailcow's `mailcow_template`).
    pub role_claims: BTreeMap<String, BTreeMap<String, String>>,
    /// Downstream accounts created when a user first logs in through this client.
    pub provision: Vec<ProvisionTarget>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionTarget {
    Nextcloud,
    Mailcow,
}

impl ProvisionTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nextcloud => "nextcloud",
            Self::Mailcow => "mailcow",
        }
    }
}

/// Downstream accounts made on first login.
#[derive(Clone, Debug, Default)]
pub struct ProvisioningConfig {
    /// Targets for every login, whatever the client.
    pub targets: Vec<ProvisionTarget>,
    pub nextcloud: Option<NextcloudConfig>,
    pub mailcow: Option<MailcowConfig>,
    /// How often users with downstream accounts are checked for deactivation.
    pub sweep_interval_seconds: u64,
}

#[derive(Clone, Debug)]
pub struct NextcloudConfig {
    pub url: String,
    pub admin_user: String,
    pub admin_password: SecretString,
    /// The claim Nextcloud's user_oidc maps to its user id; the account is created with it.
    pub uid_claim: String,
    pub quota: Option<String>,
}

#[derive(Clone, Debug)]
pub struct MailcowConfig {
    pub url: String,
    pub api_key: SecretString,
    pub domain: String,
    pub quota_mib: u64,
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
    outbox: Option<OutboxConfig>,
    provisioning: Option<RawProvisioning>,
    first_party_client_id: Option<String>,
    directory: Option<RawDirectory>,
    #[serde(default)]
    clients: Vec<RawClient>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    url: Option<String>,
    url_env: Option<String>,
    table: Option<String>,
    #[serde(default)]
    columns: DirectoryColumns,
    #[serde(default)]
    rehash: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    client_id: String,
    name: Option<String>,
    client_secret: Option<SecretString>,
    client_secret_env: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    backchannel_logout_uri: Option<String>,
    token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    grant_types: Option<Vec<GrantType>>,
    #[serde(default)]
    skip_consent: bool,
    #[serde(default)]
    require_pkce: bool,
    #[serde(default)]
    refresh_without_offline_access: bool,
    #[serde(default)]
    allowed_company_ids: Vec<String>,
    #[serde(default)]
    extra_claims: BTreeMap<String, String>,
    #[serde(default)]
    role_claims: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    provision: Vec<ProvisionTarget>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvisioning {
    #[serde(default)]
    targets: Vec<ProvisionTarget>,
    sweep_interval_seconds: Option<u64>,
    nextcloud: Option<RawNextcloud>,
    mailcow: Option<RawMailcow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNextcloud {
    url: String,
    admin_user: String,
    admin_password: Option<SecretString>,
    admin_password_env: Option<String>,
    uid_claim: Option<String>,
    quota: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMailcow {
    url: String,
    api_key: Option<SecretString>,
    api_key_env: Option<String>,
    domain: String,
    quota_mib: Option<u64>,
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
    let login_limits = raw.login_limits.unwrap_or_default();
    if login_limits.per_account_per_minute == 0 || login_limits.per_ip_per_minute == 0 {
        return Err(ConfigError::new("login_limits", "limits must be above 0"));
    }
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
        outbox,
        provisioning,
        first_party_client_id,
        directory,
        clients,
        source,
    })
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

fn validate_directory(
    d: RawDirectory,
    env: &[(String, String)],
) -> Result<DirectoryConfig, ConfigError> {
    let url = match (d.url, d.url_env) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "directory.url_env",
                "give either url or url_env, not both",
            ))
        }
        (Some(url), None) => url,
        (None, Some(var)) => lookup(env, &var).ok_or_else(|| {
            ConfigError::new(
                "directory.url_env",
                format!("environment variable {var} is not set"),
            )
        })?,
        (None, None) => return Err(ConfigError::new("directory.url", "missing")),
    };
    let url = DatabaseUrl::parse(&url).map_err(|m| ConfigError::new("directory.url", m))?;
    if url.backend() != Backend::Postgres {
        return Err(ConfigError::new(
            "directory.url",
            "the ERP directory must be a postgres:// URL",
        ));
    }
    let table = d.table.unwrap_or_else(|| "auth.users".into());
    let (schema, table) = match table.split_once('.') {
        Some((schema, table)) => (schema.to_owned(), table.to_owned()),
        None => ("auth".to_owned(), table),
    };
    for part in [&schema, &table] {
        check_identifier(part).map_err(|m| ConfigError::new("directory.table", m))?;
    }
    let c = &d.columns;
    for (name, value) in [
        ("id", &c.id),
        ("email", &c.email),
        ("username", &c.username),
        ("name", &c.name),
        ("company_id", &c.company_id),
        ("role", &c.role),
        ("active", &c.active),
        ("password_hash", &c.password_hash),
    ] {
        // An ERP without usernames, display names or roles leaves those columns empty.
        if value.is_empty() && matches!(name, "username" | "name" | "role") {
            continue;
        }
        check_identifier(value)
            .map_err(|m| ConfigError::new(format!("directory.columns.{name}"), m))?;
    }
    Ok(DirectoryConfig {
        url,
        schema,
        table,
        columns: d.columns,
        rehash: d.rehash,
    })
}

/// Table and column names are put into SQL text, so only plain identifiers are allowed.
fn check_identifier(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a plain SQL identifier (letters, digits, _)"
        ))
    }
}

fn lookup(env: &[(String, String)], var: &str) -> Option<String> {
    env.iter()
        .find(|(k, _)| k == var)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

fn validate_client(
    i: usize,
    c: RawClient,
    env: &[(String, String)],
) -> Result<ClientConfig, ConfigError> {
    let key = |field: &str| format!("clients[{i}].{field}");
    if c.client_id.is_empty()
        || c.client_id.len() > 128
        || !c.client_id.chars().all(|ch| ch.is_ascii_graphic())
    {
        return Err(ConfigError::new(
            key("client_id"),
            "must be 1 to 128 visible ASCII characters",
        ));
    }
    let method = c
        .token_endpoint_auth_method
        .unwrap_or(TokenEndpointAuthMethod::ClientSecretBasic);
    let client_secret = match (c.client_secret, c.client_secret_env) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                key("client_secret_env"),
                "give either client_secret or client_secret_env, not both",
            ))
        }
        (Some(secret), None) => Some(secret),
        (None, Some(var)) => Some(SecretString::from(lookup(env, &var).ok_or_else(|| {
            ConfigError::new(
                key("client_secret_env"),
                format!("environment variable {var} is not set"),
            )
        })?)),
        (None, None) => None,
    };
    match (method, &client_secret) {
        (TokenEndpointAuthMethod::None, Some(_)) => {
            return Err(ConfigError::new(
                key("client_secret"),
                "a public client (token_endpoint_auth_method = \"none\") has no secret",
            ))
        }
        (TokenEndpointAuthMethod::None, None) => {}
        (_, None) => {
            return Err(ConfigError::new(
                key("client_secret"),
                "missing: a confidential client needs client_secret or client_secret_env",
            ))
        }
        (_, Some(secret)) if secret.expose_secret().len() < 16 => {
            return Err(ConfigError::new(
                key("client_secret"),
                "must be at least 16 characters",
            ))
        }
        _ => {}
    }
    let redirect_uris = c
        .redirect_uris
        .iter()
        .map(|u| parse_redirect(u).map_err(|m| ConfigError::new(key("redirect_uris"), m)))
        .collect::<Result<Vec<_>, _>>()?;
    let post_logout_redirect_uris = c
        .post_logout_redirect_uris
        .iter()
        .map(|u| {
            parse_redirect(u).map_err(|m| ConfigError::new(key("post_logout_redirect_uris"), m))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let backchannel_logout_uri = c
        .backchannel_logout_uri
        .as_deref()
        .map(|u| parse_redirect(u).map_err(|m| ConfigError::new(key("backchannel_logout_uri"), m)))
        .transpose()?;
    let grant_types = c
        .grant_types
        .unwrap_or_else(|| vec![GrantType::AuthorizationCode, GrantType::RefreshToken]);
    if grant_types.is_empty() {
        return Err(ConfigError::new(
            key("grant_types"),
            "must list at least one grant type",
        ));
    }
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(ConfigError::new(
            key("redirect_uris"),
            "missing: the authorization_code grant needs at least one redirect URI",
        ));
    }
    if grant_types.contains(&GrantType::ClientCredentials)
        && method == TokenEndpointAuthMethod::None
    {
        return Err(ConfigError::new(
            key("grant_types"),
            "client_credentials needs a confidential client",
        ));
    }
    let allowed_company_ids = c
        .allowed_company_ids
        .iter()
        .map(|id| {
            uuid::Uuid::parse_str(id).map_err(|_| {
                ConfigError::new(key("allowed_company_ids"), format!("`{id}` is not a UUID"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ClientConfig {
        name: c.name.unwrap_or_else(|| c.client_id.clone()),
        client_id: c.client_id,
        client_secret,
        redirect_uris,
        post_logout_redirect_uris,
        backchannel_logout_uri,
        token_endpoint_auth_method: method,
        grant_types,
        skip_consent: c.skip_consent,
        require_pkce: c.require_pkce || method == TokenEndpointAuthMethod::None,
        refresh_without_offline_access: c.refresh_without_offline_access,
        allowed_company_ids,
        extra_claims: c.extra_claims,
        role_claims: c.role_claims,
        provision: c.provision,
    })
}

fn secret_from(
    env: &[(String, String)],
    key: &str,
    value: Option<SecretString>,
    var: Option<String>,
) -> Result<SecretString, ConfigError> {
    match (value, var) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            key,
            "give the value or the _env variable, not both",
        )),
        (Some(v), None) => Ok(v),
        (None, Some(var)) => lookup(env, &var).map(SecretString::from).ok_or_else(|| {
            ConfigError::new(
                format!("{key}_env"),
                format!("environment variable {var} is not set"),
            )
        }),
        (None, None) => Err(ConfigError::new(key, "missing")),
    }
}

fn base_url(key: &str, raw: &str) -> Result<String, ConfigError> {
    let url =
        Url::parse(raw).map_err(|e| ConfigError::new(key, format!("not a valid URL ({e})")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(ConfigError::new(key, "must be an http:// or https:// URL"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

fn validate_provisioning(
    raw: RawProvisioning,
    env: &[(String, String)],
) -> Result<ProvisioningConfig, ConfigError> {
    let nextcloud = match raw.nextcloud {
        Some(n) => Some(NextcloudConfig {
            url: base_url("provisioning.nextcloud.url", &n.url)?,
            admin_password: secret_from(
                env,
                "provisioning.nextcloud.admin_password",
                n.admin_password,
                n.admin_password_env,
            )?,
            admin_user: n.admin_user,
            uid_claim: match n.uid_claim.as_deref().unwrap_or("preferred_username") {
                c @ ("sub" | "preferred_username" | "email") => c.to_owned(),
                other => {
                    return Err(ConfigError::new(
                        "provisioning.nextcloud.uid_claim",
                        format!("`{other}`: use sub, preferred_username or email"),
                    ))
                }
            },
            quota: n.quota,
        }),
        None => None,
    };
    let mailcow = match raw.mailcow {
        Some(m) => Some(MailcowConfig {
            url: base_url("provisioning.mailcow.url", &m.url)?,
            api_key: secret_from(
                env,
                "provisioning.mailcow.api_key",
                m.api_key,
                m.api_key_env,
            )?,
            domain: m.domain,
            quota_mib: m.quota_mib.unwrap_or(1024),
        }),
        None => None,
    };
    if raw.targets.contains(&ProvisionTarget::Nextcloud) && nextcloud.is_none() {
        return Err(ConfigError::new(
            "provisioning.targets",
            "nextcloud is listed but [provisioning.nextcloud] is missing",
        ));
    }
    if raw.targets.contains(&ProvisionTarget::Mailcow) && mailcow.is_none() {
        return Err(ConfigError::new(
            "provisioning.targets",
            "mailcow is listed but [provisioning.mailcow] is missing",
        ));
    }
    Ok(ProvisioningConfig {
        targets: raw.targets,
        nextcloud,
        mailcow,
        sweep_interval_seconds: raw.sweep_interval_seconds.unwrap_or(3600),
    })
}

/// Registered redirect targets: absolute, no fragment (RFC 6749 §3.1.2), http(s) or a
/// private-use scheme for native apps. Kept as written, for exact comparison.
fn parse_redirect(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw).map_err(|e| format!("`{raw}` is not a valid absolute URL ({e})"))?;
    if url.fragment().is_some() {
        return Err(format!("`{raw}` must not contain a fragment"));
    }
    if url.cannot_be_a_base() && !url.scheme().contains('.') {
        return Err(format!("`{raw}` is not a usable redirect URI"));
    }
    if matches!(url.scheme(), "javascript" | "data" | "file" | "vbscript") {
        return Err(format!(
            "`{raw}` uses a scheme that is never a redirect target"
        ));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_parts(text, &[], ConfigSource::BuiltInDefaults)
    }

    fn load_env(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<_> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_parts(text, &env, ConfigSource::BuiltInDefaults)
    }

    fn key_of(result: Result<Config, ConfigError>) -> String {
        result.expect_err("should be rejected").key
    }

    #[test]
    fn empty_file_gives_development_defaults() {
        let config = load("").unwrap();
        assert_eq!(config.issuer.as_str(), "http://127.0.0.1:8080");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url.backend(), Backend::Sqlite);
        assert_eq!(config.keys_dir, PathBuf::from("keys"));
        assert!(config.directory.is_none());
    }

    #[test]
    fn unknown_key_is_named() {
        assert_eq!(
            key_of(load("issuer = \"http://a\"\nlisen = \"x\"\n")),
            "lisen"
        );
        assert_eq!(
            key_of(load(
                "[directory]\nurl = \"postgres://h/db\"\ntabel = \"x\"\n"
            )),
            "directory.tabel"
        );
    }

    #[test]
    fn issuer_with_query_or_fragment_is_rejected() {
        let e = load("issuer = \"https://sso.example.com/?tenant=1\"").unwrap_err();
        assert_eq!(e.key, "issuer");
        assert!(e.to_string().contains("query"), "{e}");
        let e = load("issuer = \"https://sso.example.com/#x\"").unwrap_err();
        assert!(e.to_string().contains("fragment"), "{e}");
    }

    #[test]
    fn malformed_urls_are_rejected_with_their_key() {
        assert_eq!(key_of(load("issuer = \"not a url\"")), "issuer");
        assert_eq!(key_of(load("issuer = \"ftp://sso.example.com\"")), "issuer");
        assert_eq!(
            key_of(load("database_url = \"mysql://localhost/x\"")),
            "database_url"
        );
        assert_eq!(
            key_of(load("database_url = \"postgres://\"")),
            "database_url"
        );
        assert_eq!(
            key_of(load("[directory]\nurl = \"sqlite://x.db\"")),
            "directory.url"
        );
        assert_eq!(key_of(load("listen = \"localhost\"")), "listen");
        let client = r#"
            [[clients]]
            client_id = "docs"
            client_secret = "0123456789abcdef0123"
            redirect_uris = ["/relative/path"]
        "#;
        assert_eq!(key_of(load(client)), "clients[0].redirect_uris");
    }

    #[test]
    fn missing_secret_is_rejected() {
        let client = r#"
            [[clients]]
            client_id = "docs"
            redirect_uris = ["https://docs.example.com/apps/user_oidc/code"]
        "#;
        assert_eq!(key_of(load(client)), "clients[0].client_secret");
        let from_env = r#"
            [[clients]]
            client_id = "docs"
            client_secret_env = "DOCS_SECRET"
            redirect_uris = ["https://docs.example.com/apps/user_oidc/code"]
        "#;
        assert_eq!(key_of(load(from_env)), "clients[0].client_secret_env");
        let config = load_env(from_env, &[("DOCS_SECRET", "a-long-enough-secret-value")]).unwrap();
        assert_eq!(
            config.clients[0]
                .client_secret
                .as_ref()
                .unwrap()
                .expose_secret(),
            "a-long-enough-secret-value"
        );
    }

    #[test]
    fn wrongly_typed_values_are_rejected() {
        assert_eq!(
            key_of(load("key_grace_seconds = \"soon\"")),
            "key_grace_seconds"
        );
        assert_eq!(
            key_of(load("[password]\niterations = -1")),
            "password.iterations"
        );
        assert_eq!(
            key_of(load_env("", &[("BHEEM_SSO_KEY_GRACE_SECONDS", "soon")])),
            "BHEEM_SSO_KEY_GRACE_SECONDS"
        );
        assert_eq!(
            key_of(load(
                "[directory]\nurl = \"postgres://h/erp\"\n[directory.columns]\nemail = \"e; drop\""
            )),
            "directory.columns.email"
        );
        assert_eq!(
            key_of(load("[password]\nmemory_kib = 16")),
            "password.memory_kib"
        );
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = load_env(
            "issuer = \"http://a.example\"\n",
            &[
                ("BHEEM_SSO_ISSUER", "https://sso.example.com"),
                ("BHEEM_SSO_DATABASE_URL", "postgres://u:pw@db.example/sso"),
            ],
        )
        .unwrap();
        assert_eq!(config.issuer.as_str(), "https://sso.example.com");
        assert_eq!(config.database_url.backend(), Backend::Postgres);
        assert_eq!(
            key_of(load_env("", &[("BHEEM_SSO_ISUER", "x")])),
            "BHEEM_SSO_ISUER"
        );
        assert_eq!(
            key_of(load_env("", &[("BHEEM_SSO_ISSUER", "https://x/?a=b")])),
            "issuer"
        );
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let config = load(
            r#"
            database_url = "postgres://sso:hunter2-db-password@db.example/sso"
            [[clients]]
            client_id = "docs"
            client_secret = "super-secret-client-value"
            redirect_uris = ["https://docs.example.com/apps/user_oidc/code"]
            "#,
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2-db-password"), "{debug}");
        assert!(!debug.contains("super-secret-client-value"), "{debug}");
        assert!(config.database_url.redacted().contains("***"));
    }

    #[test]
    fn the_example_configuration_is_valid() {
        let env = [
            ("ERP_DATABASE_URL", "postgres://erp-reader@erp-db/erp"),
            ("BHEEM_DOCS_CLIENT_SECRET", "placeholder-docs-secret-000"),
            ("BHEEM_MAIL_CLIENT_SECRET", "placeholder-mail-secret-000"),
            ("NEXTCLOUD_ADMIN_PASSWORD", "placeholder"),
            ("MAILCOW_API_KEY", "placeholder"),
        ];
        let config = load_env(include_str!("../bheem-sso.example.toml"), &env).unwrap();
        let ids: Vec<_> = config
            .clients
            .iter()
            .map(|c| c.client_id.as_str())
            .collect();
        assert_eq!(ids, ["bheem-docs", "bheem-mail", "bheem-meet"]);
        assert!(
            config.clients[2].require_pkce,
            "a public client must use PKCE"
        );
        assert_eq!(config.clients[0].provision, [ProvisionTarget::Nextcloud]);
        assert!(config.provisioning.mailcow.is_some());
    }

    #[test]
    fn provisioning_targets_need_their_section() {
        assert_eq!(
            key_of(load("[provisioning]\ntargets = [\"mailcow\"]\n")),
            "provisioning.targets"
        );
        let client = r#"
            [[clients]]
            client_id = "docs"
            client_secret = "0123456789abcdef0123"
            redirect_uris = ["https://docs.example.com/apps/user_oidc/code"]
            provision = ["nextcloud"]
        "#;
        assert_eq!(key_of(load(client)), "clients[0].provision");
    }

    #[test]
    fn erp_table_and_columns_are_configurable() {
        let config = load(
            r#"
            [directory]
            url = "postgres://erp@127.0.0.1/erp"
            table = "auth.users"
            [directory.columns]
            password_hash = "password"
            "#,
        )
        .unwrap();
        let dir = config.directory.unwrap();
        assert_eq!((dir.schema.as_str(), dir.table.as_str()), ("auth", "users"));
        assert_eq!(dir.columns.password_hash, "password");
        assert_eq!(dir.columns.email, "email");
    }

    #[test]
    fn public_clients_must_use_pkce_and_have_no_secret() {
        let config = load(
            r#"
            [[clients]]
            client_id = "bheem-meet"
            token_endpoint_auth_method = "none"
            redirect_uris = ["https://meet.example.com/callback"]
            "#,
        )
        .unwrap();
        assert!(config.clients[0].require_pkce);
        let with_secret = r#"
            [[clients]]
            client_id = "bheem-meet"
            client_secret = "0123456789abcdef0123"
            token_endpoint_auth_method = "none"
            redirect_uris = ["https://meet.example.com/callback"]
        "#;
        assert_eq!(key_of(load(with_secret)), "clients[0].client_secret");
    }
}
