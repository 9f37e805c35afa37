mod authorize;
mod discovery;
mod logout;
mod revocation;
pub mod token;
pub mod userinfo;

use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(discovery::router())
        .merge(authorize::router())
        .merge(token::router())
        .merge(userinfo::router())
        .merge(revocation::router())
        .merge(logout::router())
}
