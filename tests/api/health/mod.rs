//! `/health` while the database goes away and comes back. The app reaches PostgreSQL through a
//! TCP relay that the test can cut, as a network failure or a stopped server would.
//! `/health/live` and `/health/ready` are in `ready`.

mod ready;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::support::{postgres_admin_url, TestApp, TestDb};

/// Relays 127.0.0.1:<port> to the PostgreSQL server. While cut, it drops the open connections
/// and hangs up on new ones at once. The listener stays bound, so no other test can take the
/// port in between.
struct Relay {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<JoinSet<()>>>,
    _accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let accept = {
            let (up, connections) = (up.clone(), connections.clone());
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue; // dropped: the client sees the connection closed
                    }
                    let target = target.clone();
                    connections.lock().unwrap().spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            })
        };
        Self {
            addr,
            up,
            connections,
            _accept: accept,
        }
    }

    async fn cut(&mut self) {
        self.up.store(false, Ordering::SeqCst);
        self.connections.lock().unwrap().abort_all();
    }

    async fn restore(&mut self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn health_status(app: &TestApp) -> u16 {
    app.get("/health").await.status().as_u16()
}

async fn wait_for(app: &TestApp, status: u16) {
    for _ in 0..50 {
        if health_status(app).await == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("/health never answered {status}");
}

fn relayed(url: &str, relay: SocketAddr) -> String {
    let mut url = url::Url::parse(url).unwrap();
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(relay.port())).unwrap();
    url.to_string()
}

fn server_of(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
}

#[tokio::test]
async fn health_is_ok_with_the_database_up() {
    let h = TestApp::builder().start().await.unwrap();
    let response = h.app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["directory"]["kind"], "local");
}

#[tokio::test]
async fn health_is_503_while_postgres_is_unreachable_and_recovers_by_itself() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let mut relay = Relay::start(server_of(&postgres_admin_url())).await;
    let keys = tempfile::tempdir().unwrap();
    let app = TestApp::builder()
        .start_on(&relayed(&db.url, relay.addr), keys.path())
        .await;
    assert_eq!(health_status(&app).await, 200);

    relay.cut().await;
    wait_for(&app, 503).await;
    let body: serde_json::Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_ne!(body["database"], "ok");
    // Everything that does not need the database still answers.
    assert_eq!(
        app.get("/.well-known/openid-configuration").await.status(),
        200
    );

    relay.restore().await;
    wait_for(&app, 200).await;
    app.stop().await;
}

#[tokio::test]
async fn health_is_503_while_the_erp_directory_is_unreachable() {
    // The ERP has its users table: start-up refuses one without.
    let Some(erp) = crate::erp_checks::erp().await else {
        return;
    };
    let mut relay = Relay::start(server_of(&postgres_admin_url())).await;
    let h = TestApp::builder()
        .set("directory.url", relayed(&erp.url, relay.addr))
        .start()
        .await
        .unwrap();
    assert_eq!(health_status(&h.app).await, 200);
    relay.cut().await;
    wait_for(&h.app, 503).await;
    let body: serde_json::Value = h.app.get("/health").await.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["directory"]["kind"], "erp");
    relay.restore().await;
    wait_for(&h.app, 200).await;
}
