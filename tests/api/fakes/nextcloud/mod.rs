//! A fake Nextcloud: the OCS provisioning API (users and groups), user_oidc's provisioning
//! endpoint, user_oidc's back-channel logout endpoint, and, once [`FakeNextcloud::serve_files`]
//! names a WebDAV server, the users' files: WebDAV under `/remote.php/dav/` (passed through to
//! that server) and the sharing API of `apps/files_sharing`.
//!
//! Behaviour follows nextcloud/server (`apps/provisioning_api`, `apps/files_sharing`, the OCS
//! middleware and V1/V2 responses) and nextcloud/user_oidc (`OcsApiController`,
//! `LoginController`, bearer validation at userinfo). Where this fake is simpler than the real
//! thing: one admin account, no sessions, user_oidc's `uniqueUid` off (the Nextcloud user id is
//! the `userId` given), and no JWT signature check.

mod bearer;
mod files;
mod ocs;
mod provisioning;
mod share_nodes;
mod shares;
mod user_oidc;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::routing::{get, post, put};
use axum::{middleware, Router};

use super::server::{with_log_and_faults, FakeServer, FaultSwitch, RequestLog};
use super::Fault;

pub use files::FilesBackend;
pub use shares::NcShare;

/// A Nextcloud account as the fake holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NcUser {
    pub id: String,
    /// The user id when none was given, as Nextcloud shows it.
    pub display_name: String,
    pub email: Option<String>,
    /// As Nextcloud stores it: `"none"` (unlimited) or a human size such as `"5 GB"`, to which
    /// Nextcloud rewrites whatever it was sent (`"5GB"`, `"5368709120"`).
    pub quota: String,
    pub groups: Vec<String>,
    pub enabled: bool,
    /// Empty when never set (Nextcloud then shows `"en"`).
    pub language: String,
    /// `None` when Nextcloud generated one (created with an email and no password, or by
    /// user_oidc).
    pub password: Option<String>,
    /// `"Database"` for users made by the provisioning API, `"user_oidc"` for user_oidc's.
    pub backend: String,
}

impl NcUser {
    /// A user as Nextcloud creates it before any attribute is set.
    pub fn new(id: &str, backend: &str) -> Self {
        Self {
            id: id.to_owned(),
            display_name: id.to_owned(),
            email: None,
            quota: "none".to_owned(),
            groups: Vec::new(),
            enabled: true,
            language: String::new(),
            password: None,
            backend: backend.to_owned(),
        }
    }
}

/// A running fake Nextcloud. Dropping it shuts it down.
pub struct FakeNextcloud {
    server: FakeServer,
    nc: Nextcloud,
}

impl FakeNextcloud {
    /// Starts a Nextcloud whose only account is `admin_user`, an admin (member of the
    /// `admin` group) with `admin_password`.
    pub async fn start(admin_user: &str, admin_password: &str) -> Self {
        let mut admin = NcUser::new(admin_user, "Database");
        admin.groups.push("admin".to_owned());
        admin.password = Some(admin_password.to_owned());
        let state = NcState {
            users: HashMap::from([(admin_user.to_owned(), admin)]),
            groups: BTreeSet::from(["admin".to_owned()]),
            backchannel_tokens: Vec::new(),
            oidc_providers: HashMap::new(),
            files: None,
            shares: Vec::new(),
            last_share_id: 0,
        };
        let nc = Nextcloud {
            state: Arc::new(Mutex::new(state)),
            admin_user: admin_user.to_owned(),
            admin_password: admin_password.to_owned(),
            faults: FaultSwitch::default(),
            log: RequestLog::default(),
            // No proxy from the environment between the fake and 127.0.0.1; no overall
            // deadline, so that a long transfer passes through.
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        };
        let app = with_log_and_faults(router(nc.clone()), nc.log.clone(), nc.faults.clone());
        Self {
            server: FakeServer::start(app).await,
            nc,
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn set_fault(&self, fault: Fault) {
        self.nc.faults.set(fault);
    }

    /// Closes the listener and drops open connections: connections are refused until
    /// [`Self::restart`].
    pub async fn stop(&self) {
        self.server.stop().await;
    }

    /// Listens again on the same port; users, groups and recorded calls are kept.
    pub async fn restart(&self) {
        self.server.restart().await;
    }

    /// Every account, the admin included, by user id.
    pub fn users(&self) -> HashMap<String, NcUser> {
        self.nc.lock().users.clone()
    }

    pub fn user(&self, id: &str) -> Option<NcUser> {
        self.nc.lock().users.get(id).cloned()
    }

    /// Every group id; `admin` always exists.
    pub fn groups(&self) -> BTreeSet<String> {
        self.nc.lock().groups.clone()
    }

    /// Creates a group directly, as an administrator would have beforehand.
    pub fn add_group(&self, group_id: &str) {
        self.nc.lock().groups.insert(group_id.to_owned());
    }

    /// Puts an account in place directly (a user who existed before provisioning); its groups
    /// are created if missing.
    pub fn put_user(&self, user: NcUser) {
        let mut state = self.nc.lock();
        state.groups.extend(user.groups.iter().cloned());
        state.users.insert(user.id.clone(), user);
    }

    /// How many `POST /ocs/v{1,2}.php/cloud/users` reached the server, whatever the answer
    /// (duplicates, bad credentials and faults included).
    pub fn create_calls(&self) -> usize {
        self.nc.log.count("POST", |path| {
            path == "/ocs/v1.php/cloud/users" || path == "/ocs/v2.php/cloud/users"
        })
    }

    /// Every request that reached the server, as `"METHOD /path"`.
    pub fn requests(&self) -> Vec<String> {
        self.nc.log.entries()
    }

    /// The logout tokens accepted by the back-channel logout endpoint, as
    /// `(provider identifier, logout_token)`.
    pub fn backchannel_tokens(&self) -> Vec<(String, String)> {
        self.nc.lock().backchannel_tokens.clone()
    }

    /// Registers a user_oidc provider. Once one is registered, back-channel logout answers 400
    /// for an unknown provider, and checks that the token's `aud` is or contains `client_id`,
    /// as user_oidc does; with none registered it accepts any provider and audience.
    pub fn add_oidc_provider(&self, identifier: &str, client_id: &str) {
        self.nc
            .lock()
            .oidc_providers
            .insert(identifier.to_owned(), client_id.to_owned());
    }

    /// Serves the users' files from `backend`: WebDAV requests are passed to its server, and
    /// the sharing API reads the homes under its root. Attached after start, since the WebDAV
    /// server needs the hub's userinfo URL and the hub needs this fake's URL. Until then those
    /// routes answer 503.
    pub fn serve_files(&self, backend: FilesBackend) {
        self.nc.lock().files = Some(backend);
    }

    /// Every share, in the order they were made (deleted ones are gone).
    pub fn shares(&self) -> Vec<NcShare> {
        self.nc.lock().shares.clone()
    }
}

/// The state the handlers share.
#[derive(Clone)]
struct Nextcloud {
    state: Arc<Mutex<NcState>>,
    admin_user: String,
    admin_password: String,
    faults: FaultSwitch,
    log: RequestLog,
    http: reqwest::Client,
}

struct NcState {
    users: HashMap<String, NcUser>,
    groups: BTreeSet<String>,
    backchannel_tokens: Vec<(String, String)>,
    /// Provider identifier -> client id.
    oidc_providers: HashMap<String, String>,
    files: Option<FilesBackend>,
    shares: Vec<NcShare>,
    /// Share ids count up and are never given twice, as `oc_share`'s auto-increment.
    last_share_id: u64,
}

impl Nextcloud {
    fn lock(&self) -> MutexGuard<'_, NcState> {
        self.state.lock().unwrap()
    }

    fn files(&self) -> Option<FilesBackend> {
        self.lock().files.clone()
    }
}

impl NcState {
    /// Nextcloud's user backend compares user ids case-insensitively.
    fn find_user(&mut self, id: &str) -> Option<&mut NcUser> {
        let id = id.to_lowercase();
        self.users
            .values_mut()
            .find(|user| user.id.to_lowercase() == id)
    }
}

fn router(nc: Nextcloud) -> Router {
    let mut ocs = Router::new();
    // OCS routes answer under both entry points; only the envelope differs.
    for base in ["/ocs/v1.php", "/ocs/v2.php"] {
        ocs = ocs
            .route(&format!("{base}/cloud/users"), post(provisioning::add_user))
            .route(
                &format!("{base}/cloud/users/{{id}}"),
                get(provisioning::get_user),
            )
            .route(
                &format!("{base}/cloud/users/{{id}}/disable"),
                put(provisioning::disable_user),
            )
            .route(
                &format!("{base}/cloud/users/{{id}}/enable"),
                put(provisioning::enable_user),
            )
            .route(
                &format!("{base}/cloud/users/{{id}}/groups"),
                post(provisioning::add_to_group),
            )
            .route(
                &format!("{base}/cloud/groups"),
                post(provisioning::add_group),
            )
            .route(
                &format!("{base}/apps/user_oidc/api/v1/user"),
                post(user_oidc::create_user),
            );
    }
    let ocs = ocs.route_layer(middleware::from_fn_with_state(
        nc.clone(),
        ocs::require_admin_ocs_request,
    ));

    // A public page: no login, no CSRF token. With pretty URLs off it sits under /index.php.
    let public = Router::new()
        .route(
            "/index.php/apps/user_oidc/backchannel-logout/{provider}",
            post(user_oidc::backchannel_logout),
        )
        .route(
            "/apps/user_oidc/backchannel-logout/{provider}",
            post(user_oidc::backchannel_logout),
        );

    ocs.merge(shares::router(nc.clone()))
        .merge(files::router())
        .merge(public)
        .with_state(nc)
}
