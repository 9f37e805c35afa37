//! Sending: a message arrives where it should, written as another mail client reads it, and no
//! field can add a header or a recipient.

use std::process::Command;

use base64::Engine as _;
use serde_json::{json, Value};

use super::{MailApp, ALICE, BOB, EVE};
use crate::on_both_backends;
use crate::support::{python_with_modules, Backend};

on_both_backends!(
    a_message_sent_arrives_in_the_inbox_and_in_sent,
    header_injection_is_refused_and_nothing_is_sent,
    an_answer_refers_to_its_message_and_marks_it_answered,
);

const SEND: &str = "/api/v1/mail/send";

/// What Python's `email` package (policy `default`, as a mail client would use it) reads of a
/// message: its headers decoded, and the attachments' names and contents.
fn python_reads(raw: &[u8]) -> Option<Value> {
    let python = python_with_modules("email", "python3", "read the sent mail with another client")?;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("message.eml");
    std::fs::write(&path, raw).unwrap();
    let script = r#"
import email, email.policy, json, sys, base64
msg = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)
body = msg.get_body(preferencelist=('plain',))
html = msg.get_body(preferencelist=('html',))
print(json.dumps({
    'subject': str(msg['subject']),
    'from': str(msg['from']),
    'to': str(msg['to']),
    'cc': str(msg['cc']) if msg['cc'] else None,
    'bcc': str(msg['bcc']) if msg['bcc'] else None,
    'message_id': str(msg['message-id']),
    'date': str(msg['date']) if msg['date'] else None,
    'content_type': msg.get_content_type(),
    'text': body.get_content() if body else None,
    'html': html.get_content() if html else None,
    'attachments': [
        {'filename': a.get_filename(), 'content_type': a.get_content_type(),
         'content': base64.b64encode(a.get_content() if isinstance(a.get_content(), bytes)
                                     else a.get_content().encode()).decode()}
        for a in msg.iter_attachments()
    ],
}))
"#;
    let out = Command::new(python)
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

async fn a_message_sent_arrives_in_the_inbox_and_in_sent(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    let pdf = b"%PDF-1.4 not really a PDF\x00\xff".to_vec();
    let subject = "Grüße aus Köln – 会議の件 ✓";
    let filename = "Angebot für Müller – 見積書.pdf";
    let (status, sent) = m
        .call(
            &m.alice,
            "POST",
            SEND,
            Some(json!({
                "to": [format!("Bob Builder <{BOB}>")],
                "cc": ["Ærøskøbing Ölund <alice@acme.example>"],
                "bcc": [EVE],
                "subject": subject,
                "body": "<p>Hallo <b>Bob</b>, anbei das Angebot.</p>",
                "attachments": [{
                    "filename": filename,
                    "content_type": "application/pdf",
                    "content_base64": base64::engine::general_purpose::STANDARD.encode(&pdf),
                }],
            })),
        )
        .await;
    assert_eq!(status, 201, "{sent:#}");
    assert_eq!(sent["saved_to_sent"], true);
    let message_id = sent["message_id"].as_str().unwrap().to_owned();

    // Delivered to bob, and to eve (Bcc); alice has the Cc, and the copy in Sent.
    let bobs = m.mail.wait_for_messages(BOB, "INBOX", 1).await;
    m.mail.wait_for_messages(EVE, "INBOX", 1).await;
    m.mail.wait_for_messages(ALICE, "INBOX", 1).await;
    assert_eq!(m.mail.messages(ALICE, "Sent").len(), 1);

    // As another mail client reads it.
    if let Some(read) = python_reads(&bobs[0]) {
        assert_eq!(read["subject"], subject, "{read:#}");
        assert_eq!(read["message_id"], message_id.as_str());
        assert!(read["from"].as_str().unwrap().contains(ALICE), "{read:#}");
        assert!(
            read["to"].as_str().unwrap().contains("Bob Builder"),
            "{read:#}"
        );
        assert!(
            read["cc"].as_str().unwrap().contains("Ærøskøbing Ölund"),
            "{read:#}"
        );
        assert_eq!(
            read["bcc"],
            Value::Null,
            "Bcc is not in the header: {read:#}"
        );
        assert!(read["date"].is_string());
        assert_eq!(read["content_type"], "multipart/mixed");
        assert!(
            read["text"].as_str().unwrap().contains("Hallo Bob"),
            "{read:#}"
        );
        assert!(
            read["html"].as_str().unwrap().contains("<b>Bob</b>"),
            "{read:#}"
        );
        let attachment = &read["attachments"][0];
        assert_eq!(attachment["filename"], filename, "{read:#}");
        assert_eq!(attachment["content_type"], "application/pdf");
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(attachment["content"].as_str().unwrap())
                .unwrap(),
            pdf
        );
    }

    // Through the API: bob's inbox lists it, his copy reads as sent, the attachment downloads.
    let inbox = m.messages(&m.bob, "INBOX").await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["subject"], subject);
    assert_eq!(inbox[0]["has_attachments"], true);
    assert_eq!(inbox[0]["from"]["address"], ALICE);
    assert!(!inbox[0]["flags"]
        .as_array()
        .unwrap()
        .contains(&json!("seen")));
    let id = inbox[0]["id"].as_str().unwrap();
    let detail = m.get(&m.bob, &format!("/api/v1/mail/messages/{id}")).await;
    assert_eq!(detail["attachments"][0]["filename"], filename);
    let download = m
        .download(&m.bob, &format!("/api/v1/mail/messages/{id}/attachments/0"))
        .await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/pdf");
    assert!(download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename*=UTF-8''Angebot%20f%C3%BCr"));
    assert_eq!(download.bytes().await.unwrap().to_vec(), pdf);
    let sent = m.messages(&m.alice, "Sent").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["subject"], subject);
    assert!(sent[0]["flags"]
        .as_array()
        .unwrap()
        .contains(&json!("seen")));
    assert!(m.mail.queued_outside().is_empty());
}

async fn header_injection_is_refused_and_nothing_is_sent(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    let base = || {
        json!({
            "to": [BOB],
            "subject": "Hello",
            "body": "<p>hi</p>",
        })
    };
    let attempts: Vec<(Value, &str)> = vec![
        (
            json!({"subject": "Hello\r\nBcc: eve@globex.example"}),
            "subject",
        ),
        (json!({"subject": "Hello\nX-Evil: 1"}), "subject"),
        (
            json!({"to": ["bob@acme.example\r\nBcc: eve@globex.example"]}),
            "to[0]",
        ),
        (
            json!({"to": ["bob@acme.example, eve@globex.example"]}),
            "to[0]",
        ),
        (
            json!({"cc": ["Eve <eve@globex.example>\nBcc: x@y.example"]}),
            "cc[0]",
        ),
        (json!({"bcc": ["not an address"]}), "bcc[0]"),
        (json!({"to": []}), "to"),
        (
            json!({"in_reply_to": "<a@b>\r\nBcc: eve@globex.example"}),
            "in_reply_to",
        ),
        (
            json!({"attachments": [{"filename": "a.txt\r\nBcc: eve@globex.example",
                                    "content_type": "text/plain", "content_base64": "aGk="}]}),
            "attachments[0].filename",
        ),
        (
            json!({"attachments": [{"filename": "a.txt",
                                    "content_type": "text/plain\r\nBcc: eve@globex.example",
                                    "content_base64": "aGk="}]}),
            "attachments[0].content_type",
        ),
        (
            json!({"attachments": [{"filename": "a.txt", "content_type": "text/plain",
                                    "content_base64": "not base64!"}]}),
            "attachments[0].content_base64",
        ),
    ];
    for (change, field) in attempts {
        let mut body = base();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, answer) = m.call(&m.alice, "POST", SEND, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {answer:#}");
        assert_eq!(answer["field"], field, "{body}: {answer:#}");
    }
    // Larger than max_message_mib (2 MiB here): refused before anything is written.
    let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 2 * 1024 * 1024 + 1]);
    let mut body = base();
    body["attachments"] = json!([{"filename": "big.bin", "content_type": "application/octet-stream", "content_base64": big}]);
    let (status, _) = m.call(&m.alice, "POST", SEND, Some(body)).await;
    assert_eq!(status, 413);

    // A recipient Postfix knows cannot receive (no such mailbox of its domain): refused at RCPT,
    // before anyone gets anything.
    let mut body = base();
    body["to"] = json!([BOB, "nobody@acme.example"]);
    let (status, answer) = m.call(&m.alice, "POST", SEND, Some(body)).await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (422, Some("to")),
        "{answer:#}"
    );

    // A good message after them is the only one anybody got.
    let (status, _) = m.call(&m.alice, "POST", SEND, Some(base())).await;
    assert_eq!(status, 201);
    assert_eq!(m.mail.wait_for_messages(BOB, "INBOX", 1).await.len(), 1);
    assert!(m.mail.messages(EVE, "INBOX").is_empty());
    assert_eq!(m.mail.messages(ALICE, "Sent").len(), 1);
    assert!(m.mail.queued_outside().is_empty());
}

async fn an_answer_refers_to_its_message_and_marks_it_answered(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    m.deliver(
        BOB,
        "INBOX",
        &super::plain(ALICE, BOB, "Question", "Lunch?"),
    );
    let inbox = m.messages(&m.bob, "INBOX").await;
    let id = inbox[0]["id"].as_str().unwrap();
    let original = m.get(&m.bob, &format!("/api/v1/mail/messages/{id}")).await;
    let (status, sent) = m
        .call(
            &m.bob,
            "POST",
            SEND,
            Some(
                json!({"to": [ALICE], "subject": "Re: Question", "body": "<p>Yes</p>",
                        "text": "Yes", "in_reply_to": id}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{sent:#}");
    let answer = &m.mail.wait_for_messages(ALICE, "INBOX", 1).await[0];
    let text = String::from_utf8_lossy(answer);
    let parent = original["message_id"].as_str().unwrap();
    assert!(
        text.contains(&format!("In-Reply-To: <{parent}>"))
            || text.contains(&format!("In-Reply-To: {parent}")),
        "{parent}: {text}"
    );
    let inbox = m.messages(&m.bob, "INBOX").await;
    assert!(
        inbox[0]["flags"]
            .as_array()
            .unwrap()
            .contains(&json!("answered")),
        "{inbox:#?}"
    );
    // An id that is not one of bob's is no message to answer.
    let (status, answer) = m
        .call(
            &m.bob,
            "POST",
            SEND,
            Some(json!({"to": [ALICE], "subject": "x", "body": "x", "in_reply_to": "AAAAAAAAAAAAAAAAAAAAAAAA"})),
        )
        .await;
    assert_eq!(status, 422, "{answer:#}");
    assert_eq!(answer["field"], "in_reply_to");
}
