//! Bheem Mail's calls to the mail server are deliveries to `imap` and `smtp`: done when the
//! server answered, retry when it could not be reached.

use rand::distributions::{Alphanumeric, DistString};
use serde_json::{json, Value};

use super::server::{free_port, scrape, value, Server, ALICE, PASSWORD};
use crate::support::{remember_secret, Backend, MailOptions, MailServers, TestConfig};

const MASTER_ENV: &str = "BHEEM_TEST_MAIL_MASTER_PASSWORD";

#[tokio::test]
async fn imap_and_smtp_calls_are_deliveries() {
    let master_password = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
    let Some(mail) = MailServers::start(MailOptions {
        domains: vec!["acme.example".into()],
        master_user: "bheem@mailcow.local".into(),
        master_password: master_password.clone(),
    })
    .await
    else {
        return;
    };
    mail.add_mailbox(ALICE);
    let metrics_port = free_port();
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    let mut config = TestConfig::default();
    config
        .set("metrics_listen", format!("127.0.0.1:{metrics_port}"))
        .set("mail.imap_host", "127.0.0.1")
        .set("mail.imap_port", i64::from(mail.imap_port()))
        .set("mail.smtp_port", i64::from(mail.submission_port()))
        .set("mail.tls", "none")
        .set("mail.master_user", "bheem@mailcow.local")
        .set("mail.master_password_env", MASTER_ENV)
        .set("mail.request_timeout_seconds", 5)
        .env(MASTER_ENV, &master_password);
    let Some(server) = Server::start(Backend::Sqlite, config).await else {
        return;
    };
    let http = reqwest::Client::new();
    let login: Value = http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": ALICE, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    remember_secret(&token);
    remember_secret(login["refresh_token"].as_str().unwrap());

    // Folders (IMAP), a message to herself (SMTP, then IMAP for the copy in Sent).
    let folders = http
        .get(server.url("/api/v1/mail/folders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(folders.status(), 200);
    let sent = http
        .post(server.url("/api/v1/mail/send"))
        .bearer_auth(&token)
        .json(&json!({"to": [ALICE], "subject": "counted", "body": "<p>hi</p>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201, "{}", sent.text().await.unwrap());
    // The mail servers gone: the next call cannot reach IMAP.
    drop(mail);
    let down = http
        .get(server.url("/api/v1/mail/folders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 503);

    let text = scrape(&metrics).await;
    let deliveries = "bheem_sso_deliveries_total";
    let count = |target: &str, outcome: &str| {
        value(
            &text,
            deliveries,
            &[("target", target), ("outcome", outcome)],
        )
    };
    assert_eq!(count("imap", "done"), Some(2.0), "{text}");
    assert_eq!(count("smtp", "done"), Some(1.0), "{text}");
    assert_eq!(count("imap", "retry"), Some(1.0), "{text}");
    assert_eq!(count("imap", "fail"), None, "{text}");
    assert!(!text.contains(&master_password));
}
