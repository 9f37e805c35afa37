//! bheem-sso: the OpenID Connect provider and SSO hub of Bheem Workspace.
//!
//! Data flows one way: `http` → `oidc` → `store` / `directory` / `keys`. Nothing below `http`
//! knows about axum.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod directory;
pub mod domain;
pub mod http;
pub mod keys;
pub mod login_limits;
pub mod oidc;
pub mod password;
pub mod provisioning;
pub mod secrets;
pub mod store;
