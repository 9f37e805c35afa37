//! `[mail]`'s servers as `config check` asks them: Dovecot's IMAP and Postfix's submission each
//! reached, greeting, and through TLS (implicit or STARTTLS, with `tls_ca_file`'s certificate if
//! given) as the hub will reach them; nobody is logged in, so a wrong master password shows
//! only when a person reads mail (its log line says so).

use std::time::Duration;

use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use super::Report;
use crate::config::{MailConfig, MailTls};
use crate::workspace::mail::imap::{self, Connector, MailError};

/// Both servers of `mail`, asked at once.
pub(super) async fn servers(mail: &MailConfig, limit: Duration) -> Report {
    let (imap, smtp) = tokio::join!(imap_server(mail, limit), smtp_server(mail, limit));
    let mut report = imap;
    report.add(smtp);
    report
}

fn how(tls: MailTls) -> &'static str {
    match tls {
        MailTls::Implicit => "over TLS",
        MailTls::Starttls => "after STARTTLS",
        MailTls::None => "in plain text",
    }
}

async fn imap_server(mail: &MailConfig, limit: Duration) -> Report {
    let place = format!("imap {}:{}", mail.imap_host, mail.imap_port);
    let tls_config = match imap::tls_config(mail.tls_ca_pem.as_deref()) {
        Ok(tls_config) => tls_config,
        Err(e) => return Report::problem("mail.tls_ca_file", format!("unusable: {e}")),
    };
    let mut limited = mail.clone();
    limited.request_timeout_seconds = limit.as_secs().max(1);
    match Connector::new(&limited, tls_config).greet().await {
        Ok(()) => Report::fine(format!("{place} greets {} (mail.imap_host)", how(mail.tls))),
        Err(MailError::Unreachable { message, .. }) | Err(MailError::Broken { message, .. }) => {
            Report::problem(
                "mail.imap_host",
                format!("{place} does not answer: {message}"),
            )
        }
        Err(other) => Report::problem("mail.imap_host", format!("{place}: {other}")),
    }
}

async fn smtp_server(mail: &MailConfig, limit: Duration) -> Report {
    let place = format!("smtp {}:{}", mail.smtp_host, mail.smtp_port);
    let tls_parameters = || {
        let mut builder = TlsParameters::builder(mail.smtp_host.clone());
        if let Some(pem) = &mail.tls_ca_pem {
            builder = builder.add_root_certificate(Certificate::from_pem(pem)?);
        }
        builder.build()
    };
    let tls = match mail.tls {
        MailTls::None => Ok(Tls::None),
        MailTls::Starttls => tls_parameters().map(Tls::Required),
        MailTls::Implicit => tls_parameters().map(Tls::Wrapper),
    };
    let tls = match tls {
        Ok(tls) => tls,
        Err(e) => return Report::problem("mail.tls_ca_file", format!("unusable: {e}")),
    };
    // No credentials: lettre connects, says EHLO, makes TLS and sends NOOP, and logs in as
    // nobody.
    let transport: AsyncSmtpTransport<Tokio1Executor> =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(mail.smtp_host.as_str())
            .port(mail.smtp_port)
            .tls(tls)
            .timeout(Some(limit))
            .build();
    match tokio::time::timeout(limit * 2, transport.test_connection()).await {
        Ok(Ok(true)) => Report::fine(format!("{place} greets {} (mail.smtp_host)", how(mail.tls))),
        Ok(Ok(false)) => Report::problem("mail.smtp_host", format!("{place} does not answer NOOP")),
        Ok(Err(e)) => Report::problem(
            "mail.smtp_host",
            format!("{place} does not answer: {}", innermost(&e)),
        ),
        Err(_) => Report::problem(
            "mail.smtp_host",
            format!("{place} does not answer within {limit:?}"),
        ),
    }
}

/// lettre's own message says "Connection error"; its innermost cause says which.
fn innermost(e: &lettre::transport::smtp::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    format!("{e}: {source}")
}
