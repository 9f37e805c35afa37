//! Two bheem-sso nodes on one PostgreSQL behind a load balancer without sticky sessions: any
//! node serves any request. (Each provisioning job running once across nodes is
//! `provisioning::failures::two_processes_on_one_postgres_do_each_job_once`.)

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{
    ClientId, ClientSecret, IssuerUrl, OAuth2TokenResponse, RedirectUrl, RefreshToken,
    TokenResponse as _,
};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{
    add_user, query, standard_clients, AuthRequest, Browser, Rp, TestApp, TestDb, ACME, CALLBACK,
    PASSWORD, SECRET,
};

/// A TCP load balancer that sends each new connection to the node chosen by `route`.
struct Balancer {
    route: Arc<AtomicUsize>,
}

struct Cluster {
    a: TestApp,
    b: TestApp,
    lb: Balancer,
    issuer: String,
    _keys: tempfile::TempDir,
    _db: TestDb,
}

impl Cluster {
    async fn start() -> Option<Self> {
        let db = TestDb::postgres().await?;
        let keys = tempfile::tempdir().unwrap();
        // The issuer is the balancer's address, so it is known before the nodes start.
        let placeholder = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let lb_addr = placeholder.local_addr().unwrap();
        drop(placeholder);
        let issuer = format!("http://{lb_addr}");
        let node = TestApp::builder()
            .set("issuer", issuer.as_str())
            .clients(standard_clients());
        let a = node.start_on(&db.url, keys.path()).await;
        let b = node.start_on(&db.url, keys.path()).await;
        let nodes = vec![addr_of(&a), addr_of(&b)];
        let lb = Balancer::start_at(lb_addr, nodes).await;
        add_user(&a, "alice@acme.example", Some("alice"), ACME, PASSWORD).await;
        Some(Self {
            a,
            b,
            lb,
            issuer,
            _keys: keys,
            _db: db,
        })
    }

    /// A browser whose every request is a new connection, so the balancer's route decides.
    fn browser(&self) -> Browser {
        let mut browser = Browser::new(&self.issuer);
        browser.http = reqwest::Client::builder()
            .cookie_store(true)
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        browser
    }

    async fn rp(&self, node: &TestApp) -> (Rp, openidconnect::reqwest::Client) {
        let http = openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        // Discovery through the balancer, then the token endpoint of one node in particular.
        let mut metadata = CoreProviderMetadata::discover_async(
            IssuerUrl::new(self.issuer.clone()).unwrap(),
            &http,
        )
        .await
        .unwrap();
        metadata = metadata.set_token_endpoint(Some(
            openidconnect::TokenUrl::new(node.url("/api/v1/sso/token")).unwrap(),
        ));
        let rp = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new("rp".into()),
            Some(ClientSecret::new(SECRET.into())),
        )
        .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());
        (rp, http)
    }
}

fn addr_of(app: &TestApp) -> SocketAddr {
    app.base.trim_start_matches("http://").parse().unwrap()
}

impl Balancer {
    async fn start_at(addr: SocketAddr, nodes: Vec<SocketAddr>) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let route = Arc::new(AtomicUsize::new(0));
        let chosen = route.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let node = nodes[chosen.load(Ordering::SeqCst) % nodes.len()];
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(node).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { route }
    }

    /// Sends new connections to node `node` (0 or 1).
    fn to(&self, node: usize) {
        self.route.store(node, Ordering::SeqCst);
    }
}

/// Logs in on node A through the balancer; returns the code's callback.
async fn code_from_node_a(
    c: &Cluster,
    browser: &Browser,
    rp: &Rp,
    scopes: &[&str],
) -> (AuthRequest, String) {
    c.lb.to(0);
    let request = AuthRequest::new(rp, scopes);
    let landing = browser.visit(request.url.as_str()).await;
    let callback = browser
        .submit_login(landing.page(), "alice", PASSWORD)
        .await
        .callback();
    let code = request.code_from(&callback);
    (request, code)
}

#[tokio::test]
async fn two_nodes_share_codes_refresh_families_sessions_and_keys() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let browser = c.browser();
    let (rp_b, http) = c.rp(&c.b).await;

    // A code issued by node A is redeemed at node B.
    let (request, code) = code_from_node_a(&c, &browser, &rp_b, &["offline_access"]).await;
    let mut exchange = rp_b
        .exchange_code(openidconnect::AuthorizationCode::new(code))
        .unwrap();
    exchange = exchange.set_pkce_verifier(openidconnect::PkceCodeVerifier::new(
        request.verifier_secret().unwrap(),
    ));
    let tokens = exchange
        .request_async(&http)
        .await
        .expect("node B redeems node A's code");
    tokens
        .id_token()
        .unwrap()
        .claims(&rp_b.id_token_verifier(), &request.nonce)
        .expect("ID token verifies");

    // A refresh at node A, then the old token again at node B: reuse is seen, the family dies.
    let (rp_a, _) = c.rp(&c.a).await;
    let old = tokens.refresh_token().unwrap().clone();
    let rotated = rp_a
        .exchange_refresh_token(&old)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh at A");
    let reuse = rp_b
        .exchange_refresh_token(&old)
        .unwrap()
        .request_async(&http)
        .await;
    assert!(reuse.is_err(), "reuse at B must be refused");
    let newest = RefreshToken::new(rotated.refresh_token().unwrap().secret().clone());
    assert!(
        rp_a.exchange_refresh_token(&newest)
            .unwrap()
            .request_async(&http)
            .await
            .is_err(),
        "family revoked everywhere"
    );

    // Single sign-on across nodes: the session made on A lets B answer prompt=none.
    c.lb.to(1);
    let silent = AuthRequest::build(&rp_b, &[], true, &[("prompt", "none")]);
    assert!(query(&browser.visit(silent.url.as_str()).await.callback()).contains_key("code"));

    // Logout at node B ends the session for node A too.
    browser
        .confirm_logout(
            browser
                .visit(&format!("{}/api/v1/sso/logout", c.issuer))
                .await
                .page(),
        )
        .await;
    c.lb.to(0);
    let after = AuthRequest::build(&rp_b, &[], true, &[("prompt", "none")]);
    assert_eq!(
        query(&browser.visit(after.url.as_str()).await.callback())["error"],
        "login_required"
    );

    // A key rotated (at once) through one node is served by both after B's reload (SIGHUP; the
    // periodic refresh is `keys::nodes`).
    let new_kid = c.a.rotate_keys(true).await;
    c.b.reload_keys().await;
    for node in [&c.a, &c.b] {
        let jwks: serde_json::Value = node.get("/api/v1/sso/jwks").await.json().await.unwrap();
        assert_eq!(jwks["keys"][0]["kid"], new_kid.as_str());
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    }
    // And a token signed by A after the rotation is accepted by B.
    let (request, code) = code_from_node_a(&c, &c.browser(), &rp_b, &[]).await;
    let mut exchange = rp_a
        .exchange_code(openidconnect::AuthorizationCode::new(code))
        .unwrap();
    exchange = exchange.set_pkce_verifier(openidconnect::PkceCodeVerifier::new(
        request.verifier_secret().unwrap(),
    ));
    let tokens = exchange.request_async(&http).await.unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(tokens.access_token().secret())
            .unwrap()
            .kid
            .as_deref(),
        Some(new_kid.as_str())
    );
    let at_b = reqwest::Client::new()
        .get(c.b.url("/api/v1/sso/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(at_b.status(), 200);
}
