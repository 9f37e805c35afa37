//! Every metric the server exports: its name, kind, unit, labels and help text. The recorder
//! describes them from this table, the code records them by these names, and the dashboard's
//! test checks its queries against it.

use metrics::Unit;

/// What a metric is, as Prometheus types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric: its name, kind, unit, labels and what it means.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Option<Unit>,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

pub const HTTP_REQUESTS: &str = "bheem_sso_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "bheem_sso_http_request_duration_seconds";
pub const LOGINS: &str = "bheem_sso_logins_total";
pub const TOKENS_ISSUED: &str = "bheem_sso_tokens_issued_total";
pub const REFRESH_REUSE: &str = "bheem_sso_refresh_reuse_detected_total";
pub const OUTBOX_JOBS: &str = "bheem_sso_outbox_jobs";
pub const OUTBOX_OLDEST_DUE: &str = "bheem_sso_outbox_oldest_due_seconds";
pub const DELIVERIES: &str = "bheem_sso_deliveries_total";
pub const DB_POOL_CONNECTIONS: &str = "bheem_sso_db_pool_connections";
pub const DB_POOL_MAX: &str = "bheem_sso_db_pool_max_connections";
pub const DB_ACQUIRE_DURATION: &str = "bheem_sso_db_acquire_duration_seconds";
pub const PASSWORD_HASH_QUEUE: &str = "bheem_sso_password_hash_queue";
pub const PASSWORD_HASHES_IN_FLIGHT: &str = "bheem_sso_password_hashes_in_flight";
pub const PASSWORD_HASH_SLOTS: &str = "bheem_sso_password_hash_slots";
pub const BUILD_INFO: &str = "bheem_sso_build_info";

/// Every metric the server exports.
pub const METRICS: &[Metric] = &[
    Metric {
        name: HTTP_REQUESTS,
        kind: Kind::Counter,
        unit: None,
        labels: &["route", "method", "status"],
        help: "HTTP requests answered, by route template (\"unmatched\" for any path no route \
               matches), method and status sent",
    },
    Metric {
        name: HTTP_REQUEST_DURATION,
        kind: Kind::Histogram,
        unit: Some(Unit::Seconds),
        labels: &["route", "method"],
        help: "Time from a request's arrival at the router to its response head",
    },
    Metric {
        name: LOGINS,
        kind: Kind::Counter,
        unit: None,
        labels: &["outcome", "via"],
        help: "Password logins by outcome (ok, unknown_user, no_company, \
               wrong_password, unusable_password_hash, password_too_long, disabled, throttled, busy, error) and \
               where they were made (page: the hosted login form, api: the first-party JSON \
               login)",
    },
    Metric {
        name: TOKENS_ISSUED,
        kind: Kind::Counter,
        unit: None,
        labels: &["grant", "client_id"],
        help: "Token responses issued (and recorded), by grant and registered client",
    },
    Metric {
        name: REFRESH_REUSE,
        kind: Kind::Counter,
        unit: None,
        labels: &["client_id"],
        help: "Rotated refresh tokens presented again; each revoked its whole family",
    },
    Metric {
        name: OUTBOX_JOBS,
        kind: Kind::Gauge,
        unit: None,
        labels: &["kind", "state"],
        help: "Outbox jobs not done yet, by kind and state (pending, running, failed); read \
               from the database at each scrape",
    },
    Metric {
        name: OUTBOX_OLDEST_DUE,
        kind: Kind::Gauge,
        unit: Some(Unit::Seconds),
        labels: &["kind"],
        help: "How long the oldest pending job of a kind has been due (0: none is due); read \
               from the database at each scrape",
    },
    Metric {
        name: DELIVERIES,
        kind: Kind::Counter,
        unit: None,
        labels: &["target", "outcome"],
        help: "Calls to other systems (nextcloud, mailcow, backchannel, erp, livekit, mail) by outcome: \
               done, retry \
               (failed, worth trying again) or fail (refused, not tried again)",
    },
    Metric {
        name: DB_POOL_CONNECTIONS,
        kind: Kind::Gauge,
        unit: None,
        labels: &["state"],
        help: "Open connections of the provider's database pool: idle in the pool, kept for \
               the hot paths between their statements, or busy with a statement",
    },
    Metric {
        name: DB_POOL_MAX,
        kind: Kind::Gauge,
        unit: None,
        labels: &[],
        help: "Most connections the provider's database pool opens",
    },
    Metric {
        name: DB_ACQUIRE_DURATION,
        kind: Kind::Histogram,
        unit: Some(Unit::Seconds),
        labels: &[],
        help: "Time a hot-path statement (token look-up, grant write, browser session) waited \
               for a connection: its turn, then a kept or pooled connection",
    },
    Metric {
        name: PASSWORD_HASH_QUEUE,
        kind: Kind::Gauge,
        unit: None,
        labels: &[],
        help: "Password checks waiting for a hashing slot",
    },
    Metric {
        name: PASSWORD_HASHES_IN_FLIGHT,
        kind: Kind::Gauge,
        unit: None,
        labels: &[],
        help: "Password hashes being computed now",
    },
    Metric {
        name: PASSWORD_HASH_SLOTS,
        kind: Kind::Gauge,
        unit: None,
        labels: &[],
        help: "Password hashing threads (password.max_concurrent)",
    },
    Metric {
        name: BUILD_INFO,
        kind: Kind::Gauge,
        unit: None,
        labels: &["version"],
        help: "Always 1; the version label says which build is running",
    },
];
