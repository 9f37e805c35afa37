//! Paths that could reach outside the user's own tree are refused before anything reaches
//! Nextcloud.

use serde_json::json;

use super::{DocsApp, FILES};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(traversal_attempts_are_refused_before_nextcloud_sees_them);

/// Each written as a client would send it in a query string (already percent-encoded where a
/// raw character would not survive the URL) and in a JSON body (raw).
const BAD: &[(&str, &str)] = &[
    ("..", ".."),
    ("%2F..%2Fbob", "/../bob"),
    ("/Reports/../../bob", "/Reports/../../bob"),
    ("/a/./b", "/a/./b"),
    ("/a%252Fb", "/a%2Fb"),
    ("/a%255Cb", "/a%5Cb"),
    ("/%252e%252e/bob", "/%2e%2e/bob"),
    ("/a%5Cb", "/a\\b"),
    ("/a%00b", "/a\u{0}b"),
    ("/a%0Ab", "/a\nb"),
    ("http%3A%2F%2Fevil.example%2Fx", "http://evil.example/x"),
    ("%2F%2Fevil.example%2Fx", "//evil.example/x"),
];

async fn traversal_attempts_are_refused_before_nextcloud_sees_them(backend: Backend) {
    let Some(d) = DocsApp::start(backend).await else {
        return;
    };
    // Bob's file, which a way out of Alice's tree would reach.
    let (status, _) = d
        .upload(&d.bob, "/", "secret.txt", b"bob's".to_vec(), false)
        .await;
    assert_eq!(status, 201);
    let before = d.nextcloud_requests();
    for (query, raw) in BAD {
        for (method, path, body) in [
            ("GET", format!("{FILES}?path={query}"), None),
            ("DELETE", format!("{FILES}?path={query}"), None),
            ("GET", format!("/api/v1/docs/download?path={query}"), None),
            ("GET", format!("/api/v1/docs/shares?path={query}"), None),
            (
                "POST",
                "/api/v1/docs/folders".into(),
                Some(json!({"name": "x", "path": raw})),
            ),
            (
                "POST",
                "/api/v1/docs/folders".into(),
                Some(json!({"name": raw})),
            ),
            (
                "POST",
                "/api/v1/docs/move".into(),
                Some(json!({"from": raw, "to": "/x"})),
            ),
            (
                "POST",
                "/api/v1/docs/move".into(),
                Some(json!({"from": "/x", "to": raw})),
            ),
            (
                "POST",
                "/api/v1/docs/copy".into(),
                Some(json!({"from": "/x", "to": raw})),
            ),
            (
                "POST",
                "/api/v1/docs/share".into(),
                Some(json!({"file_path": raw, "share_with": "bob@acme.example"})),
            ),
            (
                "POST",
                "/api/v1/docs/share-link".into(),
                Some(json!({"file_path": raw})),
            ),
        ] {
            let (status, answer) = d.call(&d.alice, method, &path, body.clone()).await;
            assert_eq!(status, 422, "{method} {path} {body:?}: {answer:#}");
            assert_eq!(answer["error"], "invalid_field", "{method} {path}");
        }
        let (status, answer) = d.upload(&d.alice, raw, "x.txt", b"x".to_vec(), false).await;
        assert_eq!(status, 422, "upload into {raw:?}: {answer:#}");
        let (status, answer) = d.upload(&d.alice, "/", raw, b"x".to_vec(), false).await;
        // A name multipart cannot even carry (a NUL, a line break) is a malformed body.
        assert!(
            matches!(status, 400 | 422),
            "upload named {raw:?}: {status} {answer:#}"
        );
    }
    assert_eq!(
        d.nextcloud_requests(),
        before,
        "a bad path reached Nextcloud"
    );
    assert_eq!(
        std::fs::read(d.on_disk("bob", "/secret.txt")).unwrap(),
        b"bob's"
    );
}
