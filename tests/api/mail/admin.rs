//! The company admins' mailboxes through Mailcow's API: their own company's only.

use serde_json::json;

use super::MailApp;
use crate::fakes::mailcow::Mailbox;
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(an_admin_manages_the_companys_mailboxes_and_no_others);

const MAILBOXES: &str = "/api/v1/mail/mailboxes";

fn mailbox(username: &str) -> Mailbox {
    let (local_part, domain) = username.split_once('@').unwrap();
    Mailbox {
        username: username.into(),
        local_part: local_part.into(),
        domain: domain.into(),
        name: format!("Name of {local_part}"),
        quota_mib: 1024,
        active: true,
        authsource: "generic-oidc".into(),
        password: None,
        tags: Vec::new(),
    }
}

async fn an_admin_manages_the_companys_mailboxes_and_no_others(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    for username in [
        "alice@acme.example",
        "bob@acme.example",
        "eve@globex.example",
    ] {
        m.mailcow.put_mailbox(mailbox(username));
    }
    m.mailcow.set_quota_used("alice@acme.example", 5 << 20);

    // Carol, Acme's admin, sees Acme's mailboxes with the quota used.
    let list = m.get(&m.carol, MAILBOXES).await;
    let addresses: Vec<&str> = list["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["alice@acme.example", "bob@acme.example"]);
    let alice = &list["mailboxes"][0];
    assert_eq!(alice["quota_bytes"], 1024u64 << 20);
    assert_eq!(alice["quota_used_bytes"], 5u64 << 20);
    assert_eq!(alice["active"], true);

    // Sets a quota, disables a mailbox, adds one.
    let (status, changed) = m
        .call(
            &m.carol,
            "PATCH",
            &format!("{MAILBOXES}/bob@acme.example"),
            Some(json!({"quota_mib": 2048, "active": false})),
        )
        .await;
    assert_eq!(status, 200, "{changed:#}");
    assert_eq!(changed["quota_bytes"], 2048u64 << 20);
    assert_eq!(changed["active"], false);
    let bob = m.mailcow.mailbox("bob@acme.example").unwrap();
    assert_eq!((bob.quota_mib, bob.active), (2048, false));
    let (status, made) = m
        .call(
            &m.carol,
            "POST",
            MAILBOXES,
            Some(json!({"local_part": "Dan", "name": "Dan", "quota_mib": 512})),
        )
        .await;
    assert_eq!(status, 201, "{made:#}");
    assert_eq!(made["address"], "dan@acme.example");
    let dan = m.mailcow.mailbox("dan@acme.example").unwrap();
    assert_eq!(
        (dan.quota_mib, dan.authsource.as_str()),
        (512, "generic-oidc")
    );
    let (status, _) = m
        .call(
            &m.carol,
            "POST",
            MAILBOXES,
            Some(json!({"local_part": "dan"})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, answer) = m
        .call(
            &m.carol,
            "POST",
            MAILBOXES,
            Some(json!({"local_part": "a b@c"})),
        )
        .await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (422, Some("local_part"))
    );

    // Another company's mailbox is as missing as one that does not exist, and unchanged.
    for address in ["eve@globex.example", "nobody@acme.example"] {
        let (status, answer) = m
            .call(
                &m.carol,
                "PATCH",
                &format!("{MAILBOXES}/{address}"),
                Some(json!({"active": false})),
            )
            .await;
        assert_eq!(status, 404, "{address}: {answer:#}");
    }
    assert!(m.mailcow.mailbox("eve@globex.example").unwrap().active);

    // Someone who is not an admin may do none of it.
    for (method, path, body) in [
        ("GET", MAILBOXES.to_owned(), None),
        (
            "POST",
            MAILBOXES.to_owned(),
            Some(json!({"local_part": "x"})),
        ),
        (
            "PATCH",
            format!("{MAILBOXES}/alice@acme.example"),
            Some(json!({"active": false})),
        ),
    ] {
        for token in [&m.alice, &m.eve] {
            let (status, answer) = m.call(token, method, &path, body.clone()).await;
            assert_eq!(status, 403, "{method} {path}: {answer:#}");
        }
    }
    assert!(m.mailcow.mailbox("alice@acme.example").unwrap().active);

    // Mailcow down: 503 at once.
    m.mailcow.stop().await;
    let (status, answer) = m.call(&m.carol, "GET", MAILBOXES, None).await;
    assert_eq!((status, answer["service"].as_str()), (503, Some("mailcow")));
}
