mod discovery;

use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    discovery::router()
}
