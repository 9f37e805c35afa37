//! `bheem-sso config check` with `[mail]`: Dovecot's IMAP and Postfix's submission are each
//! reached and greet through TLS as the hub will reach them (implicit or STARTTLS, trusting
//! `tls_ca_file`), without a login; a port nobody answers on and a certificate nobody vouches
//! for are problems named by their key, and the master password is never printed.

use std::path::Path;

use rand::distributions::{Alphanumeric, DistString};

use super::MASTER;
use crate::cli::{bheem_sso, text};
use crate::support::{MailOptions, MailServers, TestConfig};

const MASTER_ENV: &str = "MAIL_MASTER_FOR_CHECK";

/// `config check`'s output for `[mail]` with `tls` on these ports, trusting `ca` if given.
async fn check(
    dir: &Path,
    master: &str,
    tls: &str,
    ports: (u16, u16),
    ca: Option<&Path>,
) -> String {
    let mut config = TestConfig::default();
    config
        .set("mail.imap_host", "127.0.0.1")
        .set("mail.imap_port", i64::from(ports.0))
        .set("mail.smtp_port", i64::from(ports.1))
        .set("mail.tls", tls)
        .set("mail.master_user", MASTER)
        .set("mail.master_password_env", MASTER_ENV);
    if let Some(ca) = ca {
        config.set("mail.tls_ca_file", ca.display().to_string());
    }
    let file = dir.join(format!("sso-{tls}-{}.toml", ports.0));
    std::fs::write(&file, config.to_string()).unwrap();
    let mut check = bheem_sso(dir);
    check
        .args(["config", "check", "--config"])
        .arg(&file)
        .env(MASTER_ENV, master);
    let out = tokio::process::Command::from(check).output().await.unwrap();
    let stdout = text(&out.stdout);
    assert!(!stdout.contains(master), "{stdout}");
    stdout
}

fn problems(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("problem: `mail."))
        .collect()
}

#[tokio::test]
async fn config_check_asks_the_imap_and_smtp_servers_to_greet_through_tls() {
    let master = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
    let Some(mail) = MailServers::start(MailOptions {
        domains: vec!["acme.example".into()],
        master_user: MASTER.into(),
        master_password: master.clone(),
    })
    .await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("mail-ca.pem");
    std::fs::write(&ca, mail.ca_pem()).unwrap();

    for (tls, ports) in [
        ("implicit", (mail.imaps_port(), mail.smtps_port())),
        ("starttls", (mail.imap_port(), mail.submission_port())),
    ] {
        let stdout = check(dir.path(), &master, tls, ports, Some(&ca)).await;
        assert!(problems(&stdout).is_empty(), "{tls}: {stdout}");
        let how = if tls == "implicit" {
            "over TLS"
        } else {
            "after STARTTLS"
        };
        assert!(
            stdout.contains(&format!("ok: imap 127.0.0.1:{} greets {how}", ports.0)),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("ok: smtp 127.0.0.1:{} greets {how}", ports.1)),
            "{stdout}"
        );
    }
    // Nobody logged in to ask.
    assert!(
        !mail.dovecot_log().contains("Login: user="),
        "{}",
        mail.dovecot_log()
    );
    assert!(
        !mail.postfix_log().contains("sasl_username"),
        "{}",
        mail.postfix_log()
    );

    // Its certificate trusted by nobody: both refused, by key.
    let stdout = check(
        dir.path(),
        &master,
        "implicit",
        (mail.imaps_port(), mail.smtps_port()),
        None,
    )
    .await;
    let found = problems(&stdout);
    assert_eq!(found.len(), 2, "{stdout}");
    assert!(
        found[0].starts_with("problem: `mail.imap_host`: "),
        "{stdout}"
    );
    assert!(
        found[1].starts_with("problem: `mail.smtp_host`: "),
        "{stdout}"
    );
    assert!(
        found
            .iter()
            .all(|p| p.to_lowercase().contains("certificate")),
        "{stdout}"
    );

    // Nothing listening.
    let closed = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let stdout = check(
        dir.path(),
        &master,
        "starttls",
        (closed(), closed()),
        Some(&ca),
    )
    .await;
    let found = problems(&stdout);
    assert_eq!(found.len(), 2, "{stdout}");
    assert!(
        found[0].starts_with("problem: `mail.imap_host`: ") && found[0].contains("does not answer"),
        "{stdout}"
    );
    assert!(
        found[1].starts_with("problem: `mail.smtp_host`: ") && found[1].contains("does not answer"),
        "{stdout}"
    );
}
