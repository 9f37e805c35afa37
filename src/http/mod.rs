//! axum handlers only: extract, call the domain, render.

pub mod error;
mod health;
mod oidc;

use axum::Router;

use crate::app::AppState;

/// The whole site, area by area.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(oidc::router())
        .merge(health::router())
        .fallback(error::not_found)
}
