//! Nobody reads another person's mail by id: every endpoint that takes an id answers a user of
//! another company (and a colleague) as for a message that does not exist.

use serde_json::json;

use super::{plain, MailApp, ALICE, BOB, EVE};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(
    another_persons_message_ids_answer_as_missing_ones,
    the_mail_api_is_in_discovery_and_the_openapi_document,
);

async fn another_persons_message_ids_answer_as_missing_ones(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    m.deliver(
        ALICE,
        "INBOX",
        &plain(BOB, ALICE, "for alice only", "secret plans"),
    );
    // Eve's and bob's own first messages have the same folder and UID as alice's.
    m.deliver(EVE, "INBOX", &plain(BOB, EVE, "eve's own", "x"));
    m.deliver(BOB, "INBOX", &plain(EVE, BOB, "bob's own", "x"));
    let id = m.messages(&m.alice, "INBOX").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for token in [&m.eve, &m.bob] {
        for (method, path, body) in [
            ("GET", format!("/api/v1/mail/messages/{id}"), None),
            (
                "GET",
                format!("/api/v1/mail/messages/{id}/attachments/0"),
                None,
            ),
            ("DELETE", format!("/api/v1/mail/messages/{id}"), None),
            (
                "POST",
                format!("/api/v1/mail/messages/{id}/flags"),
                Some(json!({"seen": true})),
            ),
            (
                "POST",
                format!("/api/v1/mail/messages/{id}/move"),
                Some(json!({"folder": "Trash"})),
            ),
        ] {
            let (status, answer) = m.call(token, method, &path, body).await;
            assert_eq!(status, 404, "{method} {path}: {answer:#}");
            assert_eq!(answer["error"], "not_found");
        }
    }
    // Alice's message is as it was, and the others' own are theirs.
    let inbox = m.messages(&m.alice, "INBOX").await;
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0]["flags"].as_array().unwrap().is_empty());
    assert_eq!(m.messages(&m.eve, "INBOX").await[0]["subject"], "eve's own");
    assert_eq!(m.messages(&m.bob, "INBOX").await[0]["subject"], "bob's own");
    assert!(m.mail.messages(ALICE, "Trash").is_empty());

    // A token without the area's scope, and none at all.
    let (status, _) = m
        .call("not-a-token", "GET", "/api/v1/mail/folders", None)
        .await;
    assert_eq!(status, 401);
}

async fn the_mail_api_is_in_discovery_and_the_openapi_document(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    let discovery = m.get("", "/.well-known/openid-configuration").await;
    assert!(discovery["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("mail")));
    let document = m.get("", "/api/v1/openapi.json").await;
    for (path, method) in [
        ("/api/v1/mail/folders", "get"),
        ("/api/v1/mail/inbox", "get"),
        ("/api/v1/mail/search", "get"),
        ("/api/v1/mail/messages/{id}", "get"),
        ("/api/v1/mail/messages/{id}", "delete"),
        ("/api/v1/mail/messages/{id}/attachments/{n}", "get"),
        ("/api/v1/mail/messages/{id}/flags", "post"),
        ("/api/v1/mail/messages/{id}/move", "post"),
        ("/api/v1/mail/send", "post"),
        ("/api/v1/mail/mailboxes", "get"),
        ("/api/v1/mail/mailboxes", "post"),
        ("/api/v1/mail/mailboxes/{address}", "patch"),
    ] {
        let operation = &document["paths"][path][method];
        assert_eq!(operation["tags"][0], "mail", "{method} {path}");
        assert_eq!(
            operation["security"][0]["bearer"][0], "mail",
            "{method} {path}"
        );
    }
}
