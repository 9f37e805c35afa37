//! The workspace APIs (meet, docs, calendar, mail): resource servers behind this provider.
//!
//! What every area shares is here: the `Caller<A>` extractor that turns an access token into the
//! user, the company and the scope (`auth`), one JSON error shape (`error`), request bodies
//! parsed with the bad field named (`json`), the body limit of `[workspace] max_body_bytes`, and
//! the OpenAPI document generated from the handlers (`openapi`). Each area is a folder of its
//! own with a `router()` of `utoipa_axum::router::OpenApiRouter`, nested under `/api/v1/<area>`
//! in [`areas`]. Company isolation is the data layer's: every query takes `Caller::company_id`.
//!
//! This module sits beside `http`, at the edge: it uses `http`'s state and extractors, and the
//! composition root (`app`) mounts [`router`] with [`with_shared_layers`].

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};
use tower_http::limit::RequestBodyLimitLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{Config, WorkspaceConfig};
use crate::http::AppState;

pub mod auth;
pub mod calendar;
pub mod docs;
pub mod error;
pub mod json;
pub mod mail;
pub mod meet;
pub mod openapi;

pub use auth::{enabled_scopes, Area, Calendar, Caller, Docs, Mail, Meet};
pub use error::{ApiError, ApiErrorBody};
pub use json::ValidJson;

/// Every configured area's routes with their documentation, each nested under
/// `/api/v1/<area>`. An area that is off has no routes: they answer 404, and the document
/// leaves them out.
struct Areas {
    /// Routes that answer within the site's request timeout.
    timed: OpenApiRouter<AppState>,
    /// Routes that take as long as their body takes to arrive (uploads), with body limits of
    /// their own.
    streaming: OpenApiRouter<AppState>,
}

fn areas(config: &Config) -> anyhow::Result<Areas> {
    let mut timed = OpenApiRouter::with_openapi(openapi::WorkspaceApi::openapi());
    let mut streaming = OpenApiRouter::new();
    let meet = meet::MeetService::from_config(config)?.map(Arc::new);
    if let Some(service) = &meet {
        timed = timed.nest("/api/v1/meet", service.clone().router());
    }
    if let Some(service) = docs::DocsService::from_config(config)? {
        let service = Arc::new(service);
        timed = timed.nest("/api/v1/docs", service.clone().router());
        streaming = streaming.nest("/api/v1/docs", service.upload_router());
    }
    if let Some(service) = calendar::CalendarService::from_config(config, meet)? {
        timed = timed.nest("/api/v1/calendar", Arc::new(service).router());
    }
    if let Some(service) = mail::MailService::from_config(config)? {
        let service = Arc::new(service);
        timed = timed.nest("/api/v1/mail", service.clone().router());
        streaming = streaming.nest("/api/v1/mail", service.send_router());
    }
    Ok(Areas { timed, streaming })
}

/// Whether the areas `config` turns on can be built: called at start-up, before any request.
pub fn check(config: &Config) -> anyhow::Result<()> {
    areas(config).map(drop)
}

/// The workspace APIs, with their OpenAPI document (`/api/v1/openapi.json`) describing every
/// route registered in [`areas`]: the routes that answer within the site's request timeout,
/// and the streaming ones, which must be merged outside that timeout and take
/// [`with_streaming_layers`].
///
/// # Panics
/// When an area cannot be built from a configuration that [`check`] passed: it builds the same.
pub fn router(config: &Config) -> (Router<AppState>, Router<AppState>) {
    let areas = areas(config).expect("the workspace areas were checked at start-up");
    let (timed, mut document) = areas
        .timed
        .routes(routes!(openapi::serve))
        .split_for_parts();
    let (streaming, streaming_document) = areas.streaming.split_for_parts();
    document.merge(streaming_document);
    (timed.layer(Extension(Arc::new(document))), streaming)
}

/// The streaming routes with what every workspace route shares but the body limit, which
/// each sets for itself: refusals in the one error shape.
pub fn with_streaming_layers(routes: Router<AppState>) -> Router<AppState> {
    routes.layer(axum::middleware::from_fn(error::render_refusals))
}

/// `routes` with what every workspace route shares: bodies larger than `max_body_bytes` refused
/// with 413 (declared or not: the limit counts what is read), and every refusal made around the
/// handlers (413, 405, …) in the one error shape.
pub fn with_shared_layers(routes: Router<AppState>, config: &WorkspaceConfig) -> Router<AppState> {
    routes
        // axum's own limit of 2 MB for buffered bodies, set to ours so that neither is lower.
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(axum::middleware::from_fn(error::render_refusals))
}
