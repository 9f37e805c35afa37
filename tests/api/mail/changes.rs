//! Changing messages: flags, moving, deleting to Trash and then for good; and ids that name
//! nothing any more once their folder was made anew.

use serde_json::{json, Value};

use super::{plain, MailApp, ALICE, BOB};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(
    flags_are_set_and_cleared,
    a_message_moves_and_is_deleted_to_trash_then_for_good,
    an_id_from_before_its_folder_was_made_anew_names_nothing,
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
    // Its new id, from the server's COPYUID: the one the folder lists, and it reads.
    assert_eq!(status, 200, "{answer:#}");
    let drafts = m.messages(&m.alice, "Drafts").await;
    assert_eq!(drafts[0]["subject"], "keep me");
    assert_ne!(drafts[0]["id"], json!(keep));
    assert_eq!(answer["id"], drafts[0]["id"], "{answer:#}");
    let moved = answer["id"].as_str().unwrap();
    let read = m
        .get(&m.alice, &format!("/api/v1/mail/messages/{moved}"))
        .await;
    assert_eq!(read["subject"], "keep me");
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

async fn an_id_from_before_its_folder_was_made_anew_names_nothing(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    let mut imap = crate::mail_servers::imap_login(
        &m.mail,
        &m.mail.master_login(ALICE),
        m.mail.master_password(),
    )
    .await
    .unwrap();
    imap.create("Projekte").await.unwrap();
    let with_file = "From: bob@acme.example\r\nSubject: plans\r\nContent-Type: multipart/mixed; \
        boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n--b\r\n\
        Content-Type: application/pdf; name=a.pdf\r\n\r\n%PDF\r\n--b--\r\n";
    imap.append("Projekte", None, None, with_file)
        .await
        .unwrap();
    let old = m.messages(&m.alice, "Projekte").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = imap.examine("Projekte").await.unwrap().uid_validity;

    // Deleted and made again, with a message of the same UID (1) in it: Dovecot gives the
    // folder a new UIDVALIDITY, and the old id names none of its messages.
    imap.close().await.unwrap();
    imap.delete("Projekte").await.unwrap();
    imap.create("Projekte").await.unwrap();
    imap.append(
        "Projekte",
        None,
        None,
        plain(BOB, ALICE, "other plans", "x"),
    )
    .await
    .unwrap();
    let after = imap.examine("Projekte").await.unwrap().uid_validity;
    assert_ne!(before, after, "the folder has a new UIDVALIDITY");
    imap.logout().await.unwrap();
    let now = m.messages(&m.alice, "Projekte").await;
    assert_eq!(now[0]["uid"], 1);
    assert_ne!(now[0]["id"], json!(old));

    for (method, path, body) in [
        ("GET", format!("/api/v1/mail/messages/{old}"), None),
        (
            "GET",
            format!("/api/v1/mail/messages/{old}/attachments/0"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/mail/messages/{old}/flags"),
            Some(json!({"seen": true})),
        ),
        (
            "POST",
            format!("/api/v1/mail/messages/{old}/move"),
            Some(json!({"folder": "Trash"})),
        ),
        ("DELETE", format!("/api/v1/mail/messages/{old}"), None),
    ] {
        let (status, answer) = m.call(&m.alice, method, &path, body).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (404, Some("not_found")),
            "{method} {path}: {answer:#}"
        );
    }
    // The message now there is untouched.
    let now = m.messages(&m.alice, "Projekte").await;
    assert_eq!(now.len(), 1);
    assert_eq!(now[0]["subject"], "other plans");
    assert!(now[0]["flags"].as_array().unwrap().is_empty());
    assert!(m.messages(&m.alice, "Trash").await.is_empty());
}
