//! TLS to the mail servers, from the first byte and with STARTTLS, trusting the servers' own
//! certificate through `[mail] tls_ca_file`; a certificate nobody vouches for is refused.

use serde_json::json;

use super::{MailApp, ALICE, BOB};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(mail_goes_over_tls_and_starttls_and_an_unknown_certificate_is_refused);

async fn mail_goes_over_tls_and_starttls_and_an_unknown_certificate_is_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("mail-ca.pem");
    for tls in ["implicit", "starttls"] {
        let ca = ca.clone();
        let Some(m) = MailApp::start_with(backend, move |c, mail| {
            std::fs::write(&ca, mail.ca_pem()).unwrap();
            let (imap, smtp) = match tls {
                "implicit" => (mail.imaps_port(), mail.smtps_port()),
                _ => (mail.imap_port(), mail.submission_port()),
            };
            c.set("mail.tls", tls)
                .set("mail.imap_port", i64::from(imap))
                .set("mail.smtp_port", i64::from(smtp))
                .set("mail.tls_ca_file", ca.display().to_string());
        })
        .await
        else {
            return;
        };
        let (status, sent) = m
            .call(
                &m.alice,
                "POST",
                "/api/v1/mail/send",
                Some(json!({"to": [BOB], "subject": format!("over {tls}"), "body": "<p>x</p>"})),
            )
            .await;
        assert_eq!(status, 201, "{tls}: {sent:#}");
        assert_eq!(sent["saved_to_sent"], true, "{tls}");
        m.mail.wait_for_messages(BOB, "INBOX", 1).await;
        let inbox = m.messages(&m.bob, "INBOX").await;
        assert_eq!(inbox[0]["subject"], format!("over {tls}"));
        assert_eq!(m.messages(&m.alice, "Sent").await.len(), 1);
        assert!(m.mail.messages(ALICE, "Sent").len() == 1);
    }

    // Without the servers' certificate trusted, nothing is sent in the clear instead: 503.
    let Some(m) = MailApp::start_with(backend, |c, mail| {
        c.set("mail.tls", "implicit")
            .set("mail.imap_port", i64::from(mail.imaps_port()))
            .set("mail.smtp_port", i64::from(mail.smtps_port()));
    })
    .await
    else {
        return;
    };
    let (status, answer) = m.call(&m.alice, "GET", "/api/v1/mail/folders", None).await;
    assert_eq!(
        (status, answer["service"].as_str()),
        (503, Some("imap")),
        "{answer:#}"
    );
    let (status, answer) = m
        .call(
            &m.alice,
            "POST",
            "/api/v1/mail/send",
            Some(json!({"to": [BOB], "subject": "s", "body": "b"})),
        )
        .await;
    assert_eq!(
        (status, answer["service"].as_str()),
        (503, Some("smtp")),
        "{answer:#}"
    );
    assert!(m.mail.messages(BOB, "INBOX").is_empty());
}
