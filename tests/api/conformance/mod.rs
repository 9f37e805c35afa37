//! The OpenID Foundation's Basic OP checks, each its own test, with the
//! `openidconnect` crate as the relying party, on SQLite and on PostgreSQL.

use crate::support::Sso;

mod code_flow;
mod logout;
mod prompt;
mod refresh;
mod requests;

async fn userinfo_json(sso: &Sso, token: &str) -> serde_json::Value {
    sso.userinfo_json(token).await
}
