use axum::extract::{RawForm, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::http::error::PageError;
use crate::http::flow::proceed;
use crate::http::session::BrowserSession;
use crate::http::AppState;
use crate::oidc::authorize::{self, AuthorizeFailure};
use crate::oidc::paths;

pub fn router() -> Router<AppState> {
    Router::new().route(paths::AUTHORIZE, get(authorize).post(authorize))
}

/// GET with a query, or POST with a form (OIDC Core §3.1.2.1).
async fn authorize(
    State(state): State<AppState>,
    browser: BrowserSession,
    // The query of a GET, the body of a POST.
    RawForm(raw): RawForm,
) -> Result<Response, PageError> {
    let pairs = url::form_urlencoded::parse(&raw).into_owned().collect();
    let params = authorize::collect_params(pairs).map_err(PageError::bad_request)?;
    let now = state.clock.now();
    let request = match authorize::parse(
        &params,
        &state.clients,
        &state.keys(),
        state.config.issuer.as_str(),
        now,
    ) {
        Ok(request) => request,
        Err(AuthorizeFailure::Page(message)) => return Err(PageError::bad_request(message)),
        Err(AuthorizeFailure::Redirect {
            redirect_uri,
            state: client_state,
            error,
        }) => {
            let url = authorize::error_redirect_url(
                &redirect_uri,
                client_state.as_deref(),
                &error,
                state.config.issuer.as_str(),
            );
            return Ok(axum::response::Redirect::to(&url).into_response());
        }
    };
    proceed(&state, &browser, request, false).await
}
