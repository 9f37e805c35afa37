//! A fake Mailcow REST API for mailboxes: add, get, edit, delete.
//!
//! Behaviour follows mailcow-dockerized (`data/web/json_api.php`, `inc/sessions.inc.php`,
//! `inc/functions.mailbox.inc.php`): authentication answers HTTP 401/403 with a single
//! `{"type":"error",…}` object; everything a mailbox call can get wrong answers HTTP 200 with an
//! array of `{"type":"danger",…}` results. Where this fake is simpler: one admin API key (plus
//! an optional read-only one), no aliases, no IP allow-list, no templates.

mod api;
mod mailbox;
mod php;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::routing::{get, post};
use axum::{middleware, Router};

use super::server::{with_log_and_faults, FakeServer, FaultSwitch, RequestLog};
use super::Fault;

/// A mailbox as the fake holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    /// `local_part@domain`, lower case.
    pub username: String,
    pub local_part: String,
    pub domain: String,
    pub name: String,
    /// Mailcow takes and stores MiB (its GET answers bytes); 0 is unlimited.
    pub quota_mib: u64,
    pub active: bool,
    /// `mailcow`, `generic-oidc`, `keycloak` or `ldap` (Mailcow falls back to `mailcow` for
    /// anything else).
    pub authsource: String,
    /// Only for authsource `mailcow`; Mailcow drops the password of the others.
    pub password: Option<String>,
    pub tags: Vec<String>,
}

/// A domain's limits, checked when a mailbox is added. Real Mailcow domains default to 10
/// mailboxes of at most 10 GiB; the fake's default is large enough never to get in the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainLimits {
    pub max_mailboxes: u64,
    /// The largest quota one mailbox may have.
    pub max_quota_mib: u64,
    /// The sum of all the domain's mailbox quotas.
    pub total_quota_mib: u64,
}

impl Default for DomainLimits {
    fn default() -> Self {
        Self {
            max_mailboxes: 100_000,
            max_quota_mib: 1 << 20,
            total_quota_mib: 1 << 30,
        }
    }
}

/// A running fake Mailcow. Dropping it shuts it down.
pub struct FakeMailcow {
    server: FakeServer,
    mc: Mailcow,
}

impl FakeMailcow {
    /// Starts a Mailcow with a read-write API key and these (lower-case) mail domains.
    pub async fn start(api_key: &str, domains: &[&str]) -> Self {
        let state = McState {
            mailboxes: HashMap::new(),
            quota_used: HashMap::new(),
            domains: domains
                .iter()
                .map(|domain| (domain.to_lowercase(), DomainLimits::default()))
                .collect(),
        };
        let mc = Mailcow {
            state: Arc::new(Mutex::new(state)),
            api_key: api_key.to_owned(),
            read_only_key: Arc::new(Mutex::new(None)),
            faults: FaultSwitch::default(),
            log: RequestLog::default(),
        };
        let app = with_log_and_faults(router(mc.clone()), mc.log.clone(), mc.faults.clone());
        Self {
            server: FakeServer::start(app).await,
            mc,
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn set_fault(&self, fault: Fault) {
        self.mc.faults.set(fault);
    }

    /// Closes the listener and drops open connections: connections are refused until
    /// [`Self::restart`].
    pub async fn stop(&self) {
        self.server.stop().await;
    }

    /// Listens again on the same port; mailboxes and recorded calls are kept.
    pub async fn restart(&self) {
        self.server.restart().await;
    }

    /// Every mailbox, by username.
    pub fn mailboxes(&self) -> HashMap<String, Mailbox> {
        self.mc.lock().mailboxes.clone()
    }

    pub fn mailbox(&self, username: &str) -> Option<Mailbox> {
        self.mc
            .lock()
            .mailboxes
            .get(&username.to_lowercase())
            .cloned()
    }

    /// Puts a mailbox in place directly (one that existed before provisioning); its domain is
    /// added if missing.
    pub fn put_mailbox(&self, mailbox: Mailbox) {
        let mut state = self.mc.lock();
        state.domains.entry(mailbox.domain.clone()).or_default();
        state.mailboxes.insert(mailbox.username.clone(), mailbox);
    }

    /// How many `POST /api/v1/add/mailbox` reached the server, whatever the answer.
    pub fn add_calls(&self) -> usize {
        self.mc
            .log
            .count("POST", |path| path == "/api/v1/add/mailbox")
    }

    /// Every request that reached the server, as `"METHOD /path"`.
    pub fn requests(&self) -> Vec<String> {
        self.mc.log.entries()
    }

    /// Adds a read-only API key: it may GET, and gets HTTP 403 on add, edit and delete.
    pub fn set_read_only_key(&self, key: &str) {
        *self.mc.read_only_key.lock().unwrap() = Some(key.to_owned());
    }

    /// Sets how many bytes a mailbox holds, as Dovecot's quota would count them.
    pub fn set_quota_used(&self, username: &str, bytes: u64) {
        self.mc
            .lock()
            .quota_used
            .insert(username.to_lowercase(), bytes);
    }

    /// Adds the domain if missing and sets its limits.
    pub fn set_domain_limits(&self, domain: &str, limits: DomainLimits) {
        self.mc.lock().domains.insert(domain.to_lowercase(), limits);
    }
}

/// The state the handlers share.
#[derive(Clone)]
struct Mailcow {
    state: Arc<Mutex<McState>>,
    api_key: String,
    read_only_key: Arc<Mutex<Option<String>>>,
    faults: FaultSwitch,
    log: RequestLog,
}

struct McState {
    /// By username, lower case.
    mailboxes: HashMap<String, Mailbox>,
    /// Bytes stored, by username (Mailcow reads them from Dovecot's quota dict); 0 if unset.
    quota_used: HashMap<String, u64>,
    domains: BTreeMap<String, DomainLimits>,
}

impl Mailcow {
    fn lock(&self) -> MutexGuard<'_, McState> {
        self.state.lock().unwrap()
    }
}

fn router(mc: Mailcow) -> Router {
    Router::new()
        .route("/api/v1/add/mailbox", post(api::add_mailbox))
        .route("/api/v1/get/mailbox/{id}", get(api::get_mailbox))
        .route(
            "/api/v1/get/mailbox/all/{domains}",
            get(api::get_domain_mailboxes),
        )
        .route("/api/v1/edit/mailbox", post(api::edit_mailbox))
        .route("/api/v1/delete/mailbox", post(api::delete_mailbox))
        .fallback(api::route_not_found)
        // The API key is checked before json_api.php looks at the route.
        .layer(middleware::from_fn_with_state(
            mc.clone(),
            api::require_api_key,
        ))
        .with_state(mc)
}
