//! The state the handlers see: the domain services, and what the HTTP layer needs itself.

use std::sync::Arc;

use bytes::Bytes;

use crate::audit::Audit;
use crate::clock::Clock;
use crate::config::Config;
use crate::directory::Directory;
use crate::keys::{KeyRing, KeySet};
use crate::login::Logins;
use crate::oidc::client::{Client, Clients};
use crate::oidc::tokens::TokenIssuer;
use crate::provisioning::Provisioning;
use crate::store::Db;
use crate::workspace::meet::livekit::LiveKit;
use crate::workspace::meet::recordings::Recordings;

/// Everything a handler needs; cheap to clone. Built by the composition root (`crate::app`).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub directory: Arc<dyn Directory>,
    pub clock: Clock,
    pub keys: KeyRing,
    pub clients: Clients,
    /// The workspace SPA's own login (`/api/v1/auth/*`): a public client of its own.
    pub first_party: Arc<Client>,
    /// Discovery never changes while the process runs, so its body is made once.
    pub discovery_body: Bytes,
    pub tokens: TokenIssuer,
    pub logins: Logins,
    pub provisioning: Provisioning,
    pub audit: Audit,
    /// LiveKit (`[meet]`); `None`: Meet is off and its routes answer 404.
    pub livekit: Option<Arc<LiveKit>>,
    /// The recordings' bucket (`[meet.recordings]`); `None`: recording is off.
    pub recordings: Option<Arc<Recordings>>,
}

impl AppState {
    /// The current key set; a snapshot, so a reload never changes it under a request.
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.current()
    }
}
