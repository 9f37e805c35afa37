//! Every request gets an id and an [`Origin`].
//!
//! The id is the `X-Request-Id` a trusted proxy sent (nginx's `$request_id`), so one id follows
//! a request through the proxy's log and ours, or a new random one. It is echoed in the
//! response, shown on error pages so a person can quote it, and carried by every log line of
//! the request. The origin (id, method, route, client address, user agent, and the user and
//! client once noted) is the task-local of `crate::origin` for the layers below and the log
//! formatter (`crate::logging`), and an extension of the request for the handlers.
//!
//! No tracing span: a span per request is formatted when it opens and again at each field
//! recorded, whether a line is written or not, which cost a tenth of the throughput of the
//! cheapest endpoints; the formatter reads the origin only for the lines it writes. One layer
//! with its own future, like `refusals`: the task-local and the header cost no box per request.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use super::client_addr::client_addr;
use crate::config::ForwardedHeader;
use crate::logging::ACCESS_TARGET;
use crate::origin::{self, Origin};
use crate::telemetry::{method_label, UNMATCHED_ROUTE};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id taken from a proxy; longer ones are replaced.
const MAX_ID: usize = 128;

#[derive(Clone, Debug)]
pub struct RequestIdLayer {
    trusted: Arc<[ipnet::IpNet]>,
    header: ForwardedHeader,
}

impl RequestIdLayer {
    pub fn new(trusted: &[ipnet::IpNet], header: ForwardedHeader) -> Self {
        Self {
            trusted: trusted.into(),
            header,
        }
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIds<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIds {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RequestIds<S> {
    inner: S,
    layer: RequestIdLayer,
}

impl<S> Service<Request> for RequestIds<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = RequestFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let start = Instant::now();
        let origin = self.origin_of(&request);
        let id = HeaderValue::from_str(&origin.request_id).expect("ids are visible ASCII");
        request.extensions_mut().insert(origin.clone());
        RequestFuture {
            inner: origin::scope(origin.clone(), self.inner.call(request)),
            origin,
            id,
            start,
        }
    }
}

impl<S> RequestIds<S> {
    fn origin_of(&self, request: &Request) -> Origin {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
        let headers = request.headers();
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip());
        let trusted = peer.is_some_and(|peer| {
            let peer = super::client_addr::canonical(peer);
            self.layer.trusted.iter().any(|net| net.contains(&peer))
        });
        let request_id = trusted
            .then(|| headers.get(&X_REQUEST_ID).and_then(accepted_id))
            .flatten()
            .map_or_else(new_id, Arc::from);
        let client_addr = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| {
            client_addr(peer, headers, &self.layer.trusted, self.layer.header)
        });
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        Origin::new(
            request_id,
            method_label(request.method().as_str()),
            route,
            client_addr,
            user_agent,
        )
    }
}

/// A proxy's id, if it is one we can put in a header, a log line and a page as it is.
fn accepted_id(value: &HeaderValue) -> Option<&str> {
    let id = value.to_str().ok()?;
    let ok = !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@+=/".contains(&b));
    ok.then_some(id)
}

/// 128 random bits in hex, the form nginx's `$request_id` has.
fn new_id() -> Arc<str> {
    Arc::from(format!("{:032x}", rand::random::<u128>()))
}

pin_project_lite::pin_project! {
    pub struct RequestFuture<F> {
        #[pin]
        inner: TaskLocalFuture<Origin, F>,
        origin: Origin,
        id: HeaderValue,
        start: Instant,
    }
}

impl<F> Future for RequestFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        response
            .headers_mut()
            .insert(X_REQUEST_ID.clone(), this.id.clone());
        if tracing::enabled!(target: ACCESS_TARGET, tracing::Level::WARN) {
            let status = response.status().as_u16();
            let latency_ms = this.start.elapsed().as_secs_f64() * 1000.0;
            origin::sync_scope(this.origin.clone(), || {
                if response.status().is_server_error() {
                    tracing::warn!(target: ACCESS_TARGET, status, latency_ms, "request failed");
                } else {
                    tracing::info!(target: ACCESS_TARGET, status, latency_ms, "request answered");
                }
            });
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_a_proxy_are_taken_only_when_they_are_plain() {
        let ok = |s: &str| accepted_id(&HeaderValue::from_str(s).unwrap()).is_some();
        assert!(ok("0f8e2a9b6c5d4e3f2a1b0c9d8e7f6a5b"));
        assert!(ok("req-1.2:3@edge/4+5="));
        assert!(!ok(""));
        assert!(!ok("a b"));
        assert!(!ok("<script>"));
        assert!(!ok("x\"y"));
        assert!(!ok(&"a".repeat(MAX_ID + 1)));
        assert!(ok(&"a".repeat(MAX_ID)));
    }

    #[test]
    fn new_ids_are_32_hex_digits_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
