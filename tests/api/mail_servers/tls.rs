//! The TLS ports, as a client outside Mailcow's own network meets them (993 and 465, and STARTTLS
//! on 143 and 587), with the servers' self-signed certificate as the one trusted root.

use std::sync::Arc;

use async_imap::Client;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::{imap_client, message, servers, ALICE, BOB};
use crate::support::MailServers;

/// A TLS client that trusts the servers' certificate only, for 127.0.0.1.
fn connector(mail: &MailServers) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(mail.ca_pem()).unwrap())
        .unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("127.0.0.1").unwrap()
}

#[tokio::test]
async fn imap_logs_in_over_tls_and_after_starttls() {
    let Some(mail) = servers().await else { return };
    mail.add_mailbox(ALICE);
    let tls = connector(&mail);

    let tcp = TcpStream::connect(("127.0.0.1", mail.imaps_port()))
        .await
        .unwrap();
    let mut client = Client::new(tls.connect(localhost(), tcp).await.unwrap());
    client.read_response().await.unwrap().expect("a greeting");
    let mut session = client
        .login(mail.master_login(ALICE), mail.master_password())
        .await
        .map_err(|(e, _)| e)
        .expect("the master login over TLS");
    assert_eq!(session.select("INBOX").await.unwrap().exists, 0);
    session.logout().await.unwrap();

    let mut client = imap_client(&mail).await;
    client
        .run_command_and_check_ok("STARTTLS", None)
        .await
        .unwrap();
    let stream = tls.connect(localhost(), client.into_inner()).await.unwrap();
    let mut session = Client::new(stream)
        .login(mail.master_login(ALICE), mail.master_password())
        .await
        .map_err(|(e, _)| e)
        .expect("the master login after STARTTLS");
    assert_eq!(session.select("Sent").await.unwrap().exists, 0);
    session.logout().await.unwrap();
}

#[tokio::test]
async fn submission_sends_over_tls_and_after_starttls() {
    let Some(mail) = servers().await else { return };
    mail.add_mailbox(ALICE);
    mail.add_mailbox(BOB);
    let parameters = TlsParameters::builder("127.0.0.1".to_owned())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(Certificate::from_pem(mail.ca_pem()).unwrap())
        .build_rustls()
        .unwrap();
    let credentials = Credentials::new(mail.master_login(ALICE), mail.master_password().into());

    for (port, tls, subject) in [
        (
            mail.smtps_port(),
            Tls::Wrapper(parameters.clone()),
            "Over TLS",
        ),
        (
            mail.submission_port(),
            Tls::Required(parameters),
            "After STARTTLS",
        ),
    ] {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(port)
            .tls(tls)
            .credentials(credentials.clone())
            .build()
            .send(message(ALICE, BOB, subject))
            .await
            .unwrap_or_else(|e| panic!("{subject}: {e}"));
    }
    let inbox = mail.wait_for_messages(BOB, "INBOX", 2).await;
    let texts: Vec<_> = inbox.iter().map(|m| String::from_utf8_lossy(m)).collect();
    for subject in ["Over TLS", "After STARTTLS"] {
        assert!(
            texts
                .iter()
                .any(|t| t.contains(&format!("Subject: {subject}"))),
            "{texts:?}"
        );
    }
    // Postfix says which connections were encrypted.
    let log = mail.postfix_log();
    assert!(log.contains("postfix/smtps/smtpd"), "{log}");
    assert!(log.contains("TLS connection established"), "{log}");
}
