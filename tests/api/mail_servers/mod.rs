//! The mail servers the Bheem Mail tests run against (support/mail.rs), held to what the hub
//! relies on in Mailcow: the master user reads any mailbox over IMAP and sends as it over SMTP,
//! nothing else does, the special-use folders and the quota are there, and mail goes where it
//! should (a local mailbox) or nowhere (anyone else). Spoken with real client libraries:
//! async-imap and lettre.

mod imap;
mod submission;
mod tls;

use async_imap::{Client, Session};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::distributions::{Alphanumeric, DistString};
use tokio::net::TcpStream;

use crate::support::{MailOptions, MailServers};

/// The master user as Mailcow names it: `DOVECOT_MASTER_USER` with `@mailcow.local`.
pub const MASTER: &str = "bheem@mailcow.local";
pub const ALICE: &str = "alice@acme.example";
pub const BOB: &str = "bob@acme.example";

/// Servers for acme.example and globex.example with a random master password; `None` when the
/// test skips.
pub async fn servers() -> Option<MailServers> {
    MailServers::start(MailOptions {
        domains: vec!["acme.example".into(), "globex.example".into()],
        master_user: MASTER.into(),
        master_password: Alphanumeric.sample_string(&mut rand::thread_rng(), 32),
    })
    .await
}

/// An IMAP client on the plain port, greeted.
pub async fn imap_client(mail: &MailServers) -> Client<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", mail.imap_port()))
        .await
        .unwrap();
    let mut client = Client::new(stream);
    client
        .read_response()
        .await
        .unwrap()
        .expect("Dovecot's greeting");
    client
}

/// An IMAP LOGIN on the plain port.
pub async fn imap_login(
    mail: &MailServers,
    user: &str,
    password: &str,
) -> Result<Session<TcpStream>, async_imap::error::Error> {
    imap_client(mail)
        .await
        .login(user, password)
        .await
        .map_err(|(e, _)| e)
}

/// A short message from `from` to `to`.
pub fn message(from: &str, to: &str, subject: &str) -> Message {
    Message::builder()
        .from(from.parse::<Mailbox>().unwrap())
        .to(to.parse::<Mailbox>().unwrap())
        .subject(subject)
        .body(format!("{subject}, said {from}.\n"))
        .unwrap()
}

/// Submits `message` on the submission port without TLS, logged in as `login` when given.
pub async fn submit(
    mail: &MailServers,
    login: Option<(&str, &str)>,
    message: Message,
) -> Result<(), lettre::transport::smtp::Error> {
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(mail.submission_port())
        .tls(Tls::None);
    if let Some((user, password)) = login {
        transport = transport.credentials(Credentials::new(user.into(), password.into()));
    }
    transport.build().send(message).await.map(|_| ())
}

/// The SMTP reply code of a refusal ("535"), or what else went wrong.
pub fn smtp_code(result: Result<(), lettre::transport::smtp::Error>) -> String {
    let error = result.expect_err("the server should have refused");
    match error.status() {
        Some(code) => code.to_string(),
        None => panic!("no SMTP refusal but {error}"),
    }
}
