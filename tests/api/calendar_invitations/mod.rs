//! Calendar invitations (iMIP) through the outbox: a `calendar_invitation` job is queued as
//! the calendar area queues it, the app's own outbox worker submits it as the organizer to the
//! real Postfix of support/mail.rs (through a gate the test can close), and the attendees'
//! INBOX is read over IMAP with the master login and handed to Python's `icalendar`
//! (tests/mail/read_invitation.py), as a mail client would read it.

mod delivery;
mod refusals;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bheem_sso::store::outbox::{CalendarInvitation, Job, JobStatus};
use futures_util::TryStreamExt as _;
use rand::distributions::{Alphanumeric, DistString};
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};

use crate::support::{
    add_user, python_with_modules, Backend, MailOptions, MailServers, Sso, TestApp, TestConfig,
    ACME, GLOBEX, PASSWORD,
};

pub const MASTER: &str = "bheem@mailcow.local";
pub const ALICE: &str = "alice@acme.example";
pub const BOB: &str = "bob@acme.example";
pub const EVE: &str = "eve@globex.example";
/// An attendee outside the mail domains: Postfix keeps their copy in its queue.
pub const CAROL: &str = "carol@elsewhere.example";
const MASTER_ENV: &str = "BHEEM_TEST_INVITATIONS_MASTER_PASSWORD";

/// The provider with `[mail]` on the real servers, reached through an [`SmtpGate`], and an
/// outbox that tries again within a second; alice (the organizer) and bob of Acme, eve of
/// Globex, each with a mailbox.
pub struct InviteApp {
    pub sso: Sso,
    pub mail: MailServers,
    pub gate: SmtpGate,
    pub eve_id: String,
}

impl InviteApp {
    pub async fn start(backend: Backend) -> Option<Self> {
        let master_password = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
        let mail = MailServers::start(MailOptions {
            domains: vec!["acme.example".into(), "globex.example".into()],
            master_user: MASTER.into(),
            master_password: master_password.clone(),
        })
        .await?;
        let gate = SmtpGate::start(mail.submission_port()).await;
        let sso = TestApp::builder()
            .backend(backend)
            .env(MASTER_ENV, &master_password)
            .config(|c| {
                c.set("mail.imap_host", "127.0.0.1")
                    .set("mail.imap_port", i64::from(mail.imap_port()))
                    .set("mail.smtp_port", i64::from(gate.port))
                    .set("mail.tls", "none")
                    .set("mail.master_user", MASTER)
                    .set("mail.master_password_env", MASTER_ENV)
                    .set("mail.request_timeout_seconds", 5);
                fast_outbox(c);
            })
            .start_sso()
            .await?;
        add_user(&sso.h.app, BOB, Some("bob"), ACME, PASSWORD).await;
        let eve = add_user(&sso.h.app, EVE, Some("eve"), GLOBEX, PASSWORD).await;
        for address in [ALICE, BOB, EVE] {
            mail.add_mailbox(address);
        }
        Some(Self {
            sso,
            mail,
            gate,
            eve_id: eve.id.to_string(),
        })
    }

    pub fn alice_id(&self) -> String {
        self.sso.alice.id.to_string()
    }
}

/// An outbox polled every 100 ms that tries a failed job again after a second, often enough
/// to outlast any outage a test makes; the lease outlasts an SMTP attempt (twice the mail
/// timeout).
pub fn fast_outbox(c: &mut TestConfig) {
    c.set("outbox.poll_interval_ms", 100)
        .set("outbox.retry_base_seconds", 1)
        .set("outbox.retry_max_seconds", 1)
        .set("outbox.max_attempts", 100)
        .set("outbox.request_timeout_seconds", 5);
}

/// An invitation from `organizer` of `company` for the event `uid` at `sequence`, to bob and
/// carol, with its iCalendar written out as the calendar area writes it.
pub fn invitation(
    company: &str,
    organizer: &str,
    uid: &str,
    sequence: i64,
    method: &str,
) -> CalendarInvitation {
    let status = if method == "CANCEL" {
        "CANCELLED"
    } else {
        "CONFIRMED"
    };
    let ics = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Bheem//Calendar//EN",
        &format!("METHOD:{method}"),
        "BEGIN:VEVENT",
        &format!("UID:{uid}"),
        &format!("SEQUENCE:{sequence}"),
        "DTSTAMP:20251201T000000Z",
        "DTSTART:20251208T033000Z",
        "DTEND:20251208T043000Z",
        "SUMMARY:Planning",
        &format!("STATUS:{status}"),
        "ORGANIZER;CN=Alice Example:mailto:alice@acme.example",
        "ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@acme.example",
        "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:carol@elsewhere.example",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    .join("\r\n");
    let verb = if method == "CANCEL" {
        "Cancelled"
    } else {
        "Invitation"
    };
    CalendarInvitation {
        company_id: company.to_owned(),
        organizer_user_id: organizer.to_owned(),
        event_uid: uid.to_owned(),
        sequence,
        method: method.to_owned(),
        recipients: vec![BOB.to_owned(), CAROL.to_owned()],
        subject: format!("{verb}: Planning"),
        text: format!("{verb}: Planning, Monday 8 December 2025, 09:00–10:00 (Asia/Kolkata)"),
        ics,
    }
}

/// Queues `invitation` as the calendar area does; returns its dedupe key.
pub async fn enqueue(sso: &Sso, invitation: CalendarInvitation) -> String {
    let job = Job::send_calendar_invitation(invitation);
    let db = &sso.h.app.state.db;
    db.enqueue_jobs(std::slice::from_ref(&job), sso.h.app.state.clock.now())
        .await
        .unwrap();
    job.dedupe_key()
}

/// The job `key` once `check` holds for it, probed every 50 ms for up to 20 s.
pub async fn job_when(
    sso: &Sso,
    key: &str,
    what: &str,
    check: impl Fn(&JobStatus) -> bool,
) -> JobStatus {
    let db = &sso.h.app.state.db;
    for _ in 0..400 {
        let jobs = db.job_statuses().await.unwrap();
        if let Some(job) = jobs.into_iter().find(|j| j.dedupe_key == key && check(j)) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "job {key} never {what}: {:?}",
        db.job_statuses().await.unwrap()
    );
}

/// The job `key` once it has ended, done or failed for good.
pub async fn ended(sso: &Sso, key: &str) -> JobStatus {
    job_when(sso, key, "ended", |j| {
        j.state == "done" || j.state == "failed"
    })
    .await
}

/// The messages in `address`'s INBOX, read over IMAP as the master user once there are
/// `count` (Dovecot's Maildir is probed until then), oldest first.
pub async fn inbox(mail: &MailServers, address: &str, count: usize) -> Vec<Vec<u8>> {
    mail.wait_for_messages(address, "INBOX", count).await;
    let stream = TcpStream::connect(("127.0.0.1", mail.imap_port()))
        .await
        .unwrap();
    let mut client = async_imap::Client::new(stream);
    client.read_response().await.unwrap().expect("a greeting");
    let mut session = client
        .login(mail.master_login(address), mail.master_password())
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    session.select("INBOX").await.unwrap();
    let fetched: Vec<_> = session
        .fetch("1:*", "BODY.PEEK[]")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    session.logout().await.unwrap();
    fetched
        .iter()
        .map(|f| f.body().expect("the whole message").to_vec())
        .collect()
}

/// What a mail client with Python's `icalendar` reads in `raw` (tests/mail/read_invitation.py);
/// `None` when icalendar is not installed outside CI.
pub fn read_invitation(raw: &[u8]) -> Option<Value> {
    let python = python_with_modules("icalendar", "icalendar>=6,<7", "read the invitations")?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mail/read_invitation.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), raw).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "icalendar could not read the invitation: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(raw)
    );
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

/// What the [`SmtpGate`] does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum GateMode {
    /// Passes it on to Postfix.
    Open = 0,
    /// Closes it at once: a server that went away.
    Drop = 1,
    /// Greets with 421 and closes (RFC 5321 §3.8): a server shutting down or overloaded.
    Busy = 2,
    /// Holds it and says nothing: a server that hangs.
    Silent = 3,
}

/// A TCP gate in front of Postfix's submission port, on a port of its own, which the test opens
/// and closes: the mail server down and back without stopping it.
pub struct SmtpGate {
    pub port: u16,
    mode: Arc<AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpGate {
    async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(GateMode::Open as u8));
        let seen = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mode = seen.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    if mode == GateMode::Busy as u8 {
                        let _ = client
                            .write_all(b"421 4.3.2 Service shutting down, closing channel\r\n")
                            .await;
                    } else if mode == GateMode::Silent as u8 {
                        // Until the client gives up and closes its end.
                        let _ = tokio::io::copy(&mut client, &mut tokio::io::sink()).await;
                    } else if mode == GateMode::Open as u8 {
                        if let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    }
                });
            }
        });
        Self { port, mode, task }
    }

    pub fn set(&self, mode: GateMode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

impl Drop for SmtpGate {
    fn drop(&mut self) {
        self.task.abort();
    }
}
