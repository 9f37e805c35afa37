//! The composition root: builds the services and the state from the configuration, the router, the background tasks, and serving with graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::ConnectInfo;
use axum::http::header;
use axum::Router;
use bytes::Bytes;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::Layer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::timeout::TimeoutLayer;

use tower_sessions::cookie::SameSite;
use tower_sessions::SessionManagerLayer;

use crate::audit::Audit;
use crate::clock::Clock;
use crate::config::{
    ClientConfig, Config, EmailClaim, GrantType, TokenEndpointAuthMethod, AREA_SCOPES,
};
use crate::directory::{Directory, ErpDirectory, LocalDirectory};
use crate::http::metrics::{MetricsServer, RequestMetricsLayer};
use crate::http::refusals::RefusalsLayer;
use crate::http::request_id::RequestIdLayer;
use crate::http::session::ANONYMOUS_SESSION;
use crate::login::Logins;
use crate::login_limits::LoginLimiter;
use crate::oidc::client::{Client, Clients};
use crate::oidc::discovery::provider_metadata;
use crate::oidc::tokens::TokenIssuer;
use crate::password::Passwords;
use crate::provisioning::Provisioning;
use crate::store::http_sessions::DbSessionStore;
use crate::store::Db;

pub use crate::http::AppState;

pub mod signing_keys;

/// Connects the database, runs migrations, loads (or, on an empty database, creates) the signing
/// keys, and wires the services together.
pub async fn build_state(config: Config, clock: Clock) -> anyhow::Result<AppState> {
    let db = Db::connect(&config.database_url).await?;
    db.migrate()
        .await
        .with_context(|| format!("preparing the database {}", config.database_url.redacted()))?;
    let keys = signing_keys::open(&config, &db, clock.now())
        .await
        .context("loading the signing keys")?;
    let directory = match &config.directory {
        Some(erp) => {
            let erp = ErpDirectory::connect(erp)?;
            refuse_a_misconfigured_erp(&erp).await?;
            Arc::new(erp) as Arc<dyn Directory>
        }
        None => build_directory(&config, &db, &clock)?,
    };
    let passwords = Passwords::new(&config.password)?;
    let clients = Clients::from_config(&config.clients);
    let areas = crate::workspace::enabled_scopes(&config);
    let discovery_body =
        Bytes::from(provider_metadata(&config.issuer, &clients, &areas).to_string());
    let registered: Vec<_> = clients.iter().map(|c| c.registration()).collect();
    db.sync_clients(&registered, clock.now())
        .await
        .context("registering the configured clients")?;
    let first_party = Arc::new(first_party_client(&config));
    let limiter = Arc::new(LoginLimiter::new(&config.login_limits));
    let audit = Audit::start(db.clone(), clock.clone(), config.audit.retention_days);
    let config = Arc::new(config);
    let mut provisioning = Provisioning::new(
        config.clone(),
        db.clone(),
        directory.clone(),
        clock.clone(),
        keys.clone(),
        audit.clone(),
    );
    provisioning.calendar_meetings = crate::workspace::calendar::meetings::retries(&config)?;
    let tokens = TokenIssuer::new(
        config.clone(),
        clock.clone(),
        keys.clone(),
        db.clone(),
        directory.clone(),
        Arc::new(provisioning.clone()),
        audit.clone(),
    );
    let logins = Logins {
        config: config.clone(),
        db: db.clone(),
        directory: directory.clone(),
        clock: clock.clone(),
        passwords,
        limiter,
        provisioning: provisioning.clone(),
        audit: audit.clone(),
    };
    crate::workspace::check(&config).context("the workspace areas ([meet], [docs])")?;
    Ok(AppState {
        config,
        db,
        directory,
        clock,
        keys,
        clients,
        first_party,
        discovery_body,
        tokens,
        logins,
        provisioning,
        audit,
    })
}

/// An ERP that answers with a table unlike `[directory]` (a column or a grant missing) stops
/// start-up, naming the keys: every login would fail. An ERP that does not answer only warns, as
/// it always did: it may come back, and the pool reconnects by itself.
async fn refuse_a_misconfigured_erp(erp: &ErpDirectory) -> anyhow::Result<()> {
    match erp.schema_problems().await {
        Ok(problems) if problems.is_empty() => Ok(()),
        Ok(problems) => {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::bail!(
                "the ERP directory's table is not what [directory] says; every login would \
                 fail:\n{}",
                lines.join("\n")
            )
        }
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "the ERP directory does not answer; logins fail until it does"
            );
            Ok(())
        }
    }
}

/// Where users live: the ERP's table when `[directory]` is configured, else the provider's own.
pub fn build_directory(
    config: &Config,
    db: &Db,
    clock: &Clock,
) -> anyhow::Result<Arc<dyn Directory>> {
    Ok(match &config.directory {
        Some(erp) => Arc::new(ErpDirectory::connect(erp)?),
        None => Arc::new(LocalDirectory::new(db.clone(), clock.clone())),
    })
}

/// The workspace SPA's login (`/api/v1/auth/*`): a public client that takes passwords itself.
fn first_party_client(config: &Config) -> Client {
    Client::from_config(&ClientConfig {
        client_id: config.first_party_client_id.clone(),
        name: "Bheem Workspace".into(),
        client_secret: None,
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        backchannel_logout_uri: None,
        token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        grant_types: vec![GrantType::RefreshToken],
        skip_consent: true,
        require_pkce: true,
        refresh_without_offline_access: true,
        allowed_company_ids: Vec::new(),
        // Its login grants every area (`/api/v1/auth/login`); listed here too, so that the
        // client's own record says what its tokens may carry.
        allowed_scopes: AREA_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        extra_claims: Default::default(),
        role_claims: Default::default(),
        provision: Vec::new(),
        email_claim: EmailClaim::Directory,
    })
}

pub fn build_router(state: AppState) -> Router {
    build_router_with(state, Router::new())
}

/// [`build_router`] with `workspace` merged among the workspace APIs' routes, under their layers
/// (body limit, error shape): how a test mounts a handler of its own to drive the extractors
/// the areas share (`Caller<A>`, `ValidJson<T>`) as a real area would use them.
pub fn build_router_with(state: AppState, workspace: Router<AppState>) -> Router {
    let https = state.config.issuer.is_https();
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name(crate::http::session::cookie_name(https))
        .with_secure(https)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        // Short until a login: `BrowserSession::log_in` gives the session its full lifetime.
        .with_expiry(ANONYMOUS_SESSION);
    // The workspace APIs take Bearer tokens, never the SSO session cookie, and bodies up to
    // their own limit; the provider's endpoints take small forms only.
    let (timed, streaming) = crate::workspace::router(&state.config);
    let workspace =
        crate::workspace::with_shared_layers(timed.merge(workspace), &state.config.workspace);
    crate::http::router()
        .layer(sessions)
        .layer(RequestBodyLimitLayer::new(64 * 1024))
        .merge(workspace)
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        // Uploads take as long as the file takes to arrive; Docs watches Nextcloud instead.
        .merge(crate::workspace::with_streaming_layers(streaming))
        // Outside every layer that can refuse, so their refusals are rendered too.
        .layer(RefusalsLayer)
        // Outermost: the id, the span and the origin cover every layer that can answer.
        .layer(RequestIdLayer::new(
            &state.config.trusted_proxies,
            state.config.forwarded_header,
        ))
        .layer(SetSensitiveHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
            header::SET_COOKIE,
        ]))
        // Outermost: the status counted is the one sent, the time the whole of the request's.
        .layer(RequestMetricsLayer)
        .with_state(state)
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
///
/// hyper's own HTTP/1 connection rather than `axum::serve`, which offers no header read
/// timeout: without one a client that trickles its request head, or leaves a kept-alive
/// connection idle, holds the connection for as long as it likes. Like `axum::serve` (built
/// without HTTP/2), this speaks HTTP/1.1 only.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db = state.db.clone();
    let metrics = match state.config.metrics_listen {
        Some(address) => Some(MetricsServer::start(address, state.clone()).await?),
        None => None,
    };
    let audit = state.audit.clone();
    let maintenance = tokio::spawn(maintain(state.clone()));
    let key_refresher = tokio::spawn(signing_keys::run_refresher(state.clone()));
    let worker = tokio::spawn(crate::provisioning::run_worker(state.provisioning.clone()));
    let sweeper = tokio::spawn(crate::provisioning::run_sweeper(state.provisioning.clone()));
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper 1.x starts this timer when the connection opens and again each time it goes idle
    // after a response, so it bounds the wait for the next request on a kept-alive connection
    // as well as a slow head.
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(
            state.config.http.header_read_timeout_seconds,
        ))
        // Reads of at most 64 KiB (hyper's default grows to 400 KiB): a request head still
        // fits many times over, and a streamed upload passes in small pieces that the
        // allocator reuses instead of ever larger ones it keeps.
        .max_buf_size(64 * 1024);
    let app = build_router(state);
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // What `into_make_service_with_connect_info` does for each connection.
        let service =
            TowerToHyperService::new(axum::Extension(ConnectInfo(peer)).layer(app.clone()));
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // Idle connections close now; those with a request in flight once it is answered.
    connections.shutdown().await;
    // Scraped until the last request is answered, so the drain shows on the dashboard.
    if let Some(metrics) = metrics {
        metrics.stop().await;
    }
    maintenance.abort();
    key_refresher.abort();
    worker.abort();
    sweeper.abort();
    // What the last requests and jobs recorded is written before the database goes.
    audit.flush().await;
    db.close().await;
    Ok(())
}

/// As `axum::serve` does: a reset before accept is the client's business; anything else (out
/// of file descriptors) is logged, and the loop waits a second for connections to close.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Now and then: drop expired browser sessions, forget idle rate-limit keys, prune the audit
/// trail.
async fn maintain(state: AppState) {
    let mut every = tokio::time::interval(Duration::from_secs(300));
    loop {
        every.tick().await;
        state.logins.limiter.shrink();
        let store = DbSessionStore::new(state.db.clone());
        if let Err(e) = store.delete_expired().await {
            tracing::warn!(
                error = format!("{e:#}"),
                "removing expired browser sessions failed"
            );
        }
        match state.audit.prune().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "old audit events pruned"),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "pruning audit events failed"),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
///
/// The handlers are installed here, before the future is first polled: `serve` polls it only
/// once its accept loop runs, and a SIGTERM arriving before a handler is installed would kill
/// the process without the graceful shutdown.
pub fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt =
            signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let mut terminate =
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tracing::info!("shutting down");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
    }
}
