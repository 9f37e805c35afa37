//! The fake Mailcow's REST API against what Mailcow answers.
//!
//! Over 400 lines and one file: a test per Mailcow endpoint and answer the hub relies on, read
//! side by side against Mailcow's API documentation; split, they would be hunted across files.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use super::client;
use crate::fakes::mailcow::{DomainLimits, FakeMailcow, Mailbox};
use crate::fakes::Fault;

pub(super) const KEY: &str = "rw-api-key";

pub(super) async fn mailcow() -> FakeMailcow {
    FakeMailcow::start(KEY, &["ex.org"]).await
}

/// A call as a provisioning client makes it: `X-API-Key` and a JSON body.
pub(super) fn api(mc: &FakeMailcow, method: Method, path: &str) -> RequestBuilder {
    client()
        .request(method, format!("{}/api/v1/{path}", mc.url()))
        .header("X-API-Key", KEY)
}

pub(super) async fn status_and_json(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// An SSO user's mailbox, with values as strings the way Mailcow's own UI sends them.
pub(super) fn alice() -> Value {
    json!({
        "local_part": "alice",
        "domain": "ex.org",
        "name": "Alice Liddell",
        "quota": "2048",
        "active": "1",
        "authsource": "generic-oidc",
        "tags": ["bheem"],
    })
}

async fn add(mc: &FakeMailcow, attr: Value) -> Value {
    let (status, body) = status_and_json(api(mc, Method::POST, "add/mailbox").json(&attr)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "Mailcow answers 200 whatever happened"
    );
    body
}

fn single_msg(results: &Value) -> &Value {
    assert_eq!(results.as_array().map(Vec::len), Some(1), "{results}");
    &results[0]["msg"]
}

#[tokio::test]
async fn adding_a_mailbox_answers_a_success_array_and_stores_it() {
    let mc = mailcow().await;

    let body = add(&mc, alice()).await;

    assert_eq!(
        body,
        json!([{
            "type": "success",
            "log": ["mailbox", "add", "mailbox", alice(), null],
            "msg": ["mailbox_added", "alice@ex.org"],
        }])
    );
    let mailbox = mc.mailbox("alice@ex.org").unwrap();
    assert_eq!(mailbox.local_part, "alice");
    assert_eq!(mailbox.domain, "ex.org");
    assert_eq!(mailbox.name, "Alice Liddell");
    assert_eq!(mailbox.quota_mib, 2048);
    assert!(mailbox.active);
    assert_eq!(mailbox.authsource, "generic-oidc");
    assert_eq!(mailbox.password, None);
    assert_eq!(mailbox.tags, ["bheem"]);
    assert_eq!(mc.add_calls(), 1);
}

#[tokio::test]
async fn numbers_and_strings_are_both_accepted() {
    let mc = mailcow().await;
    let mut attr = alice();
    attr["quota"] = json!(1024);
    attr["active"] = json!(0);
    attr["local_part"] = json!("  Alice ");

    let body = add(&mc, attr).await;

    assert_eq!(single_msg(&body), &json!(["mailbox_added", "alice@ex.org"]));
    let mailbox = mc.mailbox("alice@ex.org").unwrap();
    assert_eq!((mailbox.quota_mib, mailbox.active), (1024, false));
}

#[tokio::test]
async fn an_existing_mailbox_is_object_exists_with_http_200() {
    let mc = mailcow().await;
    add(&mc, alice()).await;

    let body = add(&mc, alice()).await;

    assert_eq!(body[0]["type"], "danger");
    assert_eq!(body[0]["log"][1], "add");
    assert_eq!(single_msg(&body), &json!(["object_exists", "alice@ex.org"]));
    assert_eq!(mc.add_calls(), 2);
    assert_eq!(mc.mailboxes().len(), 1);
}

#[tokio::test]
async fn bad_addresses_are_refused_with_mailcows_message_keys() {
    let mc = mailcow().await;
    let with = |key: &str, value: &str| {
        let mut attr = alice();
        attr[key] = json!(value);
        attr
    };

    let cases = [
        // hasDomainAccess fails before Mailcow would look for the domain.
        (with("domain", "unknown.org"), json!("access_denied")),
        // The address check runs first and catches what the domain check would.
        (with("domain", "-bad-.org"), json!("mailbox_invalid")),
        (with("domain", "bad_domain"), json!("mailbox_invalid")),
        (with("local_part", "not valid"), json!("mailbox_invalid")),
        (with("local_part", ""), json!("mailbox_invalid")),
    ];
    for (attr, expected) in cases {
        let body = add(&mc, attr).await;
        assert_eq!(body[0]["type"], "danger");
        assert_eq!(single_msg(&body), &expected);
    }
    assert!(mc.mailboxes().is_empty());
}

#[tokio::test]
async fn a_mailcow_authsource_needs_two_matching_passwords() {
    let mc = mailcow().await;
    let mut attr = alice();
    attr["authsource"] = json!("mailcow");

    let body = add(&mc, attr.clone()).await;
    assert_eq!(
        body,
        json!([{"type": "danger", "log": ["password_check", null, null], "msg": "password_complexity"}])
    );

    attr["password"] = json!("Secret-1234");
    attr["password2"] = json!("Secret-9999");
    assert_eq!(
        single_msg(&add(&mc, attr.clone()).await),
        "password_mismatch"
    );

    attr["password2"] = json!("Secret-1234");
    let body = add(&mc, attr).await;
    assert_eq!(single_msg(&body), &json!(["mailbox_added", "alice@ex.org"]));
    assert_eq!(body[0]["log"][3]["password"], "*", "passwords are masked");
    assert_eq!(body[0]["log"][3]["password2"], "*");
    let mailbox = mc.mailbox("alice@ex.org").unwrap();
    assert_eq!(mailbox.password.as_deref(), Some("Secret-1234"));
}

#[tokio::test]
async fn an_unknown_authsource_falls_back_to_mailcow() {
    let mc = mailcow().await;
    let mut attr = alice();
    attr["authsource"] = json!("oidc");

    assert_eq!(
        single_msg(&add(&mc, attr).await),
        "password_complexity",
        "an authsource mailcow mailbox needs a password"
    );
}

#[tokio::test]
async fn domain_limits_are_enforced() {
    let mc = mailcow().await;
    let limits = DomainLimits {
        max_mailboxes: 1,
        max_quota_mib: 1024,
        total_quota_mib: 10240,
    };
    mc.set_domain_limits("ex.org", limits);

    let body = add(&mc, alice()).await;
    assert_eq!(single_msg(&body), &json!(["mailbox_quota_exceeded", 1024]));

    let mut small = alice();
    small["quota"] = json!("512");
    add(&mc, small.clone()).await;
    small["local_part"] = json!("bob");
    let body = add(&mc, small).await;
    assert_eq!(single_msg(&body), &json!(["max_mailbox_exceeded", 1, 1]));
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_http_401() {
    let mc = mailcow().await;
    let url = format!("{}/api/v1/add/mailbox", mc.url());
    let refused = [
        client()
            .post(&url)
            .header("X-API-Key", "wrong")
            .json(&alice()),
        client().post(&url).json(&alice()),
    ];

    for request in refused {
        let (status, body) = status_and_json(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            json!({"type": "error", "msg": "authentication failed"})
        );
    }
    assert!(mc.mailboxes().is_empty());
}

#[tokio::test]
async fn reject_credentials_fault_refuses_the_right_key() {
    let mc = mailcow().await;
    mc.set_fault(Fault::RejectCredentials);

    let (status, body) =
        status_and_json(api(&mc, Method::POST, "add/mailbox").json(&alice())).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["msg"], "authentication failed");
    assert_eq!(mc.add_calls(), 1, "the attempt reached the server");
}

#[tokio::test]
async fn a_read_only_key_may_read_but_not_write() {
    let mc = mailcow().await;
    mc.set_read_only_key("ro-key");
    let call = |method: Method, path: &str| {
        client()
            .request(method, format!("{}/api/v1/{path}", mc.url()))
            .header("X-API-Key", "ro-key")
    };

    for path in ["add/mailbox", "edit/mailbox", "delete/mailbox"] {
        let (status, body) = status_and_json(call(Method::POST, path).json(&json!({}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            body,
            json!({"type": "error", "msg": "API read/write access denied"})
        );
    }
    let (status, body) = status_and_json(call(Method::GET, "get/mailbox/alice@ex.org")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
}

#[tokio::test]
async fn getting_a_mailbox_answers_it_with_the_quota_in_bytes_or_an_empty_object() {
    let mc = mailcow().await;
    add(&mc, alice()).await;

    let (status, body) = status_and_json(api(&mc, Method::GET, "get/mailbox/alice@ex.org")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["username"], "alice@ex.org");
    assert_eq!(body["local_part"], "alice");
    assert_eq!(body["domain"], "ex.org");
    assert_eq!(body["name"], "Alice Liddell");
    assert_eq!(body["quota"], 2048_u64 << 20);
    assert_eq!(body["active"], 1);
    assert_eq!(body["authsource"], "generic-oidc");

    let (status, body) = status_and_json(api(&mc, Method::GET, "get/mailbox/bob@ex.org")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));

    let (_, all) = status_and_json(api(&mc, Method::GET, "get/mailbox/all")).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn editing_a_mailbox_deactivates_it() {
    let mc = mailcow().await;
    add(&mc, alice()).await;
    let edit = |items: Value| {
        api(&mc, Method::POST, "edit/mailbox")
            .json(&json!({"attr": {"active": "0"}, "items": items}))
    };

    let (status, body) = status_and_json(edit(json!(["alice@ex.org"]))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["type"], "success");
    assert_eq!(
        single_msg(&body),
        &json!(["mailbox_modified", "alice@ex.org"])
    );
    let mailbox = mc.mailbox("alice@ex.org").unwrap();
    assert!(!mailbox.active);
    assert_eq!(mailbox.quota_mib, 2048, "left alone");

    let (_, body) = status_and_json(edit(json!(["bob@ex.org"]))).await;
    assert_eq!(single_msg(&body), "access_denied");
    let (_, body) = status_and_json(edit(json!(["not an address"]))).await;
    assert_eq!(
        single_msg(&body),
        &json!(["username_invalid", "not an address"])
    );
}

#[tokio::test]
async fn deleting_a_mailbox_removes_it() {
    let mc = mailcow().await;
    add(&mc, alice()).await;
    let delete = || api(&mc, Method::POST, "delete/mailbox").json(&json!(["alice@ex.org"]));

    let (status, body) = status_and_json(delete()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        single_msg(&body),
        &json!(["mailbox_removed", "alice@ex.org"])
    );
    assert!(mc.mailboxes().is_empty());

    let (_, body) = status_and_json(delete()).await;
    assert_eq!(single_msg(&body), "access_denied");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_http_400() {
    let mc = mailcow().await;
    let request = api(&mc, Method::POST, "add/mailbox")
        .header("Content-Type", "application/json")
        .body("{not json");

    let (status, body) = status_and_json(request).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["type"], "error");
    assert_eq!(mc.add_calls(), 1);
}

#[tokio::test]
async fn an_unknown_route_is_404() {
    let mc = mailcow().await;

    let (status, body) = status_and_json(api(&mc, Method::GET, "get/nothing/here")).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"type": "error", "msg": "route not found"}));
}

fn existing_mailcow_mailbox() -> Mailbox {
    Mailbox {
        username: "carol@ex.org".to_owned(),
        local_part: "carol".to_owned(),
        domain: "ex.org".to_owned(),
        name: "Carol".to_owned(),
        quota_mib: 1024,
        active: true,
        authsource: "mailcow".to_owned(),
        password: Some("Old-secret-1".to_owned()),
        tags: Vec::new(),
    }
}

#[tokio::test]
async fn a_mailbox_that_existed_before_is_object_exists_and_can_be_switched_to_sso() {
    let mc = mailcow().await;
    mc.put_mailbox(existing_mailcow_mailbox());
    let mut carol = alice();
    carol["local_part"] = json!("carol");

    assert_eq!(
        single_msg(&add(&mc, carol).await),
        &json!(["object_exists", "carol@ex.org"])
    );
    let switch = json!({"attr": {"authsource": "generic-oidc"}, "items": ["carol@ex.org"]});
    let (_, body) = status_and_json(api(&mc, Method::POST, "edit/mailbox").json(&switch)).await;
    assert_eq!(
        single_msg(&body),
        &json!(["mailbox_modified", "carol@ex.org"])
    );

    let carol = mc.mailbox("carol@ex.org").unwrap();
    assert_eq!(carol.authsource, "generic-oidc");
    assert_eq!((carol.quota_mib, carol.name.as_str()), (1024, "Carol"));
    assert_eq!(
        mc.requests(),
        ["POST /api/v1/add/mailbox", "POST /api/v1/edit/mailbox"]
    );
}

#[tokio::test]
async fn editing_checks_passwords_and_the_domains_quota() {
    let mc = mailcow().await;
    mc.put_mailbox(existing_mailcow_mailbox());
    mc.set_domain_limits(
        "ex.org",
        DomainLimits {
            max_mailboxes: 10,
            max_quota_mib: 4096,
            total_quota_mib: 3072,
        },
    );
    let edit = |attr: Value| {
        api(&mc, Method::POST, "edit/mailbox")
            .json(&json!({"attr": attr, "items": ["carol@ex.org"]}))
    };

    let (_, body) = status_and_json(edit(json!({"password": "New-secret-1"}))).await;
    assert_eq!(body[0]["log"], json!(["password_check", null, null]));
    assert_eq!(single_msg(&body), "password_complexity");

    let both = json!({"password": "New-secret-1", "password2": "New-secret-1"});
    let (_, body) = status_and_json(edit(both)).await;
    assert_eq!(body[0]["type"], "success");
    let carol = mc.mailbox("carol@ex.org").unwrap();
    assert_eq!(carol.password.as_deref(), Some("New-secret-1"));

    let (_, body) = status_and_json(edit(json!({"quota": 4000}))).await;
    assert_eq!(
        single_msg(&body),
        &json!(["mailbox_quota_left_exceeded", 3072])
    );
    let (_, body) = status_and_json(edit(json!({"quota": "2048"}))).await;
    assert_eq!(body[0]["type"], "success");
    assert_eq!(mc.mailbox("carol@ex.org").unwrap().quota_mib, 2048);
}
