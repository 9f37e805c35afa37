//! Folders and files through the API, as they land on the WebDAV server's disk.

use serde_json::json;

use super::{DocsApp, FILES};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(a_users_files_are_listed_made_moved_copied_and_deleted);
on_both_backends!(uploads_and_downloads_keep_bytes_names_and_types);

async fn a_users_files_are_listed_made_moved_copied_and_deleted(backend: Backend) {
    let Some(d) = DocsApp::start(backend).await else {
        return;
    };
    let (status, root) = d.call(&d.alice, "GET", FILES, None).await;
    assert_eq!(status, 200, "{root:#}");
    assert_eq!(root["path"], "/");

    let (status, folder) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/folders",
            Some(json!({"name": "Reports"})),
        )
        .await;
    assert_eq!(status, 201, "{folder:#}");
    assert_eq!(folder["type"], "folder");
    assert_eq!(folder["path"], "/Reports");
    assert!(d.on_disk("alice", "/Reports").is_dir());
    let (status, again) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/folders",
            Some(json!({"name": "Reports"})),
        )
        .await;
    assert_eq!(status, 409, "{again:#}");
    let (status, nowhere) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/folders",
            Some(json!({"name": "x", "path": "/No such"})),
        )
        .await;
    assert_eq!(status, 422, "{nowhere:#}");
    assert_eq!(nowhere["field"], "path");
    let (status, nowhere) = d
        .upload(&d.alice, "/No such", "q0.txt", b"lost".to_vec(), false)
        .await;
    assert_eq!(status, 422, "{nowhere:#}");
    assert_eq!(nowhere["field"], "path");
    assert!(!d.on_disk("alice", "/No such").exists());

    let (status, q1) = d
        .upload(&d.alice, "/Reports", "q1.txt", b"first".to_vec(), false)
        .await;
    assert_eq!(status, 201, "{q1:#}");
    assert_eq!(q1["path"], "/Reports/q1.txt");
    assert_eq!(q1["size"], 5);
    let file_id = q1["file_id"].as_str().expect("a file id").to_owned();
    assert_eq!(
        std::fs::read(d.on_disk("alice", "/Reports/q1.txt")).unwrap(),
        b"first"
    );

    // The same name again: refused unless replacing, and a replaced file keeps its id.
    let (status, conflict) = d
        .upload(&d.alice, "/Reports", "q1.txt", b"second".to_vec(), false)
        .await;
    assert_eq!(status, 409, "{conflict:#}");
    assert_eq!(
        std::fs::read(d.on_disk("alice", "/Reports/q1.txt")).unwrap(),
        b"first"
    );
    let (status, replaced) = d
        .upload(&d.alice, "/Reports", "q1.txt", b"second!".to_vec(), true)
        .await;
    assert_eq!(status, 200, "{replaced:#}");
    assert_eq!(replaced["file_id"], file_id.as_str());
    assert_eq!(replaced["size"], 7);

    let (status, listing) = d
        .call(
            &d.alice,
            "GET",
            &format!("{FILES}?path=/Reports&type=file"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{listing:#}");
    let entries = listing["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{listing:#}");
    let entry = &entries[0];
    assert_eq!(entry["name"], "q1.txt");
    assert_eq!(entry["type"], "file");
    assert_eq!(entry["file_id"], file_id.as_str());
    assert!(entry["etag"].is_string());
    assert!(
        entry["modified"].as_str().unwrap().ends_with('Z'),
        "{entry:#}"
    );
    let (_, folders) = d
        .call(&d.alice, "GET", &format!("{FILES}?type=folder"), None)
        .await;
    assert_eq!(folders["entries"][0]["name"], "Reports", "{folders:#}");
    assert_eq!(folders["entries"][0]["size"], 7);

    // Moving: a missing target folder is named; the file id stays across the move.
    let (status, bad) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/move",
            Some(json!({"from": "/Reports/q1.txt", "to": "/Archive/q1.txt"})),
        )
        .await;
    assert_eq!(status, 422, "{bad:#}");
    assert_eq!(bad["field"], "to");
    d.call(
        &d.alice,
        "POST",
        "/api/v1/docs/folders",
        Some(json!({"name": "Archive"})),
    )
    .await;
    let (status, moved) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/move",
            Some(json!({"from": "/Reports/q1.txt", "to": "/Archive/2025 Q1.txt"})),
        )
        .await;
    assert_eq!(status, 200, "{moved:#}");
    assert_eq!(moved["path"], "/Archive/2025 Q1.txt");
    assert_eq!(moved["file_id"], file_id.as_str());
    assert!(!d.on_disk("alice", "/Reports/q1.txt").exists());

    // Copying gives a new file; onto an existing name only with overwrite.
    let (status, copy) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/copy",
            Some(json!({"from": "/Archive/2025 Q1.txt", "to": "/Reports/copy.txt"})),
        )
        .await;
    assert_eq!(status, 201, "{copy:#}");
    assert_ne!(copy["file_id"], file_id.as_str());
    let (status, _) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/copy",
            Some(json!({"from": "/Archive/2025 Q1.txt", "to": "/Reports/copy.txt"})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, into_itself) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/move",
            Some(json!({"from": "/Archive", "to": "/Archive/inner"})),
        )
        .await;
    assert_eq!(status, 422, "{into_itself:#}");

    // Deleting a folder takes what it holds; then it is gone.
    let (status, _) = d
        .call(&d.alice, "DELETE", &format!("{FILES}?path=/Reports"), None)
        .await;
    assert_eq!(status, 204);
    assert!(!d.on_disk("alice", "/Reports").exists());
    let (status, _) = d
        .call(&d.alice, "DELETE", &format!("{FILES}?path=/Reports"), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = d
        .call(&d.alice, "GET", &format!("{FILES}?path=/Reports"), None)
        .await;
    assert_eq!(status, 404);
    let (status, root_delete) = d
        .call(&d.alice, "DELETE", &format!("{FILES}?path=/"), None)
        .await;
    assert_eq!(status, 422, "{root_delete:#}");
}

async fn uploads_and_downloads_keep_bytes_names_and_types(backend: Backend) {
    let Some(d) = DocsApp::start(backend).await else {
        return;
    };
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (status, entry) = d
        .upload(&d.alice, "/", "Übersicht 2025.pdf", bytes.clone(), false)
        .await;
    assert_eq!(status, 201, "{entry:#}");
    assert_eq!(entry["name"], "Übersicht 2025.pdf");
    assert_eq!(entry["mime_type"], "application/pdf");
    let file_id = entry["file_id"].as_str().unwrap();

    let response = d
        .http()
        .get(d.sso.url(&format!("/api/v1/docs/download/{file_id}")))
        .bearer_auth(&d.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["content-length"], bytes.len().to_string().as_str());
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.contains("filename*=UTF-8''%C3%9Cbersicht%202025.pdf"),
        "{disposition}"
    );
    assert!(
        disposition.starts_with("attachment; filename=\"_bersicht 2025.pdf\""),
        "{disposition}"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // By path, and a range of it.
    let response = d
        .http()
        .get(
            d.sso
                .url("/api/v1/docs/download?path=/%C3%9Cbersicht%202025.pdf"),
        )
        .bearer_auth(&d.alice)
        .header("Range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.headers()["content-range"],
        format!("bytes 1000-1999/{}", bytes.len()).as_str()
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), &bytes[1000..2000]);

    let (status, folder) = d
        .call(&d.alice, "GET", "/api/v1/docs/download?path=/", None)
        .await;
    assert_eq!(status, 422, "{folder:#}");
    let (status, _) = d
        .call(&d.alice, "GET", "/api/v1/docs/download/999999999", None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = d
        .call(&d.alice, "GET", "/api/v1/docs/download/not-a-number", None)
        .await;
    assert_eq!(status, 404);
}
