//! Connections that send too little: a request head trickled and abandoned, a kept-alive
//! connection left idle. Both are closed once `http.header_read_timeout_seconds` has passed.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Harness, TestApp};

const TIMEOUT: Duration = Duration::from_secs(1);

async fn app() -> Harness {
    TestApp::builder()
        .set("http.header_read_timeout_seconds", 1)
        .start()
        .await
        .expect("SQLite is always there")
}

/// Reads until the server closes the connection (or resets it); everything it sent first.
/// The bound is generous: only a connection left open for good fails it.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection was still open after 30 s");
    String::from_utf8_lossy(&received).into_owned()
}

fn address(h: &Harness) -> String {
    h.app.base.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn a_connection_that_stops_halfway_through_its_request_line_is_closed() {
    let h = app().await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(address(&h)).await.unwrap();
    stream
        .write_all(b"GET /.well-known/openid-configuration HT")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(started.elapsed() >= TIMEOUT, "closed before the timeout");
    assert!(!answer.contains("200 OK"), "{answer}");
    h.app.stop().await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_its_request() {
    let h = app().await;
    let mut stream = TcpStream::connect(address(&h)).await.unwrap();
    let request = format!(
        "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: {}\r\n\r\n",
        address(&h)
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut stream).await;
    // A normal request on the same server is answered as ever, and its connection kept alive
    // (no `Connection: close`) until it idles out.
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(answer.contains("\"issuer\""), "{answer}");
    assert!(started.elapsed() >= TIMEOUT, "closed before the timeout");
    h.app.stop().await;
}

#[tokio::test]
async fn a_connection_that_never_sends_a_byte_is_closed() {
    let h = app().await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(address(&h)).await.unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(started.elapsed() >= TIMEOUT, "closed before the timeout");
    assert_eq!(answer, "");
    // The server still serves.
    assert_eq!(
        h.app
            .get("/.well-known/openid-configuration")
            .await
            .status(),
        200
    );
    h.app.stop().await;
}
