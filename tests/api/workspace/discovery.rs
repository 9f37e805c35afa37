//! What the provider tells about the workspace APIs: the area scopes in discovery (only the
//! areas configured), and the OpenAPI document generated from the code.

use serde_json::Value;

use super::with_meet;
use crate::on_both_backends;
use crate::support::{Backend, TestApp};

on_both_backends!(
    discovery_lists_an_area_scope_only_when_the_area_is_configured,
    the_openapi_document_describes_the_routes_the_scopes_and_the_error_shape,
);

async fn scopes_supported(app: &TestApp) -> Vec<String> {
    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    discovery["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

async fn discovery_lists_an_area_scope_only_when_the_area_is_configured(backend: Backend) {
    let Some(without) = TestApp::builder().backend(backend).start().await else {
        return;
    };
    let scopes = scopes_supported(&without.app).await;
    assert!(scopes.contains(&"openid".to_owned()));
    for area in ["meet", "docs", "calendar", "mail"] {
        assert!(!scopes.contains(&area.to_owned()), "{area} in {scopes:?}");
    }
    let Some(with) = TestApp::builder()
        .backend(backend)
        .config(with_meet)
        .start()
        .await
    else {
        return;
    };
    let scopes = scopes_supported(&with.app).await;
    assert!(scopes.contains(&"meet".to_owned()), "{scopes:?}");
    // Docs, calendar and mail have no API yet, so no scope to ask for.
    for area in ["docs", "calendar", "mail"] {
        assert!(!scopes.contains(&area.to_owned()), "{area} in {scopes:?}");
    }
}

async fn the_openapi_document_describes_the_routes_the_scopes_and_the_error_shape(
    backend: Backend,
) {
    let Some(h) = TestApp::builder()
        .backend(backend)
        .config(with_meet)
        .start()
        .await
    else {
        return;
    };
    let response = h.app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    assert_eq!(doc["info"]["title"], "Bheem Workspace APIs");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/v1/openapi.json"), "{paths:?}");
    assert!(paths["/api/v1/openapi.json"]["get"]["responses"]["200"].is_object());
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["bearer"]["bearerFormat"], "JWT");
    let flow = &schemes["oauth2"]["flows"]["authorizationCode"];
    assert_eq!(flow["authorizationUrl"], h.app.url("/api/v1/sso/authorize"));
    assert_eq!(flow["tokenUrl"], h.app.url("/api/v1/sso/token"));
    for area in ["meet", "docs", "calendar", "mail"] {
        assert!(flow["scopes"][area].is_string(), "{area}: {flow}");
    }
    let error = &doc["components"]["schemas"]["ApiErrorBody"];
    let required: Vec<&str> = error["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in ["error", "error_description"] {
        assert!(required.contains(&field), "{error}");
    }
    for field in ["request_id", "field", "service"] {
        assert!(error["properties"][field].is_object(), "{field}: {error}");
    }
}
