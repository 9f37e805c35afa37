//! The small sections, each a table of plain values with defaults: `[password]`, `[session]`,
//! `[tokens]`, `[login_limits]`, `[outbox]`, `[http]`, and the `forwarded_header` and `log_format` keys.

use serde::Deserialize;

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

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event, the request's fields in front of the message.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message`, the event's fields
    /// and the request's (`request_id`, `method`, `route`, `client_addr`, `user`, `client_id`).
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(()),
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

/// The audit trail (`docs/operating/audit.md`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Events older than this are pruned by the periodic maintenance; 0 keeps them for ever.
    pub retention_days: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention_days: 365,
        }
    }
}
