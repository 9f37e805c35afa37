//! Request bodies of the workspace APIs: parsed with the bad field named, limited to
//! `[workspace] max_body_bytes` (1 MiB by default, not the provider's 64 KiB), and every refusal
//! in the one error shape with the request id.

use serde_json::{json, Value};

use super::{refused, Workspace};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(
    a_bad_body_is_refused_naming_the_field_and_a_good_one_passes,
    bodies_up_to_the_default_limit_pass_and_larger_ones_get_413,
    the_configured_limit_applies_declared_or_streamed,
);

impl Workspace {
    async fn post_room(&self, token: &str, body: reqwest::Body, json: bool) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(self.probe.url("/api/v1/meet/probe"))
            .bearer_auth(token)
            .body(body);
        if json {
            request = request.header("content-type", "application/json");
        }
        request.send().await.unwrap()
    }
}

fn room_with(participants: usize) -> String {
    let participants: Vec<String> = (0..participants)
        .map(|i| format!("participant-{i:06}@acme.example"))
        .collect();
    json!({"name": "Weekly", "participants": participants}).to_string()
}

async fn a_bad_body_is_refused_naming_the_field_and_a_good_one_passes(backend: Backend) {
    let Some(ws) = Workspace::start(backend, |_| {}).await else {
        return;
    };
    let token = ws.spa_token().await;
    let good = ws
        .post_room(
            &token,
            r#"{"name": "Weekly", "duration_minutes": 30}"#.into(),
            true,
        )
        .await;
    assert_eq!(good.status(), 200);
    let good: Value = good.json().await.unwrap();
    assert_eq!(
        good,
        json!({"name": "Weekly", "duration_minutes": 30, "participants": 0})
    );

    for (body, field, words) in [
        (
            r#"{"duration_minutes": 30}"#,
            "name",
            "missing field `name`",
        ),
        (
            r#"{"name": 7}"#,
            "name",
            "invalid type: integer `7`, expected a string",
        ),
        (
            r#"{"name": "Weekly", "duration_minutes": "half an hour"}"#,
            "duration_minutes",
            "invalid type: string",
        ),
        (
            r#"{"name": "Weekly", "participants": ["bob@acme.example", 42]}"#,
            "participants[1]",
            "invalid type: integer `42`",
        ),
        (r#""Weekly""#, "body", "invalid type: string"),
    ] {
        let response = ws.post_room(&token, body.into(), true).await;
        let refusal = refused(response, 422, "invalid_field").await;
        assert_eq!(refusal["field"], field, "{body}");
        let description = refusal["error_description"].as_str().unwrap();
        assert!(description.starts_with(words), "{body}: {description}");
    }
    for (body, json) in [
        ("{\"name\": ", true),
        ("name=Weekly", true),
        (r#"{"name": "Weekly"} {}"#, true),
        (r#"{"name": "Weekly"}"#, false),
    ] {
        let refusal = refused(
            ws.post_room(&token, body.into(), json).await,
            400,
            "malformed_body",
        )
        .await;
        assert!(refusal.get("field").is_none(), "{refusal}");
    }
    // The token is checked before the body is read.
    refused(
        ws.post_room("not-a-token", "{".into(), true).await,
        401,
        "invalid_token",
    )
    .await;
    // A method the route does not take, in the same shape, with `Allow`.
    let put = reqwest::Client::new()
        .put(ws.probe.url("/api/v1/meet/probe"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let allow = put.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("POST"), "{allow}");
    refused(put, 405, "method_not_allowed").await;
}

async fn bodies_up_to_the_default_limit_pass_and_larger_ones_get_413(backend: Backend) {
    let Some(ws) = Workspace::start(backend, |_| {}).await else {
        return;
    };
    let token = ws.spa_token().await;
    // 100 KiB: more than the provider's own endpoints take, well within the workspace's 1 MiB.
    let body = room_with(3_200);
    assert!(body.len() > 100 * 1024 && body.len() < 1024 * 1024);
    let response = ws.post_room(&token, body.into(), true).await;
    assert_eq!(response.status(), 200);
    let body = room_with(32_000);
    assert!(body.len() > 1024 * 1024);
    let refusal = refused(
        ws.post_room(&token, body.into(), true).await,
        413,
        "body_too_large",
    )
    .await;
    assert_eq!(
        refusal["error_description"],
        "the request body is too large"
    );
}

async fn the_configured_limit_applies_declared_or_streamed(backend: Backend) {
    let Some(ws) = Workspace::start(backend, |config| {
        config.set("workspace.max_body_bytes", 4096);
    })
    .await
    else {
        return;
    };
    let token = ws.spa_token().await;
    let small = room_with(50);
    assert!(small.len() < 4096);
    assert_eq!(ws.post_room(&token, small.into(), true).await.status(), 200);
    let large = room_with(200);
    assert!(large.len() > 4096);
    // With Content-Length: refused before a byte of the body is read.
    refused(
        ws.post_room(&token, large.clone().into(), true).await,
        413,
        "body_too_large",
    )
    .await;
    // Chunked, without a length: refused once the limit is read past.
    let (status, body) = post_chunked(&ws, &token, large.as_bytes()).await;
    assert_eq!(status, 413);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "body_too_large");
}

/// A POST of `body` in chunks of 1000 bytes (`Transfer-Encoding: chunked`, no length declared),
/// written by hand on a connection of its own: the status and the body of the answer.
async fn post_chunked(ws: &Workspace, token: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let address = ws.probe.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/v1/meet/probe HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(1000) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        // The server may answer and close before the last chunk: it has read enough.
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let (headers, rest) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let body = if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (status, body)
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    body
}
