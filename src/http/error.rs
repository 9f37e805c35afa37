//! How errors leave the server: the OAuth JSON error, the Bearer challenge, and the HTML error
//! page. Internal causes are logged once, with their chain, and never sent to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::views::{render_status, ErrorPage};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::grants::GrantError;

pub(crate) fn log_internal(e: &anyhow::Error) {
    tracing::error!(error = format!("{e:#}"), "request failed");
}

/// An error answered with the HTML error page.
#[derive(Debug)]
pub enum PageError {
    BadRequest(String),
    Forbidden(String),
    /// The browser did not send its session cookie: why, and where to go instead (400).
    CookieNotSent {
        message: String,
        link: Option<String>,
    },
    Internal(anyhow::Error),
}

impl PageError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }
}

impl<E: Into<anyhow::Error>> From<E> for PageError {
    fn from(e: E) -> Self {
        Self::Internal(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut link = None;
        let (status, title, message) = match self {
            PageError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                "This request cannot be completed",
                m,
            ),
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, "This request was refused", m),
            PageError::CookieNotSent { message, link: to } => {
                link = to;
                (
                    StatusCode::BAD_REQUEST,
                    "Your browser did not send the sign-in cookie",
                    message,
                )
            }
            PageError::Internal(e) => {
                log_internal(&e);
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The sign-in service could not complete your request. Please try again in a moment.".to_owned(),
                )
            }
        };
        render_status(
            status,
            &ErrorPage {
                title: title.to_owned(),
                message,
                status: status.as_u16(),
                request_id: crate::origin::request_id(),
                link,
            },
        )
    }
}

/// An OAuth error from the token, revocation or introspection endpoint (RFC 6749 §5.2).
#[derive(Debug)]
pub enum TokenError {
    OAuth(OAuthError),
    /// Client authentication failed; `basic` when it was tried with the Authorization header.
    Client {
        description: String,
        basic: bool,
    },
    Internal(anyhow::Error),
}

impl From<OAuthError> for TokenError {
    fn from(e: OAuthError) -> Self {
        Self::OAuth(e)
    }
}

impl From<anyhow::Error> for TokenError {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(e)
    }
}

impl From<GrantError> for TokenError {
    fn from(e: GrantError) -> Self {
        match e.into_oauth() {
            Ok(oauth) => Self::OAuth(oauth),
            Err(internal) => Self::Internal(internal),
        }
    }
}

pub fn no_store<R: IntoResponse>(response: R) -> Response {
    let mut response = response.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = |code: ErrorCode, description: &str| {
            Json(json!({ "error": code.as_str(), "error_description": description }))
        };
        match self {
            TokenError::OAuth(e) => {
                let status = match e.code {
                    ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
                    ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::BAD_REQUEST,
                };
                no_store((status, body(e.code, &e.description)))
            }
            TokenError::Client { description, basic } => {
                let mut response = no_store((
                    StatusCode::UNAUTHORIZED,
                    body(ErrorCode::InvalidClient, &description),
                ));
                if basic {
                    // RFC 6749 §5.2: 401 with the scheme the client tried.
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"bheem-sso\""),
                    );
                }
                response
            }
            TokenError::Internal(e) => {
                log_internal(&e);
                no_store((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    body(ErrorCode::ServerError, "internal error"),
                ))
            }
        }
    }
}

/// A refused Bearer token at a protected resource (RFC 6750 §3.1).
#[derive(Debug)]
pub enum BearerError {
    /// No token at all: a bare challenge.
    Missing,
    InvalidToken(&'static str),
    InvalidRequest(&'static str),
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for BearerError {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(e)
    }
}

/// The `WWW-Authenticate` challenge of a refused Bearer token (RFC 6750 §3): the bare one for a
/// request without a token (§3.1: no error code then), else the error code, its description and,
/// for `insufficient_scope`, the scope the resource needs. The descriptions are our own ASCII
/// words without quotes, so the header is always valid.
pub fn bearer_challenge(code: Option<&str>, description: &str, scope: Option<&str>) -> HeaderValue {
    let mut challenge = "Bearer realm=\"bheem-sso\"".to_owned();
    if let Some(code) = code {
        challenge.push_str(&format!(
            ", error=\"{code}\", error_description=\"{description}\""
        ));
    }
    if let Some(scope) = scope {
        challenge.push_str(&format!(", scope=\"{scope}\""));
    }
    HeaderValue::from_str(&challenge).expect("ASCII challenge")
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let (status, challenge, code, description) = match self {
            BearerError::Missing => (
                StatusCode::UNAUTHORIZED,
                bearer_challenge(None, "", None),
                "invalid_request",
                "no access token",
            ),
            BearerError::InvalidToken(d) => (
                StatusCode::UNAUTHORIZED,
                bearer_challenge(Some("invalid_token"), d, None),
                "invalid_token",
                d,
            ),
            BearerError::InvalidRequest(d) => (
                StatusCode::BAD_REQUEST,
                bearer_challenge(Some("invalid_request"), d, None),
                "invalid_request",
                d,
            ),
            BearerError::Internal(e) => {
                log_internal(&e);
                return no_store((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "error": "server_error" })),
                ));
            }
        };
        let mut response = no_store((
            status,
            Json(json!({ "error": code, "error_description": description })),
        ));
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge);
        response
    }
}

/// An unexpected failure in a JSON endpoint: logged with its cause, answered with a bare 500.
#[derive(Debug)]
pub struct InternalError(anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for InternalError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for InternalError {
    fn into_response(self) -> Response {
        log_internal(&self.0);
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": "server_error", "error_description": "internal error" })),
        )
            .into_response()
    }
}

pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not_found", "error_description": "no such endpoint" })),
    )
        .into_response()
}
