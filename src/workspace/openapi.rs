//! The OpenAPI document of the workspace APIs, `GET /api/v1/openapi.json`, generated from the
//! code: each handler's `#[utoipa::path]` and each body's `#[derive(ToSchema)]`, collected as the
//! routes are registered (utoipa-axum), so a route cannot be added without its documentation.
//!
//! An area adds its endpoints in the same way. A handler, e.g. in `src/workspace/meet/routes.rs`:
//!
//! ```ignore
//! use utoipa_axum::{router::OpenApiRouter, routes};
//! use crate::workspace::{ApiError, ApiErrorBody, Caller, Meet, ValidJson};
//!
//! /// Creates a room; the caller is its host.
//! #[utoipa::path(
//!     post, path = "/rooms", tag = "meet",
//!     // The scheme names of this module (`BEARER`, `OAUTH2`) with the area's scope.
//!     security(("bearer" = ["meet"]), ("oauth2" = ["meet"])),
//!     request_body = NewRoom,
//!     responses(
//!         (status = 201, description = "The room", body = Room),
//!         (status = 401, description = "No valid access token", body = ApiErrorBody),
//!         (status = 403, description = "The token lacks the `meet` scope", body = ApiErrorBody),
//!         (status = 422, description = "A field is missing or wrong", body = ApiErrorBody),
//!     )
//! )]
//! async fn create_room(
//!     caller: Caller<Meet>,
//!     State(state): State<AppState>,
//!     ValidJson(room): ValidJson<NewRoom>,
//! ) -> Result<(StatusCode, Json<Room>), ApiError> { … }
//!
//! /// The area's routes, relative to `/api/v1/meet`, with their documentation.
//! pub fn router() -> OpenApiRouter<AppState> {
//!     OpenApiRouter::new().routes(routes!(create_room)).routes(routes!(list_rooms))
//! }
//! ```
//!
//! and `crate::workspace::areas` nests it: `.nest("/api/v1/meet", meet::router())`, which
//! prefixes the paths in the document too. `NewRoom` and `Room` derive `serde` and
//! `utoipa::ToSchema`; a schema used only inside another is found through it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa::openapi::security::{
    AuthorizationCode, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
};
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

use super::error::ApiErrorBody;
use crate::config::{Issuer, AREA_SCOPES};
use crate::http::AppState;
use crate::oidc::paths;
use crate::oidc::scope::describe;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The security scheme of a Bearer access token in the `Authorization` header.
pub const BEARER: &str = "bearer";
/// The same tokens as an OAuth 2.0 authorization-code flow of this provider, with the scopes.
pub const OAUTH2: &str = "oauth2";

/// What the document says before any route adds to it.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bheem Workspace APIs",
        description = "The workspace's resource servers. Every call takes an access token of \
                       this provider (`Authorization: Bearer`) with the scope of the area \
                       (`meet`, `docs`, `calendar`, `mail`). Errors have one shape \
                       (`ApiErrorBody`) in every area; quote its `request_id` when reporting one."
    ),
    components(schemas(ApiErrorBody)),
    tags(
        (name = "workspace", description = "What all areas share"),
        (name = "meet", description = "Bheem Meet: rooms, join tokens, recordings"),
        (name = "calendar", description = "Bheem Calendar: the caller's Nextcloud calendars and \
                                            events, meetings and invitations"),
        (name = "mail", description = "Bheem Mail: the caller's mailbox (folders, messages, \
                                        sending) and, for company admins, the company's mailboxes"),
    )
)]
pub struct WorkspaceApi;

/// The document's security schemes, whose URLs are this deployment's: the same token two
/// ways, a plain Bearer JWT (RFC 6750, RFC 9068) and the OAuth 2.0 flow that gets one, with the
/// area scopes an operation may require.
fn security_schemes(issuer: &Issuer) -> [(&'static str, SecurityScheme); 2] {
    let scopes = Scopes::from_iter(
        AREA_SCOPES
            .iter()
            .map(|scope| (*scope, describe(scope).unwrap_or(scope))),
    );
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some(
            "An access token of this provider (RFC 9068, `typ: at+jwt`, RS256) carrying the \
             area's scope: from `POST /api/v1/auth/login` (all areas) or the OAuth 2.0 flow \
             of a client allowed the scope.",
        ))
        .build();
    let oauth2 = OAuth2::with_description(
        [Flow::AuthorizationCode(AuthorizationCode::new(
            issuer.endpoint(paths::AUTHORIZE),
            issuer.endpoint(paths::TOKEN),
            scopes,
        ))],
        "The provider's authorization code flow (PKCE S256); ask for the area's scope \
         (`scope=openid meet`). A client gets an area's scope only if it is allowed it.",
    );
    [
        (BEARER, SecurityScheme::Http(bearer)),
        (OAUTH2, SecurityScheme::OAuth2(oauth2)),
    ]
}

/// The document with this deployment's security schemes.
pub fn document(routes: &Document, issuer: &Issuer) -> Document {
    let mut document = routes.clone();
    document
        .components
        .get_or_insert_with(Default::default)
        .security_schemes
        .extend(
            security_schemes(issuer)
                .into_iter()
                .map(|(name, scheme)| (name.to_owned(), scheme)),
        );
    document
}

/// The OpenAPI document of the workspace APIs (OpenAPI 3.1).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "workspace",
    responses((status = 200, description = "This document", content_type = "application/json"))
)]
pub(super) async fn serve(
    State(state): State<AppState>,
    Extension(routes): Extension<Arc<Document>>,
) -> Response {
    let mut response = Json(document(&routes, &state.config.issuer)).into_response();
    // It changes only with a new release; a client may keep it a while.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=300"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schemes_name_this_provider_and_every_area_scope() {
        let issuer = Issuer::parse("https://sso.example.com").unwrap();
        let doc = serde_json::to_value(document(&WorkspaceApi::openapi(), &issuer)).unwrap();
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes[BEARER]["scheme"], "bearer");
        let flow = &schemes[OAUTH2]["flows"]["authorizationCode"];
        assert_eq!(flow["tokenUrl"], "https://sso.example.com/api/v1/sso/token");
        for scope in AREA_SCOPES {
            assert!(flow["scopes"][scope].is_string(), "{scope}: {flow}");
        }
        assert!(doc["components"]["schemas"]["ApiErrorBody"].is_object());
    }
}
