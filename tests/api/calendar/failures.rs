//! Nextcloud's CalDAV down or hanging: a gateway error within the configured timeout, with the
//! service named, not a hang and not a 500.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{CalendarApp, EVENTS};
use crate::on_both_backends;
use crate::support::{Backend, CalDavOptions, CalDavServer};

on_both_backends!(caldav_down_is_502_and_hanging_is_504);

async fn caldav_down_is_502_and_hanging_is_504(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    // A CalDAV server that was there and is gone: connections are refused.
    let gone = CalDavServer::start(CalDavOptions {
        userinfo_url: c.sso.url(super::USERINFO),
        uid_claim: "preferred_username".into(),
    })
    .await
    .unwrap();
    let down = c.node(gone.url()).await;
    drop(gone);
    // One that takes connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_url = format!("http://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let hanging = c.node(&hanging_url).await;
    let new = json!({"title": "x", "start": "2025-12-02T10:00:00Z", "end": "2025-12-02T11:00:00Z"});
    for (node, status, error) in [
        (&down, 502, "bad_gateway"),
        (&hanging, 504, "gateway_timeout"),
    ] {
        for (method, path, body) in [
            ("GET", "/api/v1/calendar/calendars".to_owned(), None),
            (
                "GET",
                format!("{EVENTS}?start=2025-12-01&end=2025-12-31"),
                None,
            ),
            ("POST", EVENTS.to_owned(), Some(&new)),
        ] {
            let began = Instant::now();
            let (got, body) = c
                .call_on(&node.base, &c.alice, method, &path, body, &[])
                .await;
            assert_eq!(got, status, "{method} {path}: {body:#}");
            assert_eq!(body["error"], error);
            assert_eq!(body["service"], "nextcloud");
            // The timeout is 2 s; a loaded machine gets some more.
            assert!(began.elapsed() < Duration::from_secs(8), "{method} {path}");
        }
    }
    held.abort();
}
