//! Shares with users of the same company and public links, through Nextcloud's sharing API.

use serde_json::json;

use super::DocsApp;
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(files_are_shared_within_the_company_and_by_expiring_links);

async fn files_are_shared_within_the_company_and_by_expiring_links(backend: Backend) {
    let Some(d) = DocsApp::start(backend).await else {
        return;
    };
    let (status, _) = d
        .upload(&d.alice, "/", "plan.txt", b"plan".to_vec(), false)
        .await;
    assert_eq!(status, 201);
    d.call(
        &d.alice,
        "POST",
        "/api/v1/docs/folders",
        Some(json!({"name": "Team"})),
    )
    .await;

    let (status, share) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/share",
            Some(json!({"file_path": "/plan.txt", "share_with": "bob@acme.example"})),
        )
        .await;
    assert_eq!(status, 201, "{share:#}");
    assert_eq!(share["type"], "user");
    assert_eq!(share["share_with"], "bob");
    assert_eq!(share["permissions"], "read");
    assert_eq!(share["path"], "/plan.txt");
    let (status, team) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/share",
            Some(json!({"file_path": "/Team", "share_with": "bob", "permissions": "write"})),
        )
        .await;
    assert_eq!(status, 201, "{team:#}");
    assert_eq!(team["permissions"], "write");
    let at_nextcloud = d.nc.shares();
    assert!(
        at_nextcloud
            .iter()
            .any(|s| s.share_with.as_deref() == Some("bob") && s.permissions == 15),
        "a folder shared for writing has read, update, create and delete"
    );

    // Another company's user is no user at all here, and nothing is shared.
    let shares_before = d.nc.shares().len();
    for who in [
        "eve@globex.example",
        "eve",
        "nobody@acme.example",
        "alice@acme.example",
    ] {
        let (status, refused) = d
            .call(
                &d.alice,
                "POST",
                "/api/v1/docs/share",
                Some(json!({"file_path": "/plan.txt", "share_with": who})),
            )
            .await;
        assert_eq!(status, 422, "{who}: {refused:#}");
        assert_eq!(refused["field"], "share_with");
    }
    let (status, bad) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/share",
            Some(json!({"file_path": "/plan.txt", "share_with": "bob", "permissions": "all"})),
        )
        .await;
    assert_eq!(status, 422, "{bad:#}");
    let (status, _) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/share",
            Some(json!({"file_path": "/missing.txt", "share_with": "bob"})),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(d.nc.shares().len(), shares_before);

    // A link: read-only, ending on the day asked, with a password if given.
    let (status, link) = d
        .call(
            &d.alice,
            "POST",
            "/api/v1/docs/share-link",
            Some(json!({"file_path": "/plan.txt", "expires_days": 3, "password": "Corr3ct-Horse-Battery"})),
        )
        .await;
    assert_eq!(status, 201, "{link:#}");
    let token = link["token"].as_str().unwrap();
    assert!(
        link["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/s/{token}")),
        "{link:#}"
    );
    let expected = (time::OffsetDateTime::now_utc().date() + time::Duration::days(3)).to_string();
    assert_eq!(link["expires"], expected.as_str());
    assert_eq!(link["password_protected"], true);
    for days in [0, 366] {
        let (status, refused) = d
            .call(
                &d.alice,
                "POST",
                "/api/v1/docs/share-link",
                Some(json!({"file_path": "/plan.txt", "expires_days": days})),
            )
            .await;
        assert_eq!(status, 422, "{days}: {refused:#}");
        assert_eq!(refused["field"], "expires_days");
    }

    // Listed per path and in all, and ended.
    let (status, listed) = d
        .call(&d.alice, "GET", "/api/v1/docs/shares?path=/plan.txt", None)
        .await;
    assert_eq!(status, 200, "{listed:#}");
    let listed = listed["shares"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:#?}");
    let (_, all) = d.call(&d.alice, "GET", "/api/v1/docs/shares", None).await;
    assert_eq!(all["shares"].as_array().unwrap().len(), 3, "{all:#}");
    let id = share["id"].as_str().unwrap();
    let (status, _) = d
        .call(
            &d.alice,
            "DELETE",
            &format!("/api/v1/docs/shares/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = d
        .call(
            &d.alice,
            "DELETE",
            &format!("/api/v1/docs/shares/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (_, all) = d.call(&d.alice, "GET", "/api/v1/docs/shares", None).await;
    assert_eq!(all["shares"].as_array().unwrap().len(), 2, "{all:#}");
}
