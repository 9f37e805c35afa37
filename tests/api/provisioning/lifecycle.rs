//! The downstream accounts follow the user: made at the first login, once, and disabled when
//! the directory disables the user, at the next login attempt or by the sweep.

use std::time::Duration;

use super::{eventually, jobs, Downstream};
use crate::on_both_backends;
use crate::support::{Backend, TestApp, ACME, PASSWORD};

on_both_backends!(
    first_login_creates_the_nextcloud_user_and_the_mailbox_once,
    a_user_disabled_in_the_directory_loses_the_downstream_accounts_at_the_next_login_attempt,
    the_sweep_finds_disabled_users_without_a_login,
);

async fn first_login_creates_the_nextcloud_user_and_the_mailbox_once(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .start_sso()
        .await
    else {
        return;
    };
    sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    eventually("alice provisioned", || {
        down.provisioned("alice", "alice@acme.example")
    })
    .await;
    let user = down.nc.users()["alice"].clone();
    assert_eq!(user.display_name, "Name of alice@acme.example");
    assert_eq!(user.email.as_deref(), Some("alice@acme.example"));
    assert_eq!(user.quota, "5 GB");
    assert_eq!(
        user.groups,
        [
            format!("company-{ACME}"),
            format!("company-{ACME}-employee")
        ]
    );
    let mailbox = down.mc.mailboxes()["alice@acme.example"].clone();
    assert_eq!(mailbox.authsource, "generic-oidc");
    assert_eq!(mailbox.quota_mib, 2048);
    assert!(mailbox.active);
    // Later logins, through any client or the API, create nothing more.
    sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    let api = reqwest::Client::new()
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!((down.nc.create_calls(), down.mc.add_calls()), (1, 1));
    let jobs = jobs(&sso).await;
    assert_eq!(jobs.len(), 2);
    assert!(
        jobs.iter().all(|j| j.state == "done" && j.attempts == 1),
        "{jobs:?}"
    );
}

async fn a_user_disabled_in_the_directory_loses_the_downstream_accounts_at_the_next_login_attempt(
    backend: Backend,
) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .start_sso()
        .await
    else {
        return;
    };
    sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    eventually("alice provisioned", || {
        down.provisioned("alice", "alice@acme.example")
    })
    .await;
    let state = &sso.h.app.state;
    state
        .db
        .set_user_active(&sso.alice.id.to_string(), false, state.clock.now())
        .await
        .unwrap();
    let refused = reqwest::Client::new()
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    eventually("Nextcloud user disabled", || {
        !down.nc.users()["alice"].enabled
    })
    .await;
    eventually("mailbox inactive", || {
        !down.mc.mailboxes()["alice@acme.example"].active
    })
    .await;
}

async fn the_sweep_finds_disabled_users_without_a_login(backend: Backend) {
    let down = Downstream::start().await;
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| down.configure(c))
        .set("provisioning.sweep_interval_seconds", 1)
        .start_sso()
        .await
    else {
        return;
    };
    sso.sign_in(&sso.browser(), &sso.default_rp(), &[]).await;
    eventually("alice provisioned", || {
        down.provisioned("alice", "alice@acme.example")
    })
    .await;
    let state = &sso.h.app.state;
    state
        .db
        .set_user_active(&sso.alice.id.to_string(), false, state.clock.now())
        .await
        .unwrap();
    eventually("Nextcloud user disabled", || {
        !down.nc.users()["alice"].enabled
    })
    .await;
    eventually("mailbox inactive", || {
        !down.mc.mailboxes()["alice@acme.example"].active
    })
    .await;
}
