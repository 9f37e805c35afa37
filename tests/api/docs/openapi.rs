//! The OpenAPI document describes every Docs endpoint while Docs is on, the upload (routed
//! outside the site's request timeout) included.

use serde_json::Value;

use super::DocsApp;
use crate::support::Backend;

const ENDPOINTS: [(&str, &str); 12] = [
    ("/api/v1/docs/files", "get"),
    ("/api/v1/docs/files", "delete"),
    ("/api/v1/docs/folders", "post"),
    ("/api/v1/docs/move", "post"),
    ("/api/v1/docs/copy", "post"),
    ("/api/v1/docs/upload", "post"),
    ("/api/v1/docs/download/{file_id}", "get"),
    ("/api/v1/docs/download", "get"),
    ("/api/v1/docs/share", "post"),
    ("/api/v1/docs/share-link", "post"),
    ("/api/v1/docs/shares", "get"),
    ("/api/v1/docs/shares/{share_id}", "delete"),
];

#[tokio::test]
async fn every_docs_endpoint_is_in_the_openapi_document() {
    let Some(d) = DocsApp::start(Backend::Sqlite).await else {
        return;
    };
    let doc: Value = reqwest::get(d.sso.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method) in ENDPOINTS {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert_eq!(
            operation["security"][0]["bearer"][0], "docs",
            "{method} {path}"
        );
    }
    assert!(
        doc["paths"]["/api/v1/docs/upload"]["post"]["requestBody"]["content"]
            ["multipart/form-data"]
            .is_object()
    );
    for schema in ["Entry", "Listing", "Share", "Link", "ShareList"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}
