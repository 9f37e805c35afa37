//! Protocol logic with no HTTP in it.

pub mod authorize;
pub mod claims;
pub mod client;
pub mod codes;
pub mod decision;
pub mod discovery;
pub mod error;
pub mod grants;
pub mod jwt;
pub mod mailbox_email;
pub mod pkce;
pub mod revocation;
pub mod scope;
pub mod tokens;

/// Endpoint paths: part of the contract, the relying parties are configured with them.
pub mod paths {
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const AUTHORIZATION_SERVER_METADATA: &str = "/.well-known/oauth-authorization-server";
    pub const JWKS: &str = "/api/v1/sso/jwks";
    pub const AUTHORIZE: &str = "/api/v1/sso/authorize";
    pub const TOKEN: &str = "/api/v1/sso/token";
    pub const USERINFO: &str = "/api/v1/sso/userinfo";
    pub const REVOKE: &str = "/api/v1/sso/revoke";
    pub const INTROSPECT: &str = "/api/v1/sso/introspect";
    pub const END_SESSION: &str = "/api/v1/sso/logout";
    pub const HEALTH: &str = "/health";
    /// Liveness: the process answers. For an orchestrator deciding whether to restart it.
    pub const HEALTH_LIVE: &str = "/health/live";
    /// Readiness: database, directory, keys and schema all in order. For a load balancer.
    pub const HEALTH_READY: &str = "/health/ready";
    pub const LOGIN_PAGE: &str = "/login";
    pub const CONSENT_PAGE: &str = "/consent";
    pub const LOGOUT_PAGE: &str = "/logout";
    pub const API_LOGIN: &str = "/api/v1/auth/login";
    pub const API_REFRESH: &str = "/api/v1/auth/refresh";
    pub const API_ME: &str = "/api/v1/auth/me";
}
