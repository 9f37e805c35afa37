//! One JSON error shape for every workspace API (meet, docs, calendar, mail):
//!
//! ```json
//! {"error": "not_found", "error_description": "no such object", "request_id": "…"}
//! ```
//!
//! `error` is a code a program can branch on, `error_description` words for a person, and
//! `request_id` the id of the request (the `X-Request-Id` the response carries too), so a person
//! can quote it and an operator find its log lines. A bad field adds `field`, a downstream service
//! that failed adds `service`. The Bearer refusals keep the names and the `WWW-Authenticate`
//! challenge of RFC 6750 §3. Internal causes are logged once, with their chain, never sent.

use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::{bearer_challenge, log_internal, no_store, BearerError};

/// An error of a workspace API.
#[derive(Debug)]
pub enum ApiError {
    /// 404; the same answer for a missing object and another company's (company isolation).
    NotFound,
    /// 422: a field of the request is missing, of the wrong type, or has a value that is not
    /// allowed; `field` names it as the client wrote it (`participants[2]`).
    Invalid { field: String, message: String },
    /// 400: the body is not JSON at all, or not sent as `application/json`.
    MalformedBody(String),
    /// 413: the body is larger than `[workspace] max_body_bytes`.
    BodyTooLarge,
    /// 403: the user may not do this to this object (only the host may end a meeting, …).
    Forbidden(&'static str),
    /// 409: the object's state does not allow this (a recording already running, …).
    Conflict(String),
    /// 503: a downstream service (LiveKit, S3, …) cannot be reached or did not answer in time.
    Unavailable { service: &'static str },
    /// 502: a downstream service answered, but not as it should.
    BadGateway { service: &'static str },
    /// 504: a downstream service took longer than it may (its request timeout), or stopped
    /// sending in the middle of a transfer.
    GatewayTimeout { service: &'static str },
    /// 412: the object changed, or a target exists that may not be replaced.
    PreconditionFailed(String),
    /// 428: a change that must say which version it changes (`If-Match`) did not.
    PreconditionRequired(&'static str),
    /// 423: the object is locked (someone is editing it) and cannot be changed now.
    Locked(String),
    /// 507: the user's storage quota does not hold this.
    InsufficientStorage(String),
    /// 500: logged with its cause, answered without it.
    Internal(anyhow::Error),
    /// 401 with the bare challenge: no access token at all (RFC 6750 §3.1).
    MissingToken,
    /// 400 `invalid_request`: an Authorization header that cannot be read.
    BadAuthorization(&'static str),
    /// 401 `invalid_token`: expired, revoked, of an ended session, not ours, or of a user who can
    /// no longer use it.
    InvalidToken(&'static str),
    /// 403 `insufficient_scope`: a good token without the area's scope, which the challenge
    /// names (`scope="meet"`).
    InsufficientScope(&'static str),
    /// 401 `invalid_signature`: a call from a service (LiveKit's webhooks) not signed with the
    /// key it shares with this deployment, or whose body is not the one signed.
    InvalidSignature,
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(e)
    }
}

impl From<BearerError> for ApiError {
    fn from(e: BearerError) -> Self {
        match e {
            BearerError::Missing => Self::MissingToken,
            BearerError::InvalidToken(d) => Self::InvalidToken(d),
            BearerError::InvalidRequest(d) => Self::BadAuthorization(d),
            BearerError::Internal(e) => Self::Internal(e),
        }
    }
}

/// The body of every error answer of the workspace APIs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiErrorBody {
    /// What went wrong, for a program: `not_found`, `invalid_field`, `malformed_body`,
    /// `body_too_large`, `forbidden`, `conflict`, `service_unavailable`, `bad_gateway`,
    /// `gateway_timeout`, `precondition_failed`, `precondition_required`, `locked`,
    /// `insufficient_storage`,
    /// `invalid_signature` (a webhook not signed by the service that sends it),
    /// `server_error`, `method_not_allowed`, `invalid_request` (a malformed request, or RFC 6750's
    /// for an unreadable Authorization header or none), and RFC 6750's `invalid_token` and
    /// `insufficient_scope`.
    #[schema(example = "invalid_field")]
    pub error: &'static str,
    /// What went wrong, for a person.
    #[schema(example = "missing field `name`")]
    pub error_description: String,
    /// The request's id, as in its `X-Request-Id` response header: quote it when reporting.
    #[schema(example = "7f6c2a1e-7d1f-4e8e-9a53-2b1c1b0f3c55")]
    pub request_id: Option<String>,
    /// The request field that is wrong (`invalid_field` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "participants[2]")]
    pub field: Option<String>,
    /// The downstream service that failed (`service_unavailable`, `bad_gateway`,
    /// `gateway_timeout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "livekit")]
    pub service: Option<&'static str>,
}

impl ApiErrorBody {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            error_description: description.into(),
            request_id: crate::origin::request_id().map(|id| id.to_string()),
            field: None,
            service: None,
        }
    }
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::MalformedBody(_) | Self::BadAuthorization(_) => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Forbidden(_) | Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            Self::GatewayTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            Self::Locked(_) => StatusCode::LOCKED,
            Self::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::MissingToken | Self::InvalidToken(_) | Self::InvalidSignature => {
                StatusCode::UNAUTHORIZED
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // RFC 6750 §3: every refused token gets a challenge, with the scope it lacked.
        let challenge = match &self {
            Self::MissingToken => Some(bearer_challenge(None, "", None)),
            Self::BadAuthorization(d) => Some(bearer_challenge(Some("invalid_request"), d, None)),
            Self::InvalidToken(d) => Some(bearer_challenge(Some("invalid_token"), d, None)),
            Self::InsufficientScope(scope) => Some(bearer_challenge(
                Some("insufficient_scope"),
                "the access token lacks the scope of this API",
                Some(scope),
            )),
            _ => None,
        };
        let body = match self {
            Self::NotFound => ApiErrorBody::new("not_found", "no such object"),
            Self::Invalid { field, message } => ApiErrorBody {
                field: Some(field),
                ..ApiErrorBody::new("invalid_field", message)
            },
            Self::MalformedBody(message) => ApiErrorBody::new("malformed_body", message),
            Self::BodyTooLarge => {
                ApiErrorBody::new("body_too_large", "the request body is too large")
            }
            Self::Forbidden(message) => ApiErrorBody::new("forbidden", message),
            Self::Conflict(message) => ApiErrorBody::new("conflict", message),
            Self::Unavailable { service } => ApiErrorBody {
                service: Some(service),
                ..ApiErrorBody::new(
                    "service_unavailable",
                    format!("{service} cannot be reached now; try again in a moment"),
                )
            },
            Self::BadGateway { service } => ApiErrorBody {
                service: Some(service),
                ..ApiErrorBody::new("bad_gateway", format!("{service} gave an unusable answer"))
            },
            Self::GatewayTimeout { service } => ApiErrorBody {
                service: Some(service),
                ..ApiErrorBody::new(
                    "gateway_timeout",
                    format!("{service} did not answer in time; try again in a moment"),
                )
            },
            Self::PreconditionFailed(message) => ApiErrorBody::new("precondition_failed", message),
            Self::PreconditionRequired(message) => {
                ApiErrorBody::new("precondition_required", message)
            }
            Self::Locked(message) => ApiErrorBody::new("locked", message),
            Self::InsufficientStorage(message) => {
                ApiErrorBody::new("insufficient_storage", message)
            }
            Self::Internal(e) => {
                log_internal(&e);
                ApiErrorBody::new("server_error", "internal error")
            }
            Self::MissingToken => ApiErrorBody::new("invalid_request", "no access token"),
            Self::BadAuthorization(d) => ApiErrorBody::new("invalid_request", d),
            Self::InvalidToken(d) => ApiErrorBody::new("invalid_token", d),
            Self::InsufficientScope(scope) => ApiErrorBody::new(
                "insufficient_scope",
                format!("the access token lacks the scope `{scope}`"),
            ),
            Self::InvalidSignature => ApiErrorBody::new(
                "invalid_signature",
                "not signed with this deployment's key, or not the body that was signed",
            ),
        };
        let mut response = no_store((status, Json(body)));
        if let Some(challenge) = challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Renders again, in the one shape, the refusals made around the workspace handlers (the body
/// limit's 413 for a declared length, the method router's 405, axum's own rejections), which
/// come as plain text or without a body. Inside the site-wide refusal rendering, which then
/// leaves them as they are.
pub(super) async fn render_refusals(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || rendered(response.headers()) {
        return response;
    }
    let (status, error, description) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => return keep(ApiError::BodyTooLarge, &response),
        StatusCode::NOT_FOUND => return keep(ApiError::NotFound, &response),
        StatusCode::METHOD_NOT_ALLOWED => (
            status,
            "method_not_allowed",
            "this endpoint does not take this method",
        ),
        s if s.is_server_error() => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        ),
        // axum's rejections of a path or query that does not parse, and whatever a layer adds.
        _ => (status, "invalid_request", "the request is malformed"),
    };
    let mut rendered = no_store((status, Json(ApiErrorBody::new(error, description))));
    copy_headers(&response, &mut rendered);
    rendered
}

fn keep(error: ApiError, original: &Response) -> Response {
    let mut rendered = error.into_response();
    copy_headers(original, &mut rendered);
    rendered
}

/// `Allow` tells a client what would work (RFC 9110 §15.5.6), `Retry-After` when.
fn copy_headers(from: &Response, to: &mut Response) {
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = from.headers().get(&name) {
            to.headers_mut().insert(name, value.clone());
        }
    }
}

/// Our renderers always say what they send; axum's rejections and the layers' refusals are
/// `text/plain` or have no body.
fn rendered(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| !v.as_bytes().starts_with(b"text/plain"))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn each_error_has_its_status_code_and_the_one_shape() {
        for (error, status, code) in [
            (ApiError::NotFound, 404, "not_found"),
            (ApiError::invalid("name", "missing"), 422, "invalid_field"),
            (ApiError::MalformedBody("x".into()), 400, "malformed_body"),
            (ApiError::BodyTooLarge, 413, "body_too_large"),
            (ApiError::Forbidden("host only"), 403, "forbidden"),
            (ApiError::Conflict("busy".into()), 409, "conflict"),
            (
                ApiError::Unavailable { service: "livekit" },
                503,
                "service_unavailable",
            ),
            (
                ApiError::BadGateway { service: "livekit" },
                502,
                "bad_gateway",
            ),
            (
                ApiError::GatewayTimeout {
                    service: "nextcloud",
                },
                504,
                "gateway_timeout",
            ),
            (
                ApiError::PreconditionFailed("changed".into()),
                412,
                "precondition_failed",
            ),
            (
                ApiError::PreconditionRequired("send If-Match"),
                428,
                "precondition_required",
            ),
            (ApiError::Locked("editing".into()), 423, "locked"),
            (
                ApiError::InsufficientStorage("quota".into()),
                507,
                "insufficient_storage",
            ),
            (
                ApiError::Internal(anyhow::anyhow!("db password=hunter2 refused")),
                500,
                "server_error",
            ),
            (ApiError::MissingToken, 401, "invalid_request"),
            (ApiError::InvalidToken("expired"), 401, "invalid_token"),
            (
                ApiError::InsufficientScope("meet"),
                403,
                "insufficient_scope",
            ),
        ] {
            let response = error.into_response();
            assert_eq!(response.status(), status, "{code}");
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
            let body = body(response).await;
            assert_eq!(body["error"], code);
            assert!(body["error_description"].is_string());
            assert!(body.get("request_id").is_some(), "{body}");
            assert!(!body.to_string().contains("hunter2"), "{body}");
        }
    }

    #[tokio::test]
    async fn a_bad_field_and_a_failed_service_are_named() {
        let body = body(ApiError::invalid("participants[2]", "not an email").into_response()).await;
        assert_eq!(body["field"], "participants[2]");
        let body = body_of(ApiError::BadGateway { service: "livekit" }).await;
        assert_eq!(body["service"], "livekit");
    }

    async fn body_of(error: ApiError) -> serde_json::Value {
        body(error.into_response()).await
    }

    #[test]
    fn refused_tokens_carry_the_rfc_6750_challenge() {
        let challenge = |e: ApiError| {
            e.into_response().headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            challenge(ApiError::MissingToken),
            "Bearer realm=\"bheem-sso\""
        );
        assert_eq!(
            challenge(ApiError::InvalidToken("the access token expired")),
            "Bearer realm=\"bheem-sso\", error=\"invalid_token\", \
             error_description=\"the access token expired\""
        );
        assert!(challenge(ApiError::InsufficientScope("meet")).ends_with(", scope=\"meet\""));
        assert!(ApiError::NotFound
            .into_response()
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .is_none());
    }
}
