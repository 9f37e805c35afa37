//! Integration tests: the real app on port 0, real SQLite and PostgreSQL, a real OIDC client.
//! One binary, so the suite links once.

mod architecture;
mod audit;
mod backchannel;
mod backup;
mod browser;
mod cli;
mod client_credentials;
mod company_limits;
mod conformance;
mod consent;
mod deploy;
mod disabled_users;
mod discovery;
mod erp_directory;
mod fakes;
mod first_party_api;
mod grants;
mod health;
mod hub;
mod introspection;
mod keys;
mod login_limits;
mod metrics;
mod migrations;
mod negative;
mod overload;
mod provisioning;
mod refusal_logs;
mod request_ids;
mod revocation;
mod scale_out;
mod sessions;
mod slow_clients;
mod support;
mod tls_proxy;
