//! The HTTP plumbing every fake shares: a server on a fixed 127.0.0.1 port that can be stopped
//! (listener closed, open connections dropped) and started again on the same port, the fault
//! switch, and a log of the requests that reached it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Fault;

/// The fault a fake is in, shared between the fake's handle and its middleware.
#[derive(Clone, Default)]
pub(super) struct FaultSwitch(Arc<Mutex<Fault>>);

impl FaultSwitch {
    pub(super) fn set(&self, fault: Fault) {
        *self.0.lock().unwrap() = fault;
    }

    pub(super) fn get(&self) -> Fault {
        *self.0.lock().unwrap()
    }
}

/// Every request that reached a fake, as "METHOD /path", in order, whatever its answer.
#[derive(Clone, Default)]
pub(super) struct RequestLog(Arc<Mutex<Vec<String>>>);

impl RequestLog {
    pub(super) fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub(super) fn count(&self, method: &str, path_matches: impl Fn(&str) -> bool) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|entry| entry.split_once(' '))
            .filter(|(m, path)| *m == method && path_matches(path))
            .count()
    }
}

/// Wraps a fake's routes with the request log (outermost) and the fault switch.
pub(super) fn with_log_and_faults(app: Router, log: RequestLog, faults: FaultSwitch) -> Router {
    app.layer(middleware::from_fn_with_state(faults, apply_fault))
        .layer(middleware::from_fn_with_state(log, record_request))
}

async fn record_request(State(log): State<RequestLog>, request: Request, next: Next) -> Response {
    let entry = format!("{} {}", request.method(), request.uri().path());
    log.0.lock().unwrap().push(entry);
    next.run(request).await
}

async fn apply_fault(State(faults): State<FaultSwitch>, request: Request, next: Next) -> Response {
    match faults.get() {
        Fault::ServerError => {
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
        }
        Fault::Hang(delay) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        // Credentials are the service's own business: each fake checks this one itself.
        Fault::None | Fault::RejectCredentials => next.run(request).await,
    }
}

/// A server bound to one address for its whole life, so that a client configured with its URL
/// sees it go away and come back.
pub(super) struct FakeServer {
    addr: SocketAddr,
    app: Router,
    running: tokio::sync::Mutex<Option<Running>>,
    open_connections: Arc<AtomicUsize>,
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl FakeServer {
    pub(super) async fn start(app: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a fake to a free port on 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let server = Self {
            addr,
            app,
            running: tokio::sync::Mutex::new(None),
            open_connections: Arc::new(AtomicUsize::new(0)),
        };
        *server.running.lock().await = Some(server.serve(listener));
        server
    }

    pub(super) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the listener and drops every open connection, in-flight requests included, so
    /// that clients see the connection refused or reset. Returns once they are all gone.
    pub(super) async fn stop(&self) {
        let Some(running) = self.running.lock().await.take() else {
            return;
        };
        let _ = running.stop.send(true);
        running.task.abort();
        let _ = running.task.await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.open_connections.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Listens again on the same port, with the same state (stopping first if running).
    pub(super) async fn restart(&self) {
        self.stop().await;
        let listener = bind_again(self.addr).await;
        *self.running.lock().await = Some(self.serve(listener));
    }

    fn serve(&self, listener: TcpListener) -> Running {
        let (stop, stopped) = watch::channel(false);
        let listener = KillableListener {
            inner: listener,
            stopped,
            open_connections: self.open_connections.clone(),
        };
        let app = self.app.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Running { stop, task }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.get_mut().take() {
            let _ = running.stop.send(true);
            running.task.abort();
        }
    }
}

/// tokio sets SO_REUSEADDR on unix, so the port is free again at once; the retries cover the
/// moment it takes the aborted task to drop the old listener.
async fn bind_again(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(e) if Instant::now() >= deadline => panic!("binding {addr} again: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// A TCP listener whose connections all fail at once when the server stops. axum's own
/// shutdown is graceful (it finishes in-flight requests and keeps them answering), which is
/// the opposite of a service going down.
struct KillableListener {
    inner: TcpListener,
    stopped: watch::Receiver<bool>,
    open_connections: Arc<AtomicUsize>,
}

impl axum::serve::Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    let mut stopped = self.stopped.clone();
                    self.open_connections.fetch_add(1, Ordering::SeqCst);
                    let io = KillableStream {
                        inner: stream,
                        // An error means the server was dropped: stopped as well.
                        stopped: Box::pin(async move {
                            let _ = stopped.wait_for(|stopped| *stopped).await;
                        }),
                        killed: false,
                        open_connections: self.open_connections.clone(),
                    };
                    return (io, peer);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

struct KillableStream {
    inner: TcpStream,
    stopped: Pin<Box<dyn Future<Output = ()> + Send>>,
    killed: bool,
    open_connections: Arc<AtomicUsize>,
}

impl KillableStream {
    /// Polling the stop signal with the connection's waker wakes the connection when the
    /// server stops, even while it waits for the client or for a hanging handler.
    fn is_killed(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.killed && self.stopped.as_mut().poll(cx).is_ready() {
            self.killed = true;
        }
        self.killed
    }
}

fn killed() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "the fake was stopped")
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Drop for KillableStream {
    fn drop(&mut self) {
        self.open_connections.fetch_sub(1, Ordering::SeqCst);
    }
}
