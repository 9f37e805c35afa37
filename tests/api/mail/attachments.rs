//! Attachments: numbered alike in a message's listing and its downloads, streamed from Dovecot
//! whatever their size (far past `max_message_mib`, which bounds reading a message whole), and
//! the connection a download holds given back when the client goes away, dropped when the
//! server fails midway.

use base64::Engine as _;
use futures_util::StreamExt as _;
use mail_parser::MimeHeaders as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use super::{MailApp, ALICE, BOB};
use crate::on_both_backends;
use crate::support::{Backend, MailServers};

on_both_backends!(
    a_large_attachment_streams_intact_and_others_download_as_written,
    a_download_left_by_its_client_gives_its_connection_back,
    attachments_are_those_mail_parser_finds_in_the_whole_message,
);

/// 40 MiB: twenty times the test app's `max_message_mib`.
const LARGE: usize = 40 << 20;

/// Stores `raw` in `address`'s `folder` over IMAP, as another mail client would (APPEND).
pub async fn append(mail: &MailServers, address: &str, folder: &str, raw: &[u8]) {
    let mut imap =
        crate::mail_servers::imap_login(mail, &mail.master_login(address), mail.master_password())
            .await
            .unwrap();
    imap.append(folder, None, None, raw).await.unwrap();
    imap.logout().await.unwrap();
}

/// A message with a text body and three files: `large` in base64, a CSV in quoted-printable,
/// a plain 7bit note.
fn with_files(large: &[u8], csv: &str, note: &str) -> Vec<u8> {
    let mut raw = format!(
        "From: {BOB}\r\nTo: {ALICE}\r\nSubject: files\r\nMessage-ID: <files@acme.example>\r\n\
         Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThree files.\r\n\
         --b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename*=UTF-8''gro%C3%9Fe%20Datei.bin\r\n\r\n"
    )
    .into_bytes();
    for line in base64::engine::general_purpose::STANDARD
        .encode(large)
        .as_bytes()
        .chunks(76)
    {
        raw.extend_from_slice(line);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(
        b"--b\r\nContent-Type: text/csv; charset=utf-8; name=\"zahlen.csv\"\r\n\
          Content-Transfer-Encoding: quoted-printable\r\n\
          Content-Disposition: attachment; filename=\"zahlen.csv\"\r\n\r\n",
    );
    raw.extend_from_slice(&quoted_printable::encode(csv.as_bytes()));
    raw.extend_from_slice(
        b"\r\n--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\
          Content-Disposition: attachment; filename=\"note.txt\"\r\n\r\n",
    );
    raw.extend_from_slice(note.as_bytes());
    raw.extend_from_slice(b"\r\n--b--\r\n");
    raw
}

fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

async fn a_large_attachment_streams_intact_and_others_download_as_written(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    let large = random(LARGE);
    let large_hash = Sha256::digest(&large);
    let csv = "Stadt;Straße;Betrag\r\nKöln;Hohe Straße 1;100 €\r\n".repeat(500);
    let note = "Nothing encoded here.";
    append(&m.mail, ALICE, "INBOX", &with_files(&large, &csv, note)).await;
    drop(large);

    let inbox = m.messages(&m.alice, "INBOX").await;
    let id = inbox[0]["id"].as_str().unwrap();
    assert_eq!(inbox[0]["has_attachments"], true);
    let read = m
        .get(&m.alice, &format!("/api/v1/mail/messages/{id}"))
        .await;
    assert_eq!(read["truncated"], true, "larger than max_message_mib");
    assert_eq!(read["text"].as_str().unwrap().trim(), "Three files.");
    let listed: Vec<(u64, &str, &str)> = read["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["index"].as_u64().unwrap(),
                a["filename"].as_str().unwrap(),
                a["content_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (0, "große Datei.bin", "application/octet-stream"),
            (1, "zahlen.csv", "text/csv"),
            (2, "note.txt", "text/plain"),
        ]
    );
    // Base64's decoded size is an estimate; lines of 76 make it exact to the padding.
    let size = read["attachments"][0]["size"].as_u64().unwrap();
    assert!(size.abs_diff(LARGE as u64) <= 3, "{size}");
    assert_eq!(read["attachments"][2]["size"], note.len());

    // The large one, streamed: no Content-Length (its decoded size is known at its end only),
    // and the bytes as they were.
    let download = m
        .download(
            &m.alice,
            &format!("/api/v1/mail/messages/{id}/attachments/0"),
        )
        .await;
    assert_eq!(download.status(), 200);
    let headers = download.headers().clone();
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename*=UTF-8''gro%C3%9Fe%20Datei%2Ebin"
    );
    assert!(headers.get("content-length").is_none(), "{headers:?}");
    let (mut hash, mut got, mut pieces) = (Sha256::new(), 0, 0);
    let mut body = download.bytes_stream();
    while let Some(piece) = body.next().await {
        let piece = piece.unwrap();
        got += piece.len();
        pieces += 1;
        hash.update(&piece);
    }
    assert_eq!(got, LARGE);
    assert_eq!(hash.finalize(), large_hash);
    assert!(pieces > 1, "streamed in pieces, not in one");

    // Quoted-printable, decoded; an unencoded part has its exact Content-Length.
    let download = m
        .download(
            &m.alice,
            &format!("/api/v1/mail/messages/{id}/attachments/1"),
        )
        .await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "text/csv");
    assert_eq!(download.bytes().await.unwrap(), csv.as_bytes());
    let download = m
        .download(
            &m.alice,
            &format!("/api/v1/mail/messages/{id}/attachments/2"),
        )
        .await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-length"], note.len().to_string());
    assert_eq!(download.bytes().await.unwrap(), note.as_bytes());

    // There is no fourth, and the message's body is no attachment.
    for n in ["3", "99999999"] {
        let (status, answer) = m
            .call(
                &m.alice,
                "GET",
                &format!("/api/v1/mail/messages/{id}/attachments/{n}"),
                None,
            )
            .await;
        assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")));
    }
}

fn logins(mail: &MailServers) -> usize {
    mail.dovecot_log()
        .lines()
        .filter(|l| l.contains("imap-login:") && l.contains("Login: user=<alice@acme.example>"))
        .count()
}

async fn a_download_left_by_its_client_gives_its_connection_back(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    append(
        &m.mail,
        ALICE,
        "INBOX",
        &with_files(&random(LARGE), "a;b", "n"),
    )
    .await;
    let id = m.messages(&m.alice, "INBOX").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/mail/messages/{id}/attachments/0");

    // Four downloads at once (as many connections as one mailbox may have in use), each left
    // after its first piece: the next request waits for a connection, which is one of theirs,
    // given back in good order rather than dropped.
    let before = logins(&m.mail);
    let mut started = Vec::new();
    for _ in 0..4 {
        let mut download = m.download(&m.alice, &path).await;
        assert_eq!(download.status(), 200);
        assert!(!download.chunk().await.unwrap().unwrap().is_empty());
        started.push(download);
    }
    let dialled = logins(&m.mail);
    assert!(dialled - before <= 4, "{}", m.mail.dovecot_log());
    drop(started);
    assert_eq!(m.messages(&m.alice, "INBOX").await.len(), 1);
    assert_eq!(logins(&m.mail), dialled, "{}", m.mail.dovecot_log());

    // The server going away midway cuts the download short (no silent truncation: the body
    // fails), and the broken connection is not lent again.
    let mut download = m.download(&m.alice, &path).await;
    assert_eq!(download.status(), 200);
    download.chunk().await.unwrap().unwrap();
    m.mail.kick(ALICE);
    let mut read = 0;
    let outcome = loop {
        match download.chunk().await {
            Ok(Some(piece)) => read += piece.len(),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(outcome.is_err(), "read {read} bytes and an end");
    assert!(read < LARGE);
    assert_eq!(m.messages(&m.alice, "INBOX").await.len(), 1);
}

/// Messages of the shapes mail clients write: bodies in alternatives, an HTML body with an
/// inline image, files, a forwarded message, a file as the whole message, a named text part.
const SHAPES: &[&str] = &[
    "From: a@acme.example\r\nSubject: shapes\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n\
--m\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n\
--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n\
--a\r\nContent-Type: multipart/related; boundary=r\r\n\r\n\
--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <img src=\"cid:logo@acme\"></p>\r\n\
--r\r\nContent-Type: image/png; name=\"logo.png\"\r\nContent-ID: <logo@acme>\r\n\
Content-Disposition: inline; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n\
--r--\r\n--a--\r\n\
--m\r\nContent-Type: application/pdf; name=\"=?UTF-8?B?R3LDvMOfZS5wZGY=?=\"\r\n\
Content-Disposition: attachment; filename*=UTF-8''Gr%C3%BC%C3%9Fe.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n\
--m\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@acme.example\r\nSubject: inner\r\n\r\ninner text\r\n\
--m\r\nContent-Type: text/plain; name=\"notes.txt\"\r\n\r\nnamed text\r\n\
--m\r\nContent-Type: text/csv\r\nContent-Disposition: inline\r\n\r\na;b\r\n\
--m--\r\n",
    "From: a@acme.example\r\nSubject: a file only\r\nContent-Type: application/zip; name=all.zip\r\n\
Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n",
    "From: a@acme.example\r\nSubject: text only\r\nContent-Type: text/plain\r\n\r\njust text\r\n",
    "From: a@acme.example\r\nSubject: html and a picture\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n\
--m\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n\
--m\r\nContent-Type: image/jpeg\r\nContent-Disposition: inline\r\n\r\nxx\r\n\
--m\r\nContent-Type: text/html; name=page.html\r\nContent-Disposition: attachment\r\n\r\n<p>file</p>\r\n\
--m--\r\n",
];

async fn attachments_are_those_mail_parser_finds_in_the_whole_message(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    for raw in SHAPES {
        m.deliver(ALICE, "INBOX", raw);
    }
    let inbox = m.messages(&m.alice, "INBOX").await;
    assert_eq!(inbox.len(), SHAPES.len());
    // Newest first: the last delivered is listed first.
    let mut compared = 0;
    for (raw, listed) in SHAPES.iter().rev().zip(&inbox) {
        let message = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        let expected: Vec<(Option<String>, String)> = message
            .attachments()
            .map(|part| {
                let ct = part.content_type().unwrap();
                let essence = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default());
                (
                    part.attachment_name().map(str::to_owned),
                    essence.to_lowercase(),
                )
            })
            .collect();
        let id = listed["id"].as_str().unwrap();
        let read = m
            .get(&m.alice, &format!("/api/v1/mail/messages/{id}"))
            .await;
        let got: Vec<(Option<String>, String)> = read["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["filename"].as_str().map(str::to_owned),
                    a["content_type"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(got, expected, "{}", listed["subject"]);
        compared += got.len();
        // Each downloads as mail-parser decodes it.
        for (n, part) in message.attachments().enumerate() {
            let download = m
                .download(
                    &m.alice,
                    &format!("/api/v1/mail/messages/{id}/attachments/{n}"),
                )
                .await;
            assert_eq!(download.status(), 200);
            let bytes = download.bytes().await.unwrap();
            match part.body {
                // A forwarded message is offered as written.
                mail_parser::PartType::Message(_) => {
                    assert!(bytes.starts_with(b"From: b@acme.example"))
                }
                _ => assert_eq!(
                    String::from_utf8_lossy(&bytes).trim_end(),
                    String::from_utf8_lossy(part.contents()).trim_end(),
                    "{} #{n}",
                    listed["subject"]
                ),
            }
        }
    }
    // The picture in the HTML, the PDF, the forwarded message, the named text, the CSV; the
    // zip; the picture beside the HTML and the HTML file.
    assert_eq!(compared, 8);
}
