//! From the file as written to a [`Config`]: defaults filled in, every value checked, and the
//! rules that span sections.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::calendar::validate_calendar;
use super::clients::{client_key, validate_client};
use super::directory::validate_directory;
use super::docs::validate_docs;
use super::erp_sync::validate_erp_sync;
use super::mail::validate_mail;
use super::meet::validate_meet;
use super::provisioning::validate_provisioning;
use super::workspace::validate_workspace;
use super::{
    Checked, Config, ConfigError, ConfigErrors, ConfigSource, DatabaseUrl, EmailClaim, Issuer,
    PasswordConfig, ProvisionTarget, RawConfig, Usable,
};

/// Problems as they are found; validation goes on after each, so that one run lists them all.
#[derive(Default)]
pub(super) struct Problems(Vec<ConfigError>);

impl Problems {
    pub(super) fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    /// The value, or `None` with its problem noted.
    pub(super) fn take<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    /// Every value of `items` that passes `check`, the others noted.
    pub(super) fn take_all<I, T>(
        &mut self,
        items: impl IntoIterator<Item = I>,
        check: impl Fn(I) -> Result<T, ConfigError>,
    ) -> Vec<T> {
        items
            .into_iter()
            .filter_map(|item| self.take(check(item)))
            .collect()
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub(super) fn validate(raw: RawConfig, env: &[(String, String)], source: ConfigSource) -> Checked {
    let mut problems = Problems::default();
    let issuer_raw = raw.issuer.as_deref().unwrap_or("http://127.0.0.1:8080");
    let issuer =
        problems.take(Issuer::parse(issuer_raw).map_err(|m| ConfigError::new("issuer", m)));

    let listen_raw = raw.listen.as_deref().unwrap_or("127.0.0.1:8080");
    let listen: Option<SocketAddr> = problems.take(listen_raw.parse().map_err(|_| {
        ConfigError::new(
            "listen",
            "must be an address and port such as 127.0.0.1:8080",
        )
    }));

    let metrics_listen = listen
        .and_then(|listen| {
            problems.take(validate_metrics_listen(
                raw.metrics_listen.as_deref(),
                listen,
            ))
        })
        .flatten();

    let database_url = problems.take(
        DatabaseUrl::parse(
            raw.database_url
                .as_deref()
                .unwrap_or("sqlite://data/bheem-sso.db"),
        )
        .map_err(|m| ConfigError::new("database_url", m)),
    );

    let keys_dir = raw.keys_dir.unwrap_or_else(|| PathBuf::from("keys"));
    if keys_dir.as_os_str().is_empty() {
        problems.push(ConfigError::new("keys_dir", "must not be empty"));
    }

    let password = raw.password.unwrap_or_default();
    validate_password(&password, &mut problems);

    let session = raw.session.unwrap_or_default();
    if session.idle_seconds == 0 || session.absolute_seconds < session.idle_seconds {
        problems.push(ConfigError::new(
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
            problems.push(ConfigError::new(key, "must be above 0"));
        }
    }
    if tokens.authorization_code_seconds > 600 {
        problems.push(ConfigError::new(
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
        problems.push(ConfigError::new("login_limits", "limits must be above 0"));
    } else if login_limits.per_account_all_addresses_per_minute
        <= login_limits.per_account_per_minute
    {
        problems.push(ConfigError::new(
            "login_limits.per_account_all_addresses_per_minute",
            "must be above per_account_per_minute, or one address could lock an account alone",
        ));
    }
    let trusted_proxies = problems.take_all(raw.trusted_proxies.iter().enumerate(), |(i, raw)| {
        parse_network(raw).ok_or_else(|| {
            ConfigError::new(
                format!("trusted_proxies[{i}]"),
                format!("`{raw}` is not an address or a CIDR network such as 10.0.0.0/8"),
            )
        })
    });
    let outbox = raw.outbox.unwrap_or_default();
    if outbox.poll_interval_ms == 0
        || outbox.max_attempts == 0
        || outbox.request_timeout_seconds == 0
    {
        problems.push(ConfigError::new(
            "outbox",
            "poll_interval_ms, max_attempts and request_timeout_seconds must be above 0",
        ));
    }
    if outbox.retry_max_seconds < outbox.retry_base_seconds {
        problems.push(ConfigError::new(
            "outbox.retry_max_seconds",
            "must be at least retry_base_seconds",
        ));
    }
    let http = raw.http.unwrap_or_default();
    if !(1..=300).contains(&http.header_read_timeout_seconds) {
        problems.push(ConfigError::new(
            "http.header_read_timeout_seconds",
            "must be between 1 and 300",
        ));
    }
    let workspace = validate_workspace(raw.workspace.unwrap_or_default(), &mut problems);
    let before = problems.len();
    let provisioning =
        validate_provisioning(raw.provisioning.unwrap_or_default(), env, &mut problems);
    // A broken section is left out of `provisioning`: the clients that use it are not told
    // once more that it is missing.
    let provisioning_complete = problems.len() == before;
    let first_party_client_id = raw
        .first_party_client_id
        .unwrap_or_else(|| "bheem-workspace".to_owned());

    let directory = raw
        .directory
        .and_then(|d| validate_directory(d, env, &mut problems));
    let erp_sync = raw
        .erp_sync
        .and_then(|e| validate_erp_sync(e, directory.as_ref(), env, &mut problems));

    let meet = raw.meet.and_then(|m| problems.take(validate_meet(m, env)));
    let docs = raw
        .docs
        .and_then(|d| problems.take(validate_docs(d, &provisioning)));
    let calendar = raw
        .calendar
        .and_then(|c| problems.take(validate_calendar(c, docs.as_ref(), &provisioning)));
    let mail = raw.mail.and_then(|m| problems.take(validate_mail(m, env)));

    let mut seen = HashSet::new();
    let mut clients = Vec::new();
    for (i, c) in raw.clients.into_iter().enumerate() {
        if !seen.insert(c.client_id.clone()) {
            // Two entries share the id, so only the position tells which one is meant.
            problems.push(ConfigError::new(
                format!("clients[{i}].client_id"),
                format!("`{}` is registered twice", c.client_id),
            ));
            continue;
        }
        // The workspace's own tokens are told apart by this id (`/api/v1/auth/me` and
        // `/api/v1/auth/refresh` take only them): a relying party must not share it.
        if c.client_id == first_party_client_id {
            problems.push(ConfigError::new(
                client_key(&c.client_id, "client_id"),
                format!(
                    "`{}` is first_party_client_id, the workspace's own login's id",
                    c.client_id
                ),
            ));
            continue;
        }
        if let Some(client) = validate_client(i, c, env, &mut problems) {
            clients.push(client);
        }
    }

    for c in clients.iter().filter(|_| provisioning_complete) {
        let key = |field: &str| client_key(&c.client_id, field);
        for target in &c.provision {
            let configured = match target {
                ProvisionTarget::Nextcloud => provisioning.nextcloud.is_some(),
                ProvisionTarget::Mailcow => provisioning.mailcow.is_some(),
            };
            if !configured {
                problems.push(ConfigError::new(
                    key("provision"),
                    format!(
                        "{} is listed but [provisioning.{}] is missing",
                        target.as_str(),
                        target.as_str()
                    ),
                ));
            }
        }
        if c.email_claim == EmailClaim::Mailbox && provisioning.mailcow.is_none() {
            problems.push(ConfigError::new(
                key("email_claim"),
                "\"mailbox\" needs [provisioning.mailcow], which makes the mailboxes",
            ));
            continue;
        }
        let makes_mailboxes = c.provision.contains(&ProvisionTarget::Mailcow)
            || provisioning.targets.contains(&ProvisionTarget::Mailcow);
        if c.email_claim == EmailClaim::Mailbox && !makes_mailboxes {
            problems.push(ConfigError::new(
                key("email_claim"),
                "\"mailbox\" needs mailcow in this client's provision (or in \
                 provisioning.targets): otherwise no login makes the mailbox it names",
            ));
        }
    }
    let usable = Usable {
        source: source.clone(),
        database_url: database_url.clone(),
        keys_dir: keys_dir.clone(),
        key_encryption_key: raw.key_encryption_key.clone(),
        directory: directory.clone(),
        provisioning: provisioning.clone(),
        clients: clients.clone(),
        meet: meet.clone(),
        docs: docs.clone(),
        mail: mail.clone(),
        calendar: calendar.clone(),
    };
    let key_refresh_seconds = problems.take(validate_key_refresh(raw.key_refresh_seconds));
    let key_rotation_days = problems.take(validate_key_rotation(raw.key_rotation_days));
    let (
        Some(issuer),
        Some(listen),
        Some(database_url),
        Some(key_refresh_seconds),
        Some(key_rotation_days),
        true,
    ) = (
        issuer,
        listen,
        database_url,
        key_refresh_seconds,
        key_rotation_days,
        problems.is_empty(),
    )
    else {
        return Checked {
            result: Err(ConfigErrors(problems.0)),
            usable,
        };
    };
    let config = Config {
        issuer,
        listen,
        metrics_listen,
        database_url,
        keys_dir,
        key_grace_seconds: raw.key_grace_seconds.unwrap_or(7 * 24 * 3600),
        key_refresh_seconds,
        key_rotation_days,
        key_encryption_key: raw.key_encryption_key,
        password,
        session,
        tokens,
        login_limits,
        trusted_proxies,
        forwarded_header: raw.forwarded_header.unwrap_or_default(),
        log_format: raw.log_format.unwrap_or_default(),
        access_log: raw.access_log.unwrap_or(false),
        outbox,
        http,
        audit: raw.audit.unwrap_or_default(),
        provisioning,
        first_party_client_id,
        directory,
        erp_sync,
        clients,
        workspace,
        meet,
        docs,
        calendar,
        mail,
        source,
    };
    Checked {
        result: Ok(config),
        usable,
    }
}

/// `metrics_listen`: an address and port of its own. On the port of `listen` it would either
/// fail to bind or, on another address of the same host, serve the metrics where the site is.
fn validate_metrics_listen(
    raw: Option<&str>,
    listen: SocketAddr,
) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let metrics: SocketAddr = raw.parse().map_err(|_| {
        ConfigError::new(
            "metrics_listen",
            "must be an address and port such as 127.0.0.1:9090",
        )
    })?;
    let overlaps = metrics.ip() == listen.ip()
        || metrics.ip().is_unspecified()
        || listen.ip().is_unspecified();
    if metrics.port() != 0 && metrics.port() == listen.port() && overlaps {
        return Err(ConfigError::new(
            "metrics_listen",
            format!("must not be the port of `listen` ({listen}): the metrics have a listener of their own"),
        ));
    }
    Ok(Some(metrics))
}

/// A CIDR network, or a single address as the network of just that address.
fn parse_network(raw: &str) -> Option<ipnet::IpNet> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .ok()
        .map(|net| net.trunc())
        .or_else(|| raw.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

fn validate_password(p: &PasswordConfig, problems: &mut Problems) {
    if p.memory_kib < 8 * 1024 {
        problems.push(ConfigError::new(
            "password.memory_kib",
            "must be at least 8192 (OWASP recommends 19456)",
        ));
    }
    if p.iterations == 0 {
        problems.push(ConfigError::new(
            "password.iterations",
            "must be at least 1",
        ));
    }
    if p.parallelism == 0 {
        problems.push(ConfigError::new(
            "password.parallelism",
            "must be at least 1",
        ));
    }
}

/// `key_refresh_seconds`: above 0, and below the JWKS max-age, so that every node has a
/// rotated-in key before it signs.
fn validate_key_refresh(raw: Option<u64>) -> Result<u64, ConfigError> {
    let seconds = raw.unwrap_or(60);
    if seconds == 0 || seconds >= super::JWKS_MAX_AGE_SECONDS {
        return Err(ConfigError::new(
            "key_refresh_seconds",
            format!(
                "must be above 0 and below the JWKS max-age of {} s",
                super::JWKS_MAX_AGE_SECONDS
            ),
        ));
    }
    Ok(seconds)
}

/// `key_rotation_days`: absent (no scheduled rotation) or at least 1.
fn validate_key_rotation(raw: Option<u64>) -> Result<Option<u64>, ConfigError> {
    if raw == Some(0) {
        return Err(ConfigError::new(
            "key_rotation_days",
            "must be at least 1 (leave it out for no scheduled rotation)",
        ));
    }
    Ok(raw)
}
