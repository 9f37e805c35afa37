//! The Prometheus metrics: every metric's name, kind, labels and help text in one table
//! ([`METRICS`]), the label values as enums, and one function per thing worth counting, so a
//! name or a label value cannot drift between the place that records it, the docs
//! (`docs/operating/metrics.md`) and the dashboard (`deploy/grafana/bheem-sso.json`, whose test
//! reads this table).
//!
//! Nothing is recorded until [`install`] has run, which `serve` does only when `metrics_listen`
//! is set: until then every function here returns after one relaxed atomic load, without
//! building a label or reaching the `metrics` crate's no-op recorder. The gauges that describe a
//! state (outbox depth, database pool, hashing queue) are not kept up to date as things happen;
//! the metrics listener sets them from the state itself on each scrape.
//!
//! A workspace API adds its metrics the same way: a row in [`METRICS`], a function here that
//! records it, and a panel in the dashboard.

mod names;
mod requests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::Histogram;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use names::*;
pub use requests::{http_request, method_label, UNMATCHED_ROUTE};

/// Upper bounds of the latency histograms' buckets, in seconds: from a cached look-up (under a
/// millisecond) to the request timeout (30 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static ENABLED: AtomicBool = AtomicBool::new(false);
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
/// The handle of the one unlabelled metric recorded on a hot path, registered once: recording
/// through it is an atomic push, with no look-up in the recorder's registry (a read lock).
static DB_ACQUIRE: OnceLock<Histogram> = OnceLock::new();

/// Whether metrics are being recorded ([`install`] has run in this process).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Installs the Prometheus recorder for this process and describes every metric; the handle
/// renders the text format. The recorder is process-wide, so a second call (a second server in
/// one test process) returns the first handle.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    // Two servers starting at once must not both try: the second recorder would be refused.
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let mut builder = PrometheusBuilder::new();
    for metric in METRICS.iter().filter(|m| m.kind == Kind::Histogram) {
        builder =
            builder.set_buckets_for_metric(Matcher::Full(metric.name.into()), LATENCY_BUCKETS)?;
    }
    let handle = builder.install_recorder()?;
    let handle = HANDLE.get_or_init(|| handle).clone();
    for metric in METRICS {
        let (name, unit, help) = (metric.name, metric.unit, metric.help);
        metrics::with_recorder(|recorder| match metric.kind {
            Kind::Counter => recorder.describe_counter(name.into(), unit, help.into()),
            Kind::Gauge => recorder.describe_gauge(name.into(), unit, help.into()),
            Kind::Histogram => recorder.describe_histogram(name.into(), unit, help.into()),
        });
    }
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    let _ = DB_ACQUIRE.set(metrics::histogram!(DB_ACQUIRE_DURATION));
    ENABLED.store(true, Ordering::Relaxed);
    Ok(handle)
}

/// How a password login ended, as [`LOGINS`] counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Ok,
    /// No account by that login. (The person trying is told the same as for a wrong password.)
    UnknownUser,
    /// An ERP account without a valid company id: it cannot be given tokens.
    NoCompany,
    WrongPassword,
    /// The account's stored hash is in no format the server can check.
    UnusablePasswordHash,
    /// Longer than any password may be: refused unchecked.
    PasswordTooLong,
    /// The right password of an account the directory has disabled.
    Disabled,
    /// Refused by the rate limits before any password was checked.
    Throttled,
    /// Refused because every hashing slot was taken.
    Busy,
    /// The login failed inside (the directory or the database): a 500.
    Error,
}

impl LoginOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::UnknownUser => "unknown_user",
            Self::NoCompany => "no_company",
            Self::WrongPassword => "wrong_password",
            Self::UnusablePasswordHash => "unusable_password_hash",
            Self::PasswordTooLong => "password_too_long",
            Self::Disabled => "disabled",
            Self::Throttled => "throttled",
            Self::Busy => "busy",
            Self::Error => "error",
        }
    }
}

/// Where a password login was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginVia {
    /// The hosted login page.
    Page,
    /// The first-party JSON login (`/api/v1/auth/login`).
    Api,
}

impl LoginVia {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Api => "api",
        }
    }
}

pub fn login(outcome: LoginOutcome, via: LoginVia) {
    if enabled() {
        metrics::counter!(LOGINS, "outcome" => outcome.as_str(), "via" => via.as_str())
            .increment(1);
    }
}

/// The grant a token response was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantLabel {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// The first-party JSON login, which answers with tokens itself.
    FirstPartyLogin,
}

impl GrantLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::FirstPartyLogin => "first_party_login",
        }
    }
}

/// `client_id` is a registered client's (the token endpoint authenticated it), so the label's
/// values are as many as the clients.
pub fn token_issued(grant: GrantLabel, client_id: &str) {
    if enabled() {
        metrics::counter!(TOKENS_ISSUED, "grant" => grant.as_str(), "client_id" => client_id.to_owned())
            .increment(1);
    }
}

pub fn refresh_reuse_detected(client_id: &str) {
    if enabled() {
        metrics::counter!(REFRESH_REUSE, "client_id" => client_id.to_owned()).increment(1);
    }
}

/// The system a delivery went to: never its URL, which may name a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryTarget {
    Nextcloud,
    Mailcow,
    Backchannel,
    /// The ERP's database (`[erp_sync]`).
    Erp,
    /// LiveKit's server API (Meet).
    Livekit,
    /// SMTP submission to the mail server (`[mail]`): calendar invitations.
    Mail,
}

impl DeliveryTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nextcloud => "nextcloud",
            Self::Mailcow => "mailcow",
            Self::Backchannel => "backchannel",
            Self::Erp => "erp",
            Self::Livekit => "livekit",
            Self::Mail => "mail",
        }
    }
}

/// How a delivery went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Done,
    /// Failed in a way worth trying again (down, slow, a 5xx).
    Retry,
    /// Refused; trying again will not help.
    Fail,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Retry => "retry",
            Self::Fail => "fail",
        }
    }
}

pub fn delivery(target: DeliveryTarget, outcome: DeliveryOutcome) {
    if enabled() {
        metrics::counter!(DELIVERIES, "target" => target.as_str(), "outcome" => outcome.as_str())
            .increment(1);
    }
}

/// How long a hot-path statement waited for its connection.
pub fn db_acquired(waited: Duration) {
    if let Some(histogram) = DB_ACQUIRE.get() {
        histogram.record(waited.as_secs_f64());
    }
}

/// The outbox as one scrape finds it: the jobs not done by kind and state, and for each kind
/// how long its oldest due job has waited. Every kind in `known_kinds` is set, to 0 when it has
/// none, so a queue that empties reads 0 rather than its last value.
pub fn set_outbox(
    known_kinds: &[&'static str],
    jobs: &[(String, String, u64)],
    oldest_due: &[(String, u64)],
) {
    if !enabled() {
        return;
    }
    for kind in known_kinds {
        for state in ["pending", "running", "failed"] {
            metrics::gauge!(OUTBOX_JOBS, "kind" => *kind, "state" => state).set(0.0);
        }
        metrics::gauge!(OUTBOX_OLDEST_DUE, "kind" => *kind).set(0.0);
    }
    for (kind, state, count) in jobs {
        metrics::gauge!(OUTBOX_JOBS, "kind" => kind.clone(), "state" => state.clone())
            .set(*count as f64);
    }
    for (kind, seconds) in oldest_due {
        metrics::gauge!(OUTBOX_OLDEST_DUE, "kind" => kind.clone()).set(*seconds as f64);
    }
}

/// The provider's database pool as one scrape finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLoad {
    pub max: u32,
    pub idle: u32,
    pub kept: u32,
    pub busy: u32,
}

pub fn set_pool(pool: PoolLoad) {
    if !enabled() {
        return;
    }
    metrics::gauge!(DB_POOL_MAX).set(pool.max);
    for (state, n) in [
        ("idle", pool.idle),
        ("kept", pool.kept),
        ("busy", pool.busy),
    ] {
        metrics::gauge!(DB_POOL_CONNECTIONS, "state" => state).set(n);
    }
}

/// The password hashing threads as one scrape finds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLoad {
    pub slots: usize,
    pub in_flight: usize,
    pub queued: usize,
}

pub fn set_hashing(load: HashLoad) {
    if !enabled() {
        return;
    }
    metrics::gauge!(PASSWORD_HASH_SLOTS).set(load.slots as f64);
    metrics::gauge!(PASSWORD_HASHES_IN_FLIGHT).set(load.in_flight as f64);
    metrics::gauge!(PASSWORD_HASH_QUEUE).set(load.queued as f64);
}

#[cfg(test)]
mod tests {
    use metrics::Unit;

    use super::*;

    #[test]
    fn every_name_follows_the_prometheus_conventions_and_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for metric in METRICS {
            assert!(seen.insert(metric.name), "{} listed twice", metric.name);
            assert!(metric.name.starts_with("bheem_sso_"), "{}", metric.name);
            assert!(
                metric
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                metric.name
            );
            // Counters end in _total; only counters do; a time is in seconds.
            assert_eq!(
                metric.kind == Kind::Counter,
                metric.name.ends_with("_total"),
                "{}",
                metric.name
            );
            if metric.unit == Some(Unit::Seconds) {
                assert!(metric.name.ends_with("_seconds"), "{}", metric.name);
            }
            assert!(!metric.help.is_empty());
        }
    }
}
