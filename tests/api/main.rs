//! Integration tests: the real app on port 0, real SQLite and PostgreSQL, a real OIDC client.
//! One binary, so the suite links once.

mod backchannel;
mod browser;
mod cli;
mod conformance;
mod discovery;
mod erp_directory;
mod fakes;
mod flows;
mod grants;
mod health;
mod hub;
mod keys;
mod login_limits;
mod migrations;
mod negative;
mod overload;
mod provisioning;
mod scale_out;
mod slow_clients;
mod support;
