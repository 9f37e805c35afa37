//! The fake Nextcloud's OCS provisioning API against what Nextcloud answers.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use super::client;
use crate::fakes::nextcloud::{FakeNextcloud, NcUser};
use crate::fakes::Fault;

pub(super) const ADMIN: &str = "admin";
pub(super) const PASSWORD: &str = "admin-secret";

pub(super) async fn nextcloud() -> FakeNextcloud {
    FakeNextcloud::start(ADMIN, PASSWORD).await
}

/// An OCS call as a provisioning client makes it: admin Basic auth, `OCS-APIRequest: true`,
/// `format=json`.
pub(super) fn ocs(nc: &FakeNextcloud, method: Method, version: u8, path: &str) -> RequestBuilder {
    client()
        .request(method, format!("{}/ocs/v{version}.php{path}", nc.url()))
        .basic_auth(ADMIN, Some(PASSWORD))
        .header("OCS-APIRequest", "true")
        .query(&[("format", "json")])
}

pub(super) async fn status_and_json(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn meta(body: &Value) -> (&str, u64, &str) {
    let meta = &body["ocs"]["meta"];
    (
        meta["status"].as_str().unwrap(),
        meta["statuscode"].as_u64().unwrap(),
        meta["message"].as_str().unwrap(),
    )
}

fn create_alice(nc: &FakeNextcloud, version: u8) -> RequestBuilder {
    ocs(nc, Method::POST, version, "/cloud/users").form(&[
        ("userid", "alice"),
        ("password", "correct horse battery"),
        ("displayName", "Alice Liddell"),
        ("email", "alice@ex.org"),
    ])
}

#[tokio::test]
async fn creating_a_user_answers_ok_with_its_id_and_stores_every_field() {
    let nc = nextcloud().await;
    nc.add_group("staff");
    nc.add_group("dev");

    let request = ocs(&nc, Method::POST, 2, "/cloud/users").form(&[
        ("userid", "alice"),
        ("password", "correct horse battery"),
        ("displayName", "Alice Liddell"),
        ("email", "alice@ex.org"),
        ("quota", "5GB"),
        ("language", "de"),
        ("groups[]", "staff"),
        ("groups[]", "dev"),
    ]);
    let (status, body) = status_and_json(request).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"ocs":{"meta":{"status":"ok","statuscode":200,"message":"OK"},"data":{"id":"alice"}}})
    );
    let alice = nc.user("alice").unwrap();
    assert_eq!(alice.display_name, "Alice Liddell");
    assert_eq!(alice.email.as_deref(), Some("alice@ex.org"));
    assert_eq!(
        alice.quota, "5 GB",
        "Nextcloud rewrites the quota it is sent"
    );
    assert_eq!(alice.groups, ["staff", "dev"]);
    assert!(alice.enabled);
    assert_eq!(alice.language, "de");
    assert_eq!(alice.password.as_deref(), Some("correct horse battery"));
    assert_eq!(alice.backend, "Database");
    assert_eq!(nc.create_calls(), 1);
}

#[tokio::test]
async fn an_existing_user_is_http_400_with_statuscode_102_and_every_attempt_is_counted() {
    let nc = nextcloud().await;
    status_and_json(create_alice(&nc, 2)).await;

    let (status, body) = status_and_json(create_alice(&nc, 2)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(meta(&body), ("failure", 102, "User already exists"));
    assert_eq!(body["ocs"]["data"], json!([]));

    // User ids compare case-insensitively.
    let shouting = ocs(&nc, Method::POST, 2, "/cloud/users")
        .form(&[("userid", "ALICE"), ("password", "correct horse battery")]);
    assert_eq!(meta(&status_and_json(shouting).await.1).1, 102);

    assert_eq!(nc.create_calls(), 3);
    assert_eq!(nc.users().len(), 2, "the admin and alice");
}

#[tokio::test]
async fn v1_answers_http_200_with_statuscode_100_or_the_failure_code() {
    let nc = nextcloud().await;

    let (status, body) = status_and_json(create_alice(&nc, 1)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(meta(&body), ("ok", 100, "OK"));
    assert_eq!(body["ocs"]["data"]["id"], "alice");

    let (status, body) = status_and_json(create_alice(&nc, 1)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(meta(&body), ("failure", 102, "User already exists"));

    let (status, body) = status_and_json(ocs(&nc, Method::GET, 1, "/cloud/users/nobody")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(meta(&body), ("failure", 404, "User does not exist"));
}

#[tokio::test]
async fn an_unknown_group_fails_with_104_and_creates_nobody() {
    let nc = nextcloud().await;
    let request = ocs(&nc, Method::POST, 2, "/cloud/users").form(&[
        ("userid", "alice"),
        ("password", "correct horse battery"),
        ("groups[]", "nope"),
    ]);

    let (status, body) = status_and_json(request).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(meta(&body), ("failure", 104, "group nope does not exist"));
    assert!(nc.user("alice").is_none());
}

#[tokio::test]
async fn groups_sent_without_brackets_are_a_php_type_error() {
    let nc = nextcloud().await;
    nc.add_group("staff");
    let request = ocs(&nc, Method::POST, 2, "/cloud/users").form(&[
        ("userid", "alice"),
        ("password", "correct horse battery"),
        ("groups", "staff"),
    ]);

    let response = request.send().await.unwrap();

    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(nc.user("alice").is_none());
}

#[tokio::test]
async fn without_a_password_an_email_is_required() {
    let nc = nextcloud().await;

    let no_email = ocs(&nc, Method::POST, 2, "/cloud/users").form(&[("userid", "alice")]);
    let (status, body) = status_and_json(no_email).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(meta(&body).1, 108);

    let email_only = ocs(&nc, Method::POST, 2, "/cloud/users")
        .form(&[("userid", "alice"), ("email", "alice@ex.org")]);
    assert_eq!(status_and_json(email_only).await.0, StatusCode::OK);
    assert_eq!(nc.user("alice").unwrap().password, None);
}

#[tokio::test]
async fn an_invalid_user_id_is_statuscode_101() {
    let nc = nextcloud().await;
    let request = ocs(&nc, Method::POST, 2, "/cloud/users").form(&[
        ("userid", "alice/../x"),
        ("password", "correct horse battery"),
    ]);

    let (status, body) = status_and_json(request).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(meta(&body).1, 101);
}

#[tokio::test]
async fn wrong_credentials_are_http_401_with_statuscode_997_in_both_versions() {
    let nc = nextcloud().await;
    for version in [1, 2] {
        let request = client()
            .post(format!("{}/ocs/v{version}.php/cloud/users", nc.url()))
            .basic_auth(ADMIN, Some("wrong"))
            .header("OCS-APIRequest", "true")
            .query(&[("format", "json")])
            .form(&[("userid", "alice"), ("password", "correct horse battery")]);
        let (status, body) = status_and_json(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "v{version}");
        assert_eq!(
            meta(&body),
            ("failure", 997, "Current user is not logged in")
        );
    }
    let anonymous = client()
        .get(format!(
            "{}/ocs/v2.php/cloud/users/admin?format=json",
            nc.url()
        ))
        .header("OCS-APIRequest", "true");
    assert_eq!(status_and_json(anonymous).await.0, StatusCode::UNAUTHORIZED);
    assert!(nc.user("alice").is_none());
}

#[tokio::test]
async fn reject_credentials_fault_refuses_the_right_password() {
    let nc = nextcloud().await;
    nc.set_fault(Fault::RejectCredentials);

    let (status, body) = status_and_json(create_alice(&nc, 2)).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(meta(&body).1, 997);
    nc.set_fault(Fault::None);
    assert_eq!(
        status_and_json(create_alice(&nc, 2)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_request_without_ocs_apirequest_fails_the_csrf_check() {
    let nc = nextcloud().await;
    let request = client()
        .post(format!("{}/ocs/v2.php/cloud/users?format=json", nc.url()))
        .basic_auth(ADMIN, Some(PASSWORD))
        .form(&[("userid", "alice"), ("password", "correct horse battery")]);

    let (status, body) = status_and_json(request).await;

    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(body, json!({"message": "CSRF check failed"}));
    assert!(nc.user("alice").is_none());
}

#[tokio::test]
async fn answers_xml_unless_json_is_asked_for() {
    let nc = nextcloud().await;
    let url = format!("{}/ocs/v2.php/cloud/users/admin", nc.url());
    let get = |accept: &str| {
        client()
            .get(&url)
            .basic_auth(ADMIN, Some(PASSWORD))
            .header("OCS-APIRequest", "true")
            .header("Accept", accept)
    };

    let xml = get("*/*").send().await.unwrap();
    assert!(xml.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/xml"));
    let xml = xml.text().await.unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\"?>\n<ocs>\n <meta>\n  <status>ok</status>"));
    assert!(xml.contains("<statuscode>200</statuscode>"));
    assert!(xml.contains("<groups>\n   <element>admin</element>\n  </groups>"));

    let json: Value = get("application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["ocs"]["data"]["id"], "admin");
}

#[tokio::test]
async fn getting_a_user_returns_its_details_and_a_missing_one_is_404() {
    let nc = nextcloud().await;
    nc.add_group("staff");
    let create = ocs(&nc, Method::POST, 2, "/cloud/users").form(&[
        ("userid", "alice"),
        ("password", "correct horse battery"),
        ("displayName", "Alice Liddell"),
        ("email", "alice@ex.org"),
        ("quota", "5 GB"),
        ("groups[]", "staff"),
    ]);
    status_and_json(create).await;

    let (status, body) = status_and_json(ocs(&nc, Method::GET, 2, "/cloud/users/alice")).await;
    assert_eq!(status, StatusCode::OK);
    let data = &body["ocs"]["data"];
    assert_eq!(data["id"], "alice");
    assert_eq!(data["displayname"], "Alice Liddell");
    assert_eq!(data["email"], "alice@ex.org");
    assert_eq!(data["quota"]["quota"], 5_u64 << 30);
    assert_eq!(data["groups"], json!(["staff"]));
    assert_eq!(data["enabled"], true);

    let (status, body) = status_and_json(ocs(&nc, Method::GET, 2, "/cloud/users/nobody")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(meta(&body), ("failure", 404, "User does not exist"));
}

#[tokio::test]
async fn disabling_and_enabling_a_user() {
    let nc = nextcloud().await;
    status_and_json(create_alice(&nc, 2)).await;

    let (status, body) =
        status_and_json(ocs(&nc, Method::PUT, 2, "/cloud/users/alice/disable")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(meta(&body), ("ok", 200, "OK"));
    assert_eq!(body["ocs"]["data"], json!([]));
    assert!(!nc.user("alice").unwrap().enabled);
    let (_, details) = status_and_json(ocs(&nc, Method::GET, 2, "/cloud/users/alice")).await;
    assert_eq!(details["ocs"]["data"]["enabled"], false);

    status_and_json(ocs(&nc, Method::PUT, 2, "/cloud/users/alice/enable")).await;
    assert!(nc.user("alice").unwrap().enabled);

    for refused in ["/cloud/users/nobody/disable", "/cloud/users/admin/disable"] {
        let (status, body) = status_and_json(ocs(&nc, Method::PUT, 2, refused)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(meta(&body).1, 101, "{refused}");
    }
}

#[tokio::test]
async fn creating_groups_and_adding_users_to_them() {
    let nc = nextcloud().await;
    status_and_json(create_alice(&nc, 2)).await;
    let add_group = || ocs(&nc, Method::POST, 2, "/cloud/groups").form(&[("groupid", "staff")]);

    assert_eq!(status_and_json(add_group()).await.0, StatusCode::OK);
    assert!(nc.groups().contains("staff"));
    let (status, body) = status_and_json(add_group()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(meta(&body), ("failure", 102, "group exists"));

    let join = |user: &str, group: &str| {
        ocs(&nc, Method::POST, 2, &format!("/cloud/users/{user}/groups"))
            .form(&[("groupid", group)])
    };
    assert_eq!(
        status_and_json(join("alice", "staff")).await.0,
        StatusCode::OK
    );
    assert_eq!(nc.user("alice").unwrap().groups, ["staff"]);
    assert_eq!(meta(&status_and_json(join("alice", "nope")).await.1).1, 102);
    assert_eq!(
        meta(&status_and_json(join("nobody", "staff")).await.1).1,
        103
    );
    assert_eq!(meta(&status_and_json(join("alice", "")).await.1).1, 101);
}

#[tokio::test]
async fn a_user_put_in_place_beforehand_already_exists() {
    let nc = nextcloud().await;
    let mut alice = NcUser::new("alice", "Database");
    alice.groups.push("staff".to_owned());
    nc.put_user(alice);

    let (status, body) = status_and_json(create_alice(&nc, 2)).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(meta(&body).1, 102);
    assert!(nc.groups().contains("staff"), "its groups exist too");
    let (_, details) = status_and_json(ocs(&nc, Method::GET, 2, "/cloud/users/alice")).await;
    assert_eq!(details["ocs"]["data"]["quota"]["quota"], "none");
    assert_eq!(
        nc.requests(),
        [
            "POST /ocs/v2.php/cloud/users",
            "GET /ocs/v2.php/cloud/users/alice"
        ]
    );
}
