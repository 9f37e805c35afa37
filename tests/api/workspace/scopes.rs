//! The area scopes: the workspace SPA's login carries all four; a relying party gets an area
//! only when it is allowed the scope and asks for it; a token without the area's scope is
//! refused with `insufficient_scope` naming it; an area that is not configured is not there.

use serde_json::Value;

use super::{challenge, meet_app_allowed_nothing, refused, with_meet, Workspace};
use crate::on_both_backends;
use crate::support::{
    add_user, jwt_payload, standard_clients, Backend, TestApp, ACME, PASSWORD, SECRET,
};

on_both_backends!(
    the_spa_login_carries_every_area_and_a_client_only_the_areas_it_is_allowed_and_asks_for,
    an_area_that_is_not_configured_answers_not_found_whatever_the_token,
    a_company_admin_is_told_by_the_configured_roles,
    a_refresh_does_not_renew_an_area_the_client_is_no_longer_allowed,
);

async fn the_spa_login_carries_every_area_and_a_client_only_the_areas_it_is_allowed_and_asks_for(
    backend: Backend,
) {
    let Some(ws) = Workspace::start(backend, |_| {}).await else {
        return;
    };
    let login = ws.login("alice@acme.example").await;
    assert_eq!(
        login["scope"],
        "calendar company docs email mail meet offline_access openid profile"
    );
    let token = login["access_token"].as_str().unwrap();
    assert_eq!(jwt_payload(token)["scope"], login["scope"]);
    let caller: Value = ws
        .get("/api/v1/meet/probe", Some(token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(caller["scope"], login["scope"]);
    // A refreshed token keeps them.
    let refreshed: Value = reqwest::Client::new()
        .post(ws.sso.url("/api/v1/auth/refresh"))
        .json(&serde_json::json!({"refresh_token": login["refresh_token"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    crate::support::remember_secret(refreshed["refresh_token"].as_str().unwrap());
    crate::support::remember_secret(refreshed["access_token"].as_str().unwrap());
    assert_eq!(refreshed["scope"], login["scope"]);
    assert_eq!(
        ws.meet_status(refreshed["access_token"].as_str().unwrap())
            .await,
        200
    );

    let sso = &ws.sso;
    let meet_app = sso.rp("meet-app", Some(SECRET));
    // Allowed `meet`, and asks for it: `scope=openid meet`.
    let asked = sso.sign_in(&sso.browser(), &meet_app, &["meet"]).await;
    assert_eq!(jwt_payload(&asked.access_token())["scope"], "meet openid");
    let caller: Value = ws
        .get("/api/v1/meet/probe", Some(&asked.access_token()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(caller["client_id"], "meet-app");
    assert_eq!(caller["user"], sso.alice.id.to_string());
    // Allowed `meet` only: `docs` asked for is dropped like any scope it may not have.
    let more = sso
        .sign_in(&sso.browser(), &meet_app, &["meet", "docs", "mail"])
        .await;
    assert_eq!(jwt_payload(&more.access_token())["scope"], "meet openid");
    // Allowed, but not asked for.
    let not_asked = sso.sign_in(&sso.browser(), &meet_app, &[]).await;
    let response = ws
        .get("/api/v1/meet/probe", Some(&not_asked.access_token()))
        .await;
    assert_eq!(
        challenge(&response),
        "Bearer realm=\"bheem-sso\", error=\"insufficient_scope\", \
         error_description=\"the access token lacks the scope of this API\", scope=\"meet\""
    );
    refused(response, 403, "insufficient_scope").await;
    // Asked for, but not allowed.
    let not_allowed = sso
        .sign_in(&sso.browser(), &sso.default_rp(), &["meet"])
        .await;
    assert_eq!(jwt_payload(&not_allowed.access_token())["scope"], "openid");
    let response = ws
        .get("/api/v1/meet/probe", Some(&not_allowed.access_token()))
        .await;
    assert!(challenge(&response).ends_with("scope=\"meet\""));
    refused(response, 403, "insufficient_scope").await;
}

async fn an_area_that_is_not_configured_answers_not_found_whatever_the_token(backend: Backend) {
    let Some(ws) = Workspace::start(backend, |_| {}).await else {
        return;
    };
    // Docs is not built yet, so never on: its scope in the token changes nothing.
    let token = ws.spa_token().await;
    refused(
        ws.get("/api/v1/docs/probe", Some(&token)).await,
        404,
        "not_found",
    )
    .await;
    refused(ws.get("/api/v1/docs/probe", None).await, 404, "not_found").await;

    // Without `[meet]`, Meet is off as well; the same token is good for the provider.
    let Some(sso) = crate::support::TestApp::builder()
        .backend(backend)
        .start_sso()
        .await
    else {
        return;
    };
    let probe = sso
        .h
        .app
        .serve_workspace_routes(super::probe_routes())
        .await;
    let off = Workspace { sso, probe };
    let spa = off.spa_token().await;
    assert_eq!(
        reqwest::Client::new()
            .get(off.sso.url("/api/v1/auth/me"))
            .bearer_auth(&spa)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let response = off.get("/api/v1/meet/probe", Some(&spa)).await;
    assert!(challenge(&response).is_empty());
    refused(response, 404, "not_found").await;
}

async fn a_company_admin_is_told_by_the_configured_roles(backend: Backend) {
    let Some(ws) = Workspace::start(backend, |config| {
        config.set("workspace.admin_roles", vec!["Owner", "admin"]);
    })
    .await
    else {
        return;
    };
    let state = &ws.sso.h.app.state;
    for (email, role, admin) in [
        ("root@acme.example", "ADMIN", true),
        ("boss@acme.example", " owner", true),
        ("clerk@acme.example", "administrator", false),
    ] {
        let user = add_user(&ws.sso.h.app, email, None, ACME, PASSWORD).await;
        sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role)
            .bind(user.id.to_string())
            .execute(state.db.pool())
            .await
            .unwrap();
        let token = ws.login(email).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let caller: Value = ws
            .get("/api/v1/meet/probe", Some(&token))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(caller["company_admin"], admin, "{role}");
    }
    let alice: Value = ws
        .get("/api/v1/meet/probe", Some(&ws.spa_token().await))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(alice["company_admin"], false);
}

async fn a_refresh_does_not_renew_an_area_the_client_is_no_longer_allowed(backend: Backend) {
    let Some(ws) = Workspace::start(backend, |_| {}).await else {
        return;
    };
    let sso = &ws.sso;
    let app = sso.rp("meet-app", Some(SECRET));
    let sign_in = sso
        .sign_in(&sso.browser(), &app, &["meet", "offline_access"])
        .await;
    let renewed = sign_in.refresh_token().unwrap();
    // The operator takes `meet` from the Meet app: another node with the new configuration, on
    // the same database and keys.
    let node = TestApp::builder()
        .backend(backend)
        .config(with_meet)
        .client(meet_app_allowed_nothing())
        .clients(standard_clients())
        .start_on(&sso.h.db.url, sso.h.keys.path())
        .await;
    let refreshed = reqwest::Client::new()
        .post(node.url("/api/v1/sso/token"))
        .basic_auth("meet-app", Some(SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &renewed)])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    let access = refreshed["access_token"].as_str().unwrap();
    crate::support::remember_secret(access);
    crate::support::remember_secret(refreshed["refresh_token"].as_str().unwrap());
    assert_eq!(refreshed["scope"], "offline_access openid");
    let probe = node.serve_workspace_routes(super::probe_routes()).await;
    let response = reqwest::Client::new()
        .get(probe.url("/api/v1/meet/probe"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    refused(response, 403, "insufficient_scope").await;
    // Asking for it back is widening the grant.
    let again = reqwest::Client::new()
        .post(node.url("/api/v1/sso/token"))
        .basic_auth("meet-app", Some(SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                refreshed["refresh_token"].as_str().unwrap(),
            ),
            ("scope", "openid meet"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["error"], "invalid_scope");
    node.stop().await;
}
