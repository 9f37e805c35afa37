//! Fakes of the downstream services that cannot run in the test suite: Nextcloud (OCS
//! provisioning, user_oidc), Mailcow (REST API) and LiveKit (server API, webhooks). Each is a real
//! HTTP server on 127.0.0.1, answering as the real service does (as the vendors document their
//! APIs, checked against the services' own source), with state that tests can inspect and faults
//! they can switch on.
//!
//! The tests in `tests/` hold the fakes to the real services' behaviour, so that a provisioning
//! test passing against a fake means something.

pub mod livekit;
pub mod mailcow;
pub mod nextcloud;
mod server;
mod tests;

use std::time::Duration;

/// What a fake does to every request while it is set, before any other check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    /// Answers normally.
    #[default]
    None,
    /// Answers every request with HTTP 500.
    ServerError,
    /// Sleeps this long, then answers normally (for client timeouts).
    Hang(Duration),
    /// Refuses the credentials as if they were wrong, even the right ones
    /// (a rotated API key, a changed admin password).
    RejectCredentials,
}
