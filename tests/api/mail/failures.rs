//! Mail servers that are down, or never answer: 503 at once, not a hang; and connections kept
//! between requests.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{plain, MailApp, ALICE, BOB};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(
    mail_servers_that_are_down_answer_503_at_once,
    a_page_after_a_page_reuses_the_login,
);

/// A port nothing listens on: bound, then let go.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn mail_servers_that_are_down_answer_503_at_once(backend: Backend) {
    // One server accepts connections and never greets (a hung Dovecot).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let (imap, smtp) = (closed_port(), closed_port());
    let Some(m) = MailApp::start_with(backend, |c, _| {
        c.set("mail.imap_port", i64::from(imap))
            .set("mail.smtp_port", i64::from(smtp))
            .set("mail.request_timeout_seconds", 1);
    })
    .await
    else {
        held.abort();
        return;
    };
    for (method, path, body) in [
        ("GET", "/api/v1/mail/folders", None),
        ("GET", "/api/v1/mail/inbox", None),
        (
            "POST",
            "/api/v1/mail/send",
            Some(json!({"to": [BOB], "subject": "s", "body": "b"})),
        ),
    ] {
        let started = Instant::now();
        let (status, answer) = m.call(&m.alice, method, path, body).await;
        assert_eq!(status, 503, "{path}: {answer:#}");
        assert!(["imap", "smtp"].contains(&answer["service"].as_str().unwrap()));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path}: {:?}",
            started.elapsed()
        );
    }
    drop(m);

    let Some(m) = MailApp::start_with(backend, |c, _| {
        c.set("mail.imap_port", i64::from(silent_port))
            .set("mail.request_timeout_seconds", 1);
    })
    .await
    else {
        return;
    };
    let started = Instant::now();
    let (status, answer) = m.call(&m.alice, "GET", "/api/v1/mail/folders", None).await;
    assert_eq!(
        (status, answer["service"].as_str()),
        (503, Some("imap")),
        "{answer:#}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    held.abort();
}

fn logins(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("imap-login:") && l.contains("Login: user=<alice@acme.example>"))
        .count()
}

async fn a_page_after_a_page_reuses_the_login(backend: Backend) {
    let Some(m) = MailApp::start(backend).await else {
        return;
    };
    m.deliver(ALICE, "INBOX", &plain(BOB, ALICE, "hello", "x"));
    for _ in 0..3 {
        assert_eq!(m.messages(&m.alice, "INBOX").await.len(), 1);
    }
    assert_eq!(logins(&m.mail.dovecot_log()), 1, "{}", m.mail.dovecot_log());

    // Dovecot drops the kept connection (a restart, its idle logout): the next page dials anew,
    // once, and is answered as if nothing had happened.
    m.mail.kick(ALICE);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !m.mail.dovecot_log().lines().any(|l| {
        l.contains("imap(alice@acme.example)") && l.contains("Disconnected: Server shutting down")
    }) {
        assert!(Instant::now() < deadline, "{}", m.mail.dovecot_log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(m.messages(&m.alice, "INBOX").await.len(), 1);
    assert_eq!(logins(&m.mail.dovecot_log()), 2, "{}", m.mail.dovecot_log());

    // A burst of one person's requests shares at most four connections (Dovecot would refuse
    // more than ten of one user from one address).
    let burst = (0..16).map(|_| m.messages(&m.alice, "INBOX"));
    for page in futures_util::future::join_all(burst).await {
        assert_eq!(page.len(), 1);
    }
    let logins = logins(&m.mail.dovecot_log());
    assert!(logins <= 2 + 4, "{logins} logins: {}", m.mail.dovecot_log());
}
