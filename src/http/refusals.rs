//! Refusals made before a handler runs, rendered like every other error.
//!
//! axum's extractors (`Form`, `RawForm`, `Query`, `Json`) and the layers around the routes (the
//! body limit, the timeout, the session store, the method router's 405) answer in plain text or
//! with an empty body. An OAuth client expects the JSON error of RFC 6749 §5.2 and a browser the
//! error page with its security headers, so this layer, outside all of them, renders any such
//! answer again: JSON on the protocol and API endpoints, the HTML page on the hosted pages and
//! at authorize (where nothing may be sent to a redirect URI not yet checked, RFC 6749
//! §4.1.2.1). Answers already rendered by `super::error` (JSON or HTML) pass untouched, and so
//! does every success: the only cost on the way in is a look at the path.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tower::{Layer, Service};

use super::error::no_store;
use super::views::{render_status, ErrorPage};
use crate::oidc::paths;

/// Who reads the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reader {
    Browser,
    Client,
}

fn reader(path: &str) -> Reader {
    match path {
        paths::AUTHORIZE
        | paths::END_SESSION
        | paths::LOGIN_PAGE
        | paths::CONSENT_PAGE
        | paths::LOGOUT_PAGE => Reader::Browser,
        _ => Reader::Client,
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct RefusalsLayer;

impl<S> Layer<S> for RefusalsLayer {
    type Service = Refusals<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Refusals { inner }
    }
}

#[derive(Clone, Debug)]
pub struct Refusals<S> {
    inner: S,
}

impl<S> Service<Request> for Refusals<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = RefusalFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let reader = reader(request.uri().path());
        RefusalFuture {
            inner: self.inner.call(request),
            reader,
        }
    }
}

pin_project_lite::pin_project! {
    pub struct RefusalFuture<F> {
        #[pin]
        inner: F,
        reader: Reader,
    }
}

impl<F> Future for RefusalFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        Poll::Ready(Ok(render(*this.reader, response)))
    }
}

/// Our own renderers always say what they send; axum's rejections and the layers' refusals
/// are `text/plain` or have no body at all.
fn rendered_already(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| !v.as_bytes().starts_with(b"text/plain"))
}

/// How a refusal is told: the status sent, the OAuth error code, the description for a client,
/// and the title and message for a person.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    description: &'static str,
    title: &'static str,
    message: &'static str,
}

const MALFORMED: &str = "The request is malformed. Go back to the application and start again.";

fn refusal(status: StatusCode) -> Refusal {
    let (status, code, description, title, message) = match status {
        // Kept as 413 (RFC 9110 §15.5.14) rather than 400, so a client can tell why.
        StatusCode::PAYLOAD_TOO_LARGE => (
            status,
            "invalid_request",
            "the request body is too large",
            "This request cannot be completed",
            "The request is too large. Go back to the application and start again.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request body is not of the expected Content-Type \
             (application/x-www-form-urlencoded; application/json at /api/v1/auth)",
            "This request cannot be completed",
            MALFORMED,
        ),
        // 405 stays 405: its `Allow` header tells the client what would work (RFC 9110 §15.5.6).
        StatusCode::METHOD_NOT_ALLOWED => (
            status,
            "invalid_request",
            "this endpoint does not take this method",
            "This request cannot be completed",
            "This address does not take that kind of request.",
        ),
        // The request timeout of the router.
        StatusCode::SERVICE_UNAVAILABLE => (
            status,
            "temporarily_unavailable",
            "the request took too long; try again",
            "The sign-in service is busy",
            "The sign-in service could not answer in time. Please try again in a moment.",
        ),
        s if s.is_server_error() => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
            "Something went wrong",
            "The sign-in service could not complete your request. Please try again in a moment.",
        ),
        // A form, query or JSON body that does not parse (422 from `Form` for a repeated field,
        // 400 from `Query` and the others): RFC 6749 §3.1 makes every one invalid_request.
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request is malformed (a parameter repeated, or a body that does not parse)",
            "This request cannot be completed",
            MALFORMED,
        ),
        // None is made today; should a layer add one (429…), its status is kept.
        other => (
            other,
            "invalid_request",
            "the request was refused",
            "This request cannot be completed",
            "The request was refused. Go back to the application and start again.",
        ),
    };
    Refusal {
        status,
        code,
        description,
        title,
        message,
    }
}

fn render(reader: Reader, response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || rendered_already(response.headers())
    {
        return response;
    }
    let refusal = refusal(status);
    let mut rendered = match reader {
        Reader::Client => no_store((
            refusal.status,
            Json(json!({ "error": refusal.code, "error_description": refusal.description })),
        )),
        Reader::Browser => render_status(
            refusal.status,
            &ErrorPage {
                title: refusal.title.to_owned(),
                message: refusal.message.to_owned(),
                status: refusal.status.as_u16(),
                request_id: crate::origin::request_id(),
                link: None,
            },
        ),
    };
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = response.headers().get(&name) {
            rendered.headers_mut().insert(name, value.clone());
        }
    }
    rendered.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(status: StatusCode) -> Response {
        (
            status,
            "Failed to deserialize form body: duplicate field `req`",
        )
            .into_response()
    }

    fn empty(status: StatusCode) -> Response {
        let mut response = Response::default();
        *response.status_mut() = status;
        response
    }

    fn content_type(response: &Response) -> &str {
        response.headers()[header::CONTENT_TYPE].to_str().unwrap()
    }

    #[tokio::test]
    async fn each_refusal_becomes_an_oauth_error_for_a_client() {
        for (given, status, code) in [
            (
                plain(StatusCode::UNSUPPORTED_MEDIA_TYPE),
                400,
                "invalid_request",
            ),
            (
                plain(StatusCode::UNPROCESSABLE_ENTITY),
                400,
                "invalid_request",
            ),
            (plain(StatusCode::BAD_REQUEST), 400, "invalid_request"),
            (plain(StatusCode::PAYLOAD_TOO_LARGE), 413, "invalid_request"),
            (
                empty(StatusCode::METHOD_NOT_ALLOWED),
                405,
                "invalid_request",
            ),
            (
                empty(StatusCode::SERVICE_UNAVAILABLE),
                503,
                "temporarily_unavailable",
            ),
            (
                empty(StatusCode::INTERNAL_SERVER_ERROR),
                500,
                "server_error",
            ),
            (plain(StatusCode::TOO_MANY_REQUESTS), 429, "invalid_request"),
        ] {
            let response = render(Reader::Client, given);
            assert_eq!(response.status(), status, "{code}");
            assert_eq!(content_type(&response), "application/json");
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
            let body = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["error"], code);
        }
    }

    #[test]
    fn each_refusal_becomes_the_error_page_for_a_browser() {
        let mut given = empty(StatusCode::METHOD_NOT_ALLOWED);
        given
            .headers_mut()
            .insert(header::ALLOW, "GET,HEAD,POST".parse().unwrap());
        let response = render(Reader::Browser, given);
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()[header::ALLOW], "GET,HEAD,POST");
        assert!(content_type(&response).starts_with("text/html"));
        assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");

        let response = render(Reader::Browser, empty(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(response.status(), 503);
        assert!(content_type(&response).starts_with("text/html"));
    }

    #[test]
    fn answers_already_rendered_and_successes_pass_untouched() {
        let json = (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        );
        let response = render(Reader::Client, json.into_response());
        assert_eq!(response.status(), 401);
        let redirect = empty(StatusCode::SEE_OTHER);
        assert_eq!(render(Reader::Browser, redirect).status(), 303);
        let ok = empty(StatusCode::OK);
        assert!(render(Reader::Client, ok).headers().is_empty());
    }

    #[test]
    fn the_hosted_pages_and_authorize_are_for_browsers() {
        for path in [
            "/login",
            "/consent",
            "/logout",
            "/api/v1/sso/authorize",
            "/api/v1/sso/logout",
        ] {
            assert_eq!(reader(path), Reader::Browser, "{path}");
        }
        for path in [
            "/api/v1/sso/token",
            "/api/v1/sso/userinfo",
            "/api/v1/auth/me",
            "/health",
        ] {
            assert_eq!(reader(path), Reader::Client, "{path}");
        }
    }
}
