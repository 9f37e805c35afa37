//! axum handlers only: extract, call the domain, render.

mod api;
pub mod client_addr;
mod client_auth;
mod device_cookie;
pub mod error;
mod flow;
mod health;
mod oidc;
pub mod pages;
pub(crate) mod refusals;
pub(crate) mod session;

use axum::Router;

use crate::app::AppState;

/// The whole site, area by area.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(oidc::router())
        .merge(pages::router())
        .merge(api::router())
        .merge(health::router())
        .fallback(error::not_found)
}
