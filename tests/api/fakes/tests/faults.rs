//! Faults, and a fake going away and coming back, as a provisioning client sees them.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use super::mailcow::{alice, api, mailcow};
use super::nextcloud_ocs::{nextcloud, ocs};
use crate::fakes::Fault;

#[tokio::test]
async fn server_error_answers_500_to_everything_until_cleared() {
    let nc = nextcloud().await;
    let mc = mailcow().await;
    nc.set_fault(Fault::ServerError);
    mc.set_fault(Fault::ServerError);

    let nc_get = || ocs(&nc, Method::GET, 2, "/cloud/users/admin");
    let mc_add = || api(&mc, Method::POST, "add/mailbox").json(&alice());
    let logout = super::client().post(format!(
        "{}/index.php/apps/user_oidc/backchannel-logout/bheem",
        nc.url()
    ));
    for request in [nc_get(), mc_add(), logout] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert!(mc.mailboxes().is_empty());
    assert_eq!(mc.add_calls(), 1, "the failed attempt counts");

    nc.set_fault(Fault::None);
    mc.set_fault(Fault::None);
    assert_eq!(nc_get().send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(mc_add().send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(mc.mailboxes().len(), 1);
}

#[tokio::test]
async fn hang_outlasts_a_client_timeout_then_answers_normally() {
    let mc = mailcow().await;
    mc.set_fault(Fault::Hang(Duration::from_millis(600)));

    let hurried = api(&mc, Method::POST, "add/mailbox")
        .json(&alice())
        .timeout(Duration::from_millis(100));
    let error = hurried.send().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");

    let mut patient = alice();
    patient["local_part"] = "bob".into();
    let started = Instant::now();
    let response = api(&mc, Method::POST, "add/mailbox")
        .json(&patient)
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(response.status(), StatusCode::OK);
    assert!(mc.mailbox("bob@ex.org").is_some());
}

#[tokio::test]
async fn a_stopped_fake_refuses_connections_and_a_restarted_one_keeps_its_state() {
    let nc = nextcloud().await;
    let mc = mailcow().await;
    let url = (nc.url(), mc.url());
    api(&mc, Method::POST, "add/mailbox")
        .json(&alice())
        .send()
        .await
        .unwrap();

    nc.stop().await;
    mc.stop().await;
    let error = ocs(&nc, Method::GET, 2, "/cloud/users/admin")
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error}");
    let error = api(&mc, Method::GET, "get/mailbox/alice@ex.org")
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error}");

    nc.restart().await;
    mc.restart().await;
    assert_eq!((nc.url(), mc.url()), url, "same port");
    let response = ocs(&nc, Method::GET, 2, "/cloud/users/admin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mailbox: serde_json::Value = api(&mc, Method::GET, "get/mailbox/alice@ex.org")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mailbox["username"], "alice@ex.org");
    assert_eq!(mc.add_calls(), 1);
}

#[tokio::test]
async fn stopping_drops_a_request_in_flight() {
    let mc = mailcow().await;
    mc.set_fault(Fault::Hang(Duration::from_secs(30)));
    let in_flight = tokio::spawn(api(&mc, Method::POST, "add/mailbox").json(&alice()).send());
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    mc.stop().await;
    let outcome = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the client sees the connection drop, not a 30 s hang")
        .unwrap();

    assert!(outcome.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(mc.mailboxes().is_empty());
}

#[tokio::test]
async fn stopping_closes_kept_alive_connections() {
    let nc = nextcloud().await;
    let client = super::client();
    let get = || {
        client
            .get(format!(
                "{}/ocs/v2.php/cloud/users/admin?format=json",
                nc.url()
            ))
            .basic_auth("admin", Some("admin-secret"))
            .header("OCS-APIRequest", "true")
            .send()
    };
    assert_eq!(get().await.unwrap().status(), StatusCode::OK);

    nc.stop().await;
    assert!(
        get().await.is_err(),
        "the pooled connection must not answer"
    );

    nc.restart().await;
    assert_eq!(get().await.unwrap().status(), StatusCode::OK);
}
