//! axum handlers only: extract, call the domain, render.

mod api;
pub(crate) mod bearer;
pub mod client_addr;
mod client_auth;
mod device_cookie;
pub mod error;
mod flow;
mod form;
mod health;
pub mod metrics;
mod oidc;
pub mod pages;
pub(crate) mod refusals;
pub mod request_id;
pub(crate) mod session;
mod state;
mod views;

pub use state::AppState;

use axum::Router;

/// The whole site, area by area.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(oidc::router())
        .merge(pages::router())
        .merge(api::router())
        .merge(health::router())
        .fallback(error::not_found)
}
