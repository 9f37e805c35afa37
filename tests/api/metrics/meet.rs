//! Meet's calls to LiveKit are deliveries to `livekit`, and its routes are counted by their
//! pattern, not by room id.

use serde_json::{json, Value};

use super::server::{free_port, scrape, value, Server, ALICE, PASSWORD};
use crate::fakes::livekit::FakeLiveKit;
use crate::support::{remember_secret, Backend, TestConfig};

const KEY: &str = "APImetricsTest";
const SECRET: &str = "metrics-livekit-secret-0123456789";

#[tokio::test]
async fn livekit_calls_are_deliveries_and_meet_routes_are_counted_by_pattern() {
    remember_secret(SECRET);
    let livekit = FakeLiveKit::start(KEY, SECRET).await;
    let metrics_port = free_port();
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    let mut config = TestConfig::default();
    config
        .set("metrics_listen", format!("127.0.0.1:{metrics_port}"))
        .set("meet.livekit_url", livekit.url())
        .set("meet.ws_url", "wss://livekit.acme.example")
        .set("meet.api_key", KEY)
        .set("meet.api_secret", SECRET)
        .set("meet.join_url_base", "https://meet.acme.example/join/")
        .set("meet.request_timeout_seconds", 2);
    let Some(server) = Server::start(Backend::Sqlite, config).await else {
        return;
    };
    let http = reqwest::Client::new();
    let login: Value = http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": ALICE, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    remember_secret(&token);
    remember_secret(login["refresh_token"].as_str().unwrap());
    let call = |method: reqwest::Method, path: String| {
        http.request(method, server.url(&path))
            .bearer_auth(&token)
            .json(&json!({"name": "Counted"}))
            .send()
    };
    let made: Value = call(reqwest::Method::POST, "/api/v1/meet/rooms".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    remember_secret(made["host_token"].as_str().unwrap());
    let room = made["room_id"].as_str().unwrap();
    let path = format!("/api/v1/meet/rooms/{room}");
    // LiveKit down: a retry; back: done.
    livekit.stop().await;
    let down = call(reqwest::Method::DELETE, path.clone()).await.unwrap();
    assert_eq!(down.status(), 503);
    livekit.restart().await;
    let ended = call(reqwest::Method::DELETE, path).await.unwrap();
    assert_eq!(ended.status(), 200);

    let text = scrape(&metrics).await;
    let expect = |name: &str, labels: &[(&str, &str)], wanted: f64| {
        assert_eq!(
            value(&text, name, labels),
            Some(wanted),
            "{name}{labels:?} in:\n{text}"
        );
    };
    let deliveries = "bheem_sso_deliveries_total";
    expect(
        deliveries,
        &[("target", "livekit"), ("outcome", "retry")],
        1.0,
    );
    // Nobody had joined: LiveKit has no such room, which it says (not_found): an answer, and a
    // room ended already.
    expect(
        deliveries,
        &[("target", "livekit"), ("outcome", "done")],
        1.0,
    );
    assert_eq!(
        value(
            &text,
            deliveries,
            &[("target", "livekit"), ("outcome", "fail")]
        ),
        None
    );
    let requests = "bheem_sso_http_requests_total";
    let route = "/api/v1/meet/rooms/{room_id}";
    expect(
        requests,
        &[("route", route), ("method", "DELETE"), ("status", "503")],
        1.0,
    );
    expect(
        requests,
        &[("route", route), ("method", "DELETE"), ("status", "200")],
        1.0,
    );
    assert!(!text.contains(room), "a room id in the metrics:\n{text}");
}
