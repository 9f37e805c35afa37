//! Nextcloud saying no, failing, hanging or gone: a clear answer each time, within the
//! configured timeout, and nothing changed.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{DocsApp, Setup, FILES};
use crate::fakes::Fault;
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(a_full_quota_and_a_locked_file_are_told_apart);
on_both_backends!(nextcloud_failing_hanging_or_down_is_a_gateway_error_not_a_hang);

async fn a_full_quota_and_a_locked_file_are_told_apart(backend: Backend) {
    let Some(d) = DocsApp::start_with(
        backend,
        Setup {
            quota_bytes: Some(100_000),
        },
        |_| {},
    )
    .await
    else {
        return;
    };
    let (status, small) = d
        .upload(&d.alice, "/", "small.txt", vec![b'a'; 60_000], false)
        .await;
    assert_eq!(status, 201, "{small:#}");
    let (status, full) = d
        .upload(&d.alice, "/", "big.bin", vec![b'b'; 80_000], false)
        .await;
    assert_eq!(status, 507, "{full:#}");
    assert_eq!(full["error"], "insufficient_storage");
    assert!(
        !d.on_disk("alice", "/big.bin").exists(),
        "a refused upload left a file"
    );
    let (status, copy) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/copy",
            Some(json!({"from": "/small.txt", "to": "/small copy.txt"})),
        )
        .await;
    assert_eq!(status, 507, "{copy:#}");
    assert!(!d.on_disk("alice", "/small copy.txt").exists());

    // A lock held by someone else's client: changing the file is refused with 423.
    let lock = d
        .http()
        .request(
            reqwest::Method::from_bytes(b"LOCK").unwrap(),
            format!("{}/remote.php/dav/files/alice/small.txt", d.nc.url()),
        )
        .bearer_auth(&d.alice)
        .header("Timeout", "Second-600")
        .header("Content-Type", "application/xml")
        .body(
            r#"<?xml version="1.0" encoding="utf-8"?>
<d:lockinfo xmlns:d="DAV:"><d:lockscope><d:exclusive/></d:lockscope>
<d:locktype><d:write/></d:locktype><d:owner>desktop client</d:owner></d:lockinfo>"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(lock.status(), 200, "{}", lock.text().await.unwrap());
    let (status, locked) = d
        .upload(&d.alice, "/", "small.txt", vec![b'c'; 10], true)
        .await;
    assert_eq!(status, 423, "{locked:#}");
    assert_eq!(locked["error"], "locked");
    let (status, locked) = d
        .call(
            &d.alice,
            "DELETE",
            &format!("{FILES}?path=/small.txt"),
            None,
        )
        .await;
    assert_eq!(status, 423, "{locked:#}");
    assert_eq!(
        std::fs::read(d.on_disk("alice", "/small.txt"))
            .unwrap()
            .len(),
        60_000
    );
}

async fn nextcloud_failing_hanging_or_down_is_a_gateway_error_not_a_hang(backend: Backend) {
    let Some(d) = DocsApp::start_with(backend, Setup::default(), |c| {
        c.set("docs.request_timeout_seconds", 2);
    })
    .await
    else {
        return;
    };
    let (status, _) = d
        .upload(&d.alice, "/", "keep.txt", b"keep".to_vec(), false)
        .await;
    assert_eq!(status, 201);

    d.nc.set_fault(Fault::ServerError);
    for (method, path, body) in [
        ("GET", FILES.to_owned(), None),
        (
            "GET",
            "/api/v1/docs/download?path=/keep.txt".to_owned(),
            None,
        ),
        (
            "POST",
            "/api/v1/docs/folders".to_owned(),
            Some(json!({"name": "x"})),
        ),
        ("GET", "/api/v1/docs/shares".to_owned(), None),
    ] {
        let (status, answer) = d.call(&d.alice, method, &path, body).await;
        assert_eq!(status, 502, "{method} {path}: {answer:#}");
        assert_eq!(answer["service"], "nextcloud");
    }
    let (status, _) = d
        .upload(&d.alice, "/", "new.txt", b"new".to_vec(), false)
        .await;
    assert_eq!(status, 502);

    // Hanging: answered with 504 once `request_timeout_seconds` (2 s) has passed, not later
    // than the bound below, which only keeps a broken build from hanging the suite.
    d.nc.set_fault(Fault::Hang(Duration::from_secs(600)));
    for (method, path) in [("GET", FILES), ("GET", "/api/v1/docs/download/1")] {
        let started = Instant::now();
        let (status, answer) = tokio::time::timeout(
            Duration::from_secs(60),
            d.call(&d.alice, method, path, None),
        )
        .await
        .expect("the API hung with Nextcloud");
        assert_eq!(status, 504, "{method} {path}: {answer:#}");
        assert_eq!(answer["error"], "gateway_timeout");
        assert!(started.elapsed() >= Duration::from_secs(2));
    }
    let upload = tokio::time::timeout(
        Duration::from_secs(60),
        d.upload(&d.alice, "/", "stuck.txt", vec![b's'; 1000], false),
    )
    .await
    .expect("the upload hung with Nextcloud");
    assert_eq!(upload.0, 504, "{:#}", upload.1);

    // Gone: the connection is refused at once.
    d.nc.set_fault(Fault::None);
    d.nc.stop().await;
    let (status, answer) = d.call(&d.alice, "GET", FILES, None).await;
    assert_eq!(status, 502, "{answer:#}");
    d.nc.restart().await;
    assert_eq!(
        std::fs::read(d.on_disk("alice", "/keep.txt")).unwrap(),
        b"keep"
    );
    assert!(!d.on_disk("alice", "/new.txt").exists());
    assert!(!d.on_disk("alice", "/stuck.txt").exists());
    let (status, _) = d.call(&d.alice, "GET", FILES, None).await;
    assert_eq!(status, 200);
}
