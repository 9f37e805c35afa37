//! Prometheus metrics over HTTP: the layer that counts and times every request of the site,
//! and the listener of their own (`metrics_listen`) that serves them as `GET /metrics` and
//! nothing else. The metrics themselves are named in `crate::telemetry`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::oneshot;
use tower::{Layer, Service};

use super::AppState;
use crate::store::outbox::KINDS;
use crate::telemetry;

/// Where the scraper finds the metrics.
pub const METRICS_PATH: &str = "/metrics";

/// How often the recorder drops the histogram samples already rendered, between scrapes as
/// well, so they cannot pile up when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// What a scrape reads: the state whose gauges it sets, and the recorder it renders.
#[derive(Clone)]
struct Scrape {
    state: AppState,
    handle: PrometheusHandle,
}

/// The metrics listener's only route.
pub fn router(state: AppState, handle: PrometheusHandle) -> Router {
    Router::new()
        .route(METRICS_PATH, get(metrics))
        .with_state(Scrape { state, handle })
}

/// Sets the gauges from the state as it is now, then renders everything in the Prometheus
/// text format. The outbox is read from the database: if that fails, the rest is still served
/// (and the failure logged), so a database outage does not also blind the dashboard.
async fn metrics(State(scrape): State<Scrape>) -> Response {
    let state = &scrape.state;
    match state.db.outbox_load(state.clock.now()).await {
        Ok(load) => telemetry::set_outbox(&KINDS, &load.jobs, &load.oldest_due),
        Err(e) => tracing::warn!(
            error = format!("{e:#}"),
            "reading the outbox for the metrics failed"
        ),
    }
    telemetry::set_pool(state.db.pool_load());
    telemetry::set_hashing(state.logins.passwords.load());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        scrape.handle.render(),
    )
        .into_response()
}

/// The metrics listener, running until [`MetricsServer::stop`].
pub struct MetricsServer {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// Installs the recorder, binds `address` and serves the metrics there.
    pub async fn start(address: SocketAddr, state: AppState) -> anyhow::Result<Self> {
        let handle = telemetry::install().context("installing the metrics recorder")?;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("binding metrics_listen {address}"))?;
        tracing::info!(address = %listener.local_addr()?, "metrics listening");
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(state, handle.clone());
        let task = tokio::spawn(async move {
            let upkeep = async {
                let mut every = tokio::time::interval(UPKEEP_EVERY);
                loop {
                    every.tick().await;
                    handle.run_upkeep();
                }
            };
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            tokio::select! {
                served = serve => if let Err(e) = served {
                    tracing::error!(error = %e, "the metrics listener failed");
                },
                () = upkeep => {}
            }
        });
        Ok(Self { stop, task })
    }

    /// Stops listening and waits for a scrape in flight.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Counts and times each request of the site by its route template. Applied with
/// `Router::layer`, it runs once routing has matched (so the template is known) and outside the
/// other layers (so the status is the one sent, refusals included). Without a recorder it only
/// looks at one flag.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestMetricsLayer;

impl<S> Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestMetrics { inner }
    }
}

#[derive(Clone, Debug)]
pub struct RequestMetrics<S> {
    inner: S,
}

/// A request being timed.
struct Timed {
    route: Option<MatchedPath>,
    method: &'static str,
    started: Instant,
}

impl<S> Service<Request> for RequestMetrics<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = RequestMetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let timed = telemetry::enabled().then(|| Timed {
            route: request.extensions().get::<MatchedPath>().cloned(),
            method: telemetry::method_label(request.method().as_str()),
            started: Instant::now(),
        });
        RequestMetricsFuture {
            inner: self.inner.call(request),
            timed,
        }
    }
}

pin_project_lite::pin_project! {
    pub struct RequestMetricsFuture<F> {
        #[pin]
        inner: F,
        timed: Option<Timed>,
    }
}

impl<F> Future for RequestMetricsFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        if let Some(timed) = this.timed.take() {
            telemetry::http_request(
                timed.route.as_ref().map(MatchedPath::as_str),
                timed.method,
                response.status().as_u16(),
                timed.started.elapsed(),
            );
        }
        Poll::Ready(Ok(response))
    }
}
