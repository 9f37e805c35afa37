//! Company isolation: a user of another company walks every Docs endpoint with Acme's file
//! ids, share ids and paths, and finds nothing, answered as for what does not exist.

use serde_json::json;

use super::{DocsApp, FILES};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(another_companys_files_and_shares_answer_as_missing_ones);
on_both_backends!(the_docs_api_needs_a_token_and_is_in_discovery);

async fn another_companys_files_and_shares_answer_as_missing_ones(backend: Backend) {
    let Some(d) = DocsApp::start(backend).await else {
        return;
    };
    let (_, entry) = d
        .upload(&d.alice, "/", "acme.txt", b"acme only".to_vec(), false)
        .await;
    let file_id = entry["file_id"].as_str().unwrap().to_owned();
    let (status, share) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/share-link",
            Some(json!({"file_path": "/acme.txt"})),
        )
        .await;
    assert_eq!(status, 201, "{share:#}");
    let share_id = share["id"].as_str().unwrap().to_owned();
    let shares_before = d.nc.shares().len();

    // Each request as Eve of Globex, for Acme's object and for one that does not exist.
    let requests = |file_id: &str, share_id: &str, path: &str| {
        vec![
            ("GET", format!("/api/v1/docs/download/{file_id}"), None),
            ("GET", format!("/api/v1/docs/download?path={path}"), None),
            ("GET", format!("{FILES}?path={path}"), None),
            ("DELETE", format!("{FILES}?path={path}"), None),
            ("DELETE", format!("/api/v1/docs/shares/{share_id}"), None),
            (
                "POST",
                "/api/v1/docs/move".into(),
                Some(json!({"from": path, "to": "/mine.txt"})),
            ),
            (
                "POST",
                "/api/v1/docs/copy".into(),
                Some(json!({"from": path, "to": "/mine.txt"})),
            ),
            (
                "POST",
                "/api/v1/docs/share-link".into(),
                Some(json!({"file_path": path})),
            ),
            (
                "POST",
                "/api/v1/docs/share".into(),
                Some(json!({"file_path": path, "share_with": "eve@globex.example"})),
            ),
        ]
    };
    for ((method, path, body), (_, missing_path, missing_body)) in
        requests(&file_id, &share_id, "/acme.txt")
            .into_iter()
            .zip(requests("987654321", "987654321", "/missing.txt"))
    {
        let (status, answer) = d.call(&d.eve, method, &path, body).await;
        let (missing_status, missing_answer) =
            d.call(&d.eve, method, &missing_path, missing_body).await;
        assert_eq!(status, missing_status, "{method} {path}: {answer:#}");
        assert!(
            matches!(status, 404 | 422),
            "{method} {path}: {status} {answer:#}"
        );
        assert_eq!(answer["error"], missing_answer["error"], "{method} {path}");
    }
    // Eve's listing is her own, and her own upload lands in her own tree.
    let (status, listing) = d.call(&d.eve, "GET", FILES, None).await;
    assert_eq!(status, 200);
    assert_eq!(listing["entries"], json!([]));
    let (status, _) = d
        .upload(&d.eve, "/", "acme.txt", b"globex".to_vec(), false)
        .await;
    assert_eq!(status, 201);
    let (_, shares) = d.call(&d.eve, "GET", "/api/v1/docs/shares", None).await;
    assert_eq!(shares["shares"], json!([]));

    // Nothing of Acme's changed.
    assert_eq!(
        std::fs::read(d.on_disk("alice", "/acme.txt")).unwrap(),
        b"acme only"
    );
    assert_eq!(
        std::fs::read(d.on_disk("eve", "/acme.txt")).unwrap(),
        b"globex"
    );
    assert_eq!(d.nc.shares().len(), shares_before);
}

async fn the_docs_api_needs_a_token_and_is_in_discovery(backend: Backend) {
    let Some(d) = DocsApp::start(backend).await else {
        return;
    };
    let (status, _) = d.call("not-a-token", "GET", FILES, None).await;
    assert_eq!(status, 401);
    // Discovery lists the scope while the section is there.
    let discovery: serde_json::Value = d
        .http()
        .get(d.sso.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(discovery["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("docs")));
}
