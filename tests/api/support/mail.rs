//! Real mail servers for the tests of Bheem Mail: Debian's Dovecot (IMAP, LMTP) and Postfix
//! (submission), set up as Mailcow sets them up where the hub meets them (tests/mail/README), each
//! started by the test on free ports of 127.0.0.1 in a temporary folder of its own, probed until
//! it greets, stopped and removed when dropped.
//!
//! The hub reads and sends as a person without their password, as Mailcow's own tools do (SOGo's
//! Sieve, imapsync): IMAP and SMTP logins as `alice@acme.example*master` with the master password
//! (Dovecot's master user; Postfix asks Dovecot). Mailboxes are added while the servers run.
//!
//! Without Dovecot or Postfix installed, or when the tests do not run as root (Postfix's master
//! needs it, see mail/postfix.rs), `start` gives `None` outside CI, where the test skips with a
//! message, and fails in CI, which must run every test (`scripts/test` installs both).

mod daemon;
mod dovecot;
mod postfix;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::distributions::{Alphanumeric, DistString};

use super::certificate::Certificate;
use dovecot::{Dovecot, DOVEADM, DOVECOT};
use postfix::{Postfix, MASTER, POSTFIX, POSTMAP, POSTQUEUE};

/// A new mailbox's quota unless the test gives one: 1 GiB.
pub const DEFAULT_QUOTA_BYTES: u64 = 1 << 30;

/// What the servers are set up for.
#[derive(Clone, Debug)]
pub struct MailOptions {
    /// The mail domains (`acme.example`): Postfix delivers mail for their mailboxes to Dovecot
    /// and keeps mail for any other domain in its queue.
    pub domains: Vec<String>,
    /// Dovecot's master user, as it follows `*` in a login: with Mailcow, mailcow.conf's
    /// `DOVECOT_MASTER_USER` with `@mailcow.local` appended (`bheem@mailcow.local`).
    pub master_user: String,
    /// Its password (`DOVECOT_MASTER_PASS`).
    pub master_password: String,
}

/// Dovecot and Postfix, running. Dropping it stops both and removes their folder.
pub struct MailServers {
    // Dropped in this order: Postfix first (it delivers to Dovecot), then Dovecot, then the
    // folder they used.
    postfix: Postfix,
    dovecot: Dovecot,
    cert: Certificate,
    options: MailOptions,
    mailboxes: Mutex<BTreeSet<String>>,
    _dir: tempfile::TempDir,
}

impl MailServers {
    /// Starts Dovecot, then Postfix, and waits until both greet; `None` (with a message) outside
    /// CI when they cannot run here.
    pub async fn start(options: MailOptions) -> Option<Self> {
        if let Some(reason) = cannot_run() {
            if std::env::var_os("CI").is_none() {
                eprintln!("SKIPPED: {reason}; `scripts/test` (as root) sets the machine up");
                return None;
            }
            panic!("CI must run the mail tests, but {reason}");
        }
        assert!(
            !options.domains.is_empty(),
            "the mail servers need a domain"
        );
        assert!(
            !options.master_user.contains([':', '*', '\n']),
            "the master user {:?} cannot be written into a passwd-file",
            options.master_user
        );
        super::remember_secret(&options.master_password);

        let dir = tempfile::tempdir().unwrap();
        // Postfix's processes (as `postfix`) reach Dovecot's sockets in here, and Dovecot's
        // (as `dovecot`) its own folder.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let dovecot_dir = dir.path().join("dovecot");
        std::fs::create_dir(&dovecot_dir).unwrap();
        let cert = Certificate::self_signed(&dovecot_dir);
        let dovecot =
            Dovecot::start(&dovecot_dir, &options.master_user, &options.master_password).await;
        let postfix = Postfix::start(
            &dir.path().join("postfix"),
            &options.domains,
            &dovecot.lmtp_socket(),
            &dovecot.auth_socket(),
            &cert,
        )
        .await;
        Some(Self {
            postfix,
            dovecot,
            cert,
            options,
            mailboxes: Mutex::new(BTreeSet::new()),
            _dir: dir,
        })
    }

    /// IMAP on 127.0.0.1, plain, with STARTTLS offered (Mailcow's 143). Logins need no TLS
    /// here: Dovecot counts loopback connections as secured.
    pub fn imap_port(&self) -> u16 {
        self.dovecot.imap_port
    }

    /// IMAP with TLS from the first byte (Mailcow's 993), with [`Self::ca_pem`]'s certificate.
    pub fn imaps_port(&self) -> u16 {
        self.dovecot.imaps_port
    }

    /// SMTP submission on 127.0.0.1, with STARTTLS offered and AUTH allowed without it.
    pub fn submission_port(&self) -> u16 {
        self.postfix.submission_port
    }

    /// SMTP submission with TLS from the first byte (Mailcow's 465).
    pub fn smtps_port(&self) -> u16 {
        self.postfix.smtps_port
    }

    /// The self-signed certificate both servers present (for 127.0.0.1 and localhost), as PEM:
    /// the one root a client of the TLS ports should trust.
    pub fn ca_pem(&self) -> &[u8] {
        &self.cert.pem
    }

    /// The master user's password.
    pub fn master_password(&self) -> &str {
        &self.options.master_password
    }

    /// The login that acts as `address` with the master password: `address*master_user`.
    pub fn master_login(&self, address: &str) -> String {
        format!("{address}*{}", self.options.master_user)
    }

    /// Adds a mailbox with the default quota; see [`Self::add_mailbox_with_quota`].
    pub fn add_mailbox(&self, address: &str) -> String {
        self.add_mailbox_with_quota(address, DEFAULT_QUOTA_BYTES)
    }

    /// Adds a mailbox (`alice@acme.example`, in one of the domains) that can log in and receive
    /// mail from now on, with a quota of `quota_bytes`. Its folders (INBOX, Drafts, Sent, Trash,
    /// Junk) are made at its first login or delivery. Returns its own password, random: the hub
    /// never uses it (it logs in as the master user), tests may, to show what it does not allow.
    pub fn add_mailbox_with_quota(&self, address: &str, quota_bytes: u64) -> String {
        let domain = address.rsplit_once('@').map(|(_, d)| d);
        assert!(
            domain.is_some_and(|d| self.options.domains.iter().any(|o| o == d)),
            "{address} is not in the mail domains {:?}",
            self.options.domains
        );
        let password = Alphanumeric.sample_string(&mut rand::thread_rng(), 24);
        super::remember_secret(&password);
        let mut mailboxes = self.mailboxes.lock().unwrap();
        assert!(
            mailboxes.insert(address.to_owned()),
            "{address} was added twice"
        );
        self.dovecot.add_user(address, &password, quota_bytes);
        let addresses: Vec<&str> = mailboxes.iter().map(String::as_str).collect();
        self.postfix.set_mailboxes(&addresses);
        password
    }

    /// The messages in a mailbox's folder ("INBOX", "Sent", …) as Dovecot stores them (lines
    /// end in LF, not CRLF), oldest first, read from its Maildir (not through IMAP, so reading
    /// marks nothing as seen).
    pub fn messages(&self, address: &str, folder: &str) -> Vec<Vec<u8>> {
        let maildir = self.dovecot.maildir(address, folder);
        // Dovecot moves a message from new/ to cur/ when a session first sees it; one moved
        // while the folders are read is read again with the next listing.
        loop {
            let mut files: Vec<((u64, u64), std::path::PathBuf)> = Vec::new();
            for sub in ["new", "cur"] {
                let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
                    continue;
                };
                for entry in entries {
                    let entry = entry.unwrap();
                    let name = entry.file_name().to_string_lossy().into_owned();
                    files.push((delivered(&name), entry.path()));
                }
            }
            files.sort();
            let read: Result<Vec<Vec<u8>>, _> =
                files.iter().map(|(_, path)| std::fs::read(path)).collect();
            match read {
                Ok(messages) => return messages,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("reading {address}'s {folder}: {e}"),
            }
        }
    }

    /// Waits until a mailbox's folder holds at least `count` messages (mail submitted a moment
    /// ago is delivered within milliseconds), and returns them; fails with the servers' logs
    /// after 15 s.
    pub async fn wait_for_messages(
        &self,
        address: &str,
        folder: &str,
        count: usize,
    ) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let messages = self.messages(address, folder);
            if messages.len() >= count {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{address}'s {folder} holds {} of {count} messages after 15 s\n\
                 Postfix:\n{}\nDovecot:\n{}",
                messages.len(),
                self.postfix.log(),
                self.dovecot.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stores a message in a mailbox's folder directly (`doveadm save`), as if it had been
    /// delivered or filed there: for tests that need mail to read.
    pub fn save(&self, address: &str, folder: &str, raw: &[u8]) {
        self.dovecot.save(address, folder, raw);
    }

    /// The recipients outside the mail domains of the messages Postfix holds: what was sent
    /// out. Such mail stays in the queue for as long as the servers run; it never leaves.
    pub fn queued_outside(&self) -> Vec<String> {
        self.postfix
            .queued_recipients()
            .into_iter()
            .filter(|r| {
                let domain = r.rsplit_once('@').map_or("", |(_, d)| d);
                !self
                    .options
                    .domains
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(domain))
            })
            .collect()
    }

    /// Dovecot's log so far (logins, deliveries, refusals).
    pub fn dovecot_log(&self) -> String {
        self.dovecot.log()
    }

    /// Postfix's log so far (submissions, refusals, deliveries to Dovecot).
    pub fn postfix_log(&self) -> String {
        self.postfix.log()
    }
}

/// When a message was delivered, from its Maildir name as Dovecot makes it
/// (`<seconds>.M<microseconds>P<pid>.<host>,…`), to order a folder's messages.
fn delivered(name: &str) -> (u64, u64) {
    let (seconds, rest) = name.split_once('.').unwrap_or((name, ""));
    let micros = rest
        .strip_prefix('M')
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next());
    (
        seconds.parse().unwrap_or(u64::MAX),
        micros.and_then(|m| m.parse().ok()).unwrap_or(u64::MAX),
    )
}

/// Why the servers cannot run on this machine, if they cannot.
fn cannot_run() -> Option<String> {
    let missing: Vec<&str> = [DOVECOT, DOVEADM, POSTFIX, MASTER, POSTMAP, POSTQUEUE]
        .into_iter()
        .chain(["/usr/lib/dovecot/imap", "/usr/lib/dovecot/lmtp"])
        .filter(|p| !Path::new(p).is_file())
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "Debian's dovecot-imapd, dovecot-lmtpd and postfix are not all installed (no {})",
            missing.join(", ")
        ));
    }
    if !daemon::is_root() {
        return Some("Postfix's master runs only as root, and the tests do not".to_owned());
    }
    None
}
