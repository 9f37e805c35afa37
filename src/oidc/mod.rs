//! Protocol logic with no HTTP in it.

pub mod discovery;

/// Endpoint paths: part of the contract, the relying parties are configured with them.
pub mod paths {
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const AUTHORIZATION_SERVER_METADATA: &str = "/.well-known/oauth-authorization-server";
    pub const JWKS: &str = "/api/v1/sso/jwks";
    pub const AUTHORIZE: &str = "/api/v1/sso/authorize";
    pub const HEALTH: &str = "/health";
}
