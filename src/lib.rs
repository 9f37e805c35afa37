//! bheem-sso: the OpenID Connect provider and SSO hub of Bheem Workspace.
//!
//! Data flows one way: `http` and the workspace APIs (`workspace`, beside it) → the domain
//! (`login`, `provisioning`, `oidc`) → `store` / `directory` / `keys` → the base (`clock`,
//! `config`, `domain`, `origin`, `secrets`). Nothing below `http` knows about axum or the composition root (`app`). `docs/architecture.md` has the whole picture;
//! `tests/api/architecture.rs` keeps it true.

pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod directory;
pub mod domain;
pub mod http;
pub mod keys;
pub mod logging;
pub mod login;
pub mod login_limits;
pub mod oidc;
pub mod origin;
pub mod password;
pub mod provisioning;
pub mod secrets;
pub mod smtp;
pub mod store;
pub mod telemetry;
pub mod workspace;
