//! Changing messages: flags, moving, deleting to Trash and then for good.

use serde_json::{json, Value};

use super::{plain, MailApp, ALICE, BOB};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(
    flags_are_set_and_cleared,
    a_message_moves_and_is_deleted_to_trash_then_for_good,
);

fn flags(answer: &Value) -> Vec<String> {
    let mut flags: Vec<String> = answer["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    flags.sort();
    flags
}

async fn flags_are_set_and_cleared(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    m.deliver(ALICE, "INBOX", &plain(BOB, ALICE, "flag me", "x"));
    let id = m.messages(&m.alice, "INBOX").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/mail/messages/{id}/flags");
    let (status, answer) = m
        .call(
            &m.alice,
            "POST",
            &path,
            Some(json!({"seen": true, "flagged": true})),
        )
        .await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(flags(&answer), ["flagged", "seen"]);
    let (_, answer) = m
        .call(&m.alice, "POST", &path, Some(json!({"seen": false})))
        .await;
    assert_eq!(flags(&answer), ["flagged"]);
    let folders = m.get(&m.alice, "/api/v1/mail/folders").await;
    let inbox = folders["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "INBOX")
        .unwrap();
    assert_eq!(inbox["unread"], 1);
    let (status, answer) = m.call(&m.alice, "POST", &path, Some(json!({}))).await;
    assert_eq!(status, 422, "{answer:#}");
    let (status, _) = m
        .call(&m.alice, "POST", &path, Some(json!({"seen": "yes"})))
        .await;
    assert_eq!(status, 422);
}

async fn a_message_moves_and_is_deleted_to_trash_then_for_good(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    m.deliver(ALICE, "INBOX", &plain(BOB, ALICE, "keep me", "x"));
    m.deliver(ALICE, "INBOX", &plain(BOB, ALICE, "bin me", "y"));
    let inbox = m.messages(&m.alice, "INBOX").await;
    let (bin, keep) = (
        inbox[0]["id"].as_str().unwrap().to_owned(),
        inbox[1]["id"].as_str().unwrap().to_owned(),
    );

    // Moved into another folder: gone from the inbox, listed there with an id of its own.
    let (status, answer) = m
        .call(
            &m.alice,
            "POST",
            &format!("/api/v1/mail/messages/{keep}/move"),
            Some(json!({"folder": "Drafts"})),
        )
        .await;
    assert_eq!(status, 204, "{answer:#}");
    let drafts = m.messages(&m.alice, "Drafts").await;
    assert_eq!(drafts[0]["subject"], "keep me");
    assert_ne!(drafts[0]["id"], json!(keep));
    let (status, _) = m
        .call(
            &m.alice,
            "GET",
            &format!("/api/v1/mail/messages/{keep}"),
            None,
        )
        .await;
    assert_eq!(status, 404, "the old id names nothing now");
    let (status, answer) = m
        .call(
            &m.alice,
            "POST",
            &format!("/api/v1/mail/messages/{bin}/move"),
            Some(json!({"folder": "No such folder"})),
        )
        .await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (422, Some("folder")),
        "{answer:#}"
    );

    // Deleted: into Trash first.
    let (status, _) = m
        .call(
            &m.alice,
            "DELETE",
            &format!("/api/v1/mail/messages/{bin}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(m.messages(&m.alice, "INBOX").await.len(), 0);
    let trash = m.messages(&m.alice, "Trash").await;
    assert_eq!(trash.len(), 1);
    assert_eq!(trash[0]["subject"], "bin me");
    assert_eq!(m.mail.messages(ALICE, "Trash").len(), 1);

    // From Trash, for good.
    let in_trash = trash[0]["id"].as_str().unwrap();
    let (status, _) = m
        .call(
            &m.alice,
            "DELETE",
            &format!("/api/v1/mail/messages/{in_trash}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(m.messages(&m.alice, "Trash").await.is_empty());
    assert!(m.mail.messages(ALICE, "Trash").is_empty());
    let (status, _) = m
        .call(
            &m.alice,
            "DELETE",
            &format!("/api/v1/mail/messages/{in_trash}"),
            None,
        )
        .await;
    assert_eq!(status, 404, "deleted twice");
}
