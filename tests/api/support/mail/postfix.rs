//! Debian's Postfix with tests/mail/postfix/, a private instance: its own configuration, queue and
//! data folders, submission on two ports of 127.0.0.1, delivery over LMTP to the test's Dovecot.
//!
//! Its master runs as root, because it cannot run otherwise: `master` refuses to start unless
//! its real uid is 0 ("the master command is reserved for the superuser", src/master/master.c),
//! since it must create the queue as `postfix` and start each service as the user master.cf
//! names. Root here is confined to what the test gave it: the configuration says where it
//! reads and writes (the test's temporary folder), which addresses it listens on (127.0.0.1,
//! ports chosen by the test), and that nothing is delivered anywhere but the test's Dovecot (mail
//! for other domains stays in the queue). Its services drop to the `postfix` user as they do in
//! any Debian installation, and nothing of the machine's own Postfix (/etc/postfix, its queue,
//! port 25) is touched; the two can run side by side.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::daemon::{free_ports, user_ids, Daemon, Failed, ATTEMPTS};
use crate::support::Certificate;

pub const POSTFIX: &str = "/usr/sbin/postfix";
pub const MASTER: &str = "/usr/lib/postfix/sbin/master";
pub const POSTMAP: &str = "/usr/sbin/postmap";
pub const POSTQUEUE: &str = "/usr/sbin/postqueue";

/// A running Postfix. Stopped when dropped.
pub struct Postfix {
    daemon: Daemon,
    dir: PathBuf,
    /// How many times the table of mailboxes was built (see `write_mailboxes`).
    tables: AtomicU64,
    pub submission_port: u16,
    pub smtps_port: u16,
}

impl Postfix {
    /// Starts Postfix in `dir` (made here) for `domains`, authenticating and delivering through
    /// the Dovecot whose sockets are given, and waits until it greets.
    pub async fn start(
        dir: &Path,
        domains: &[String],
        lmtp_socket: &Path,
        auth_socket: &Path,
        cert: &Certificate,
    ) -> Self {
        let conf = dir.join("conf");
        for sub in ["conf", "queue", "data"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let (postfix_uid, postfix_gid) = user_ids("postfix").unwrap_or_else(|| {
            panic!("Debian's postfix creates the user `postfix`, but there is none")
        });
        // Postfix keeps its TLS session cache and address verification here, as `postfix`.
        std::os::unix::fs::chown(dir.join("data"), Some(postfix_uid), Some(postfix_gid)).unwrap();
        // Each address may be sent from only by the login of the same name.
        std::fs::write(conf.join("sender_logins"), "/^(.+)$/ ${1}\n").unwrap();

        let greeting = format!("Bheem test Postfix {:016x}", rand::random::<u64>());
        let main = include_str!("../../../mail/postfix/main.cf")
            .replace("{{DIR}}", &dir.display().to_string())
            .replace("{{GREETING}}", &greeting)
            .replace("{{HOSTNAME}}", &format!("mail.{}", domains[0]))
            .replace("{{DOMAINS}}", &domains.join(", "))
            .replace("{{LMTP}}", &lmtp_socket.display().to_string())
            .replace("{{AUTH}}", &auth_socket.display().to_string())
            .replace("{{CERT}}", &cert.cert_file.display().to_string())
            .replace("{{KEY}}", &cert.key_file.display().to_string());
        write_settled(&conf.join("main.cf"), &main);
        write_mailboxes(dir, &[], 0);

        for attempt in 1..=ATTEMPTS {
            let [submission_port, smtps_port] = free_ports();
            let master = include_str!("../../../mail/postfix/master.cf")
                .replace("{{SUBMISSION_PORT}}", &submission_port.to_string())
                .replace("{{SMTPS_PORT}}", &smtps_port.to_string());
            write_settled(&conf.join("master.cf"), &master);
            // What `postfix start` does first: checks the configuration and makes the queue's
            // folders, owned by `postfix` and `postdrop`.
            run(Command::new(POSTFIX).arg("-c").arg(&conf).arg("check"));
            // The master itself, in the foreground (as `postfix start-fg` runs it), a child of
            // the test; it leads a process group of its own (setsid). It sends its output to
            // /dev/null itself.
            let child = Command::new(MASTER)
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting Postfix's master");
            let mut daemon = Daemon::new("postfix", child, dir.join("postfix.log"));
            match daemon.wait_for_greeting(submission_port, &greeting).await {
                Ok(()) => {
                    return Self {
                        daemon,
                        dir: dir.to_owned(),
                        tables: AtomicU64::new(1),
                        submission_port,
                        smtps_port,
                    }
                }
                Err(Failed::PortTaken) => continue,
                // The master binds its ports before its log service runs, and says why it
                // could not only to syslog (/dev/log), which the test cannot read: a master
                // gone without a word most likely found a port taken. Its configuration was
                // checked above; should it fail every time, this is not about ports.
                Err(Failed::Other(_)) if daemon.log().is_empty() && attempt < ATTEMPTS => continue,
                Err(Failed::Other(message)) => panic!(
                    "{message}\n(before its log service runs, Postfix's master reports only to \
                     syslog)\nmaster.cf:\n{master}"
                ),
            }
        }
        panic!("postfix found its ports taken {ATTEMPTS} times over")
    }

    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// Sets the mailboxes Postfix accepts mail for (Mailcow asks its database). Each smtpd
    /// sees the rebuilt table before it takes its next connection.
    pub fn set_mailboxes(&self, addresses: &[&str]) {
        write_mailboxes(
            &self.dir,
            addresses,
            self.tables.fetch_add(1, Ordering::SeqCst),
        );
    }

    /// Every recipient of every message in the queue, as `postqueue -j` lists them.
    pub fn queued_recipients(&self) -> Vec<String> {
        let output = run(Command::new(POSTQUEUE)
            .arg("-c")
            .arg(self.dir.join("conf"))
            .arg("-j"));
        let mut recipients = Vec::new();
        for line in output.lines().filter(|l| !l.trim().is_empty()) {
            let message: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("postqueue -j printed {line:?}: {e}"));
            for recipient in message["recipients"].as_array().into_iter().flatten() {
                recipients.push(recipient["address"].as_str().unwrap().to_owned());
            }
        }
        recipients
    }
}

/// Writes the table of mailboxes in `dir`'s configuration and builds its hash file, the
/// `generation`th. A Postfix process sees that a table it opened has changed by its time stamp,
/// in whole seconds: a table rebuilt within the second it was opened would go unnoticed. So each
/// build is stamped with a second of its own, later than the last one's: a day ago (whole
/// seconds), plus the generation. The source gets the same stamp, so that the table is never
/// older than its source (Postfix would warn).
fn write_mailboxes(dir: &Path, addresses: &[&str], generation: u64) {
    let table = dir.join("conf/mailboxes");
    let lines: String = addresses.iter().map(|a| format!("{a} OK\n")).collect();
    std::fs::write(&table, lines).unwrap();
    run(Command::new(POSTMAP)
        .arg("-c")
        .arg(dir.join("conf"))
        .arg(format!("hash:{}", table.display())));
    let a_day_ago = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 86_400;
    let stamp = SystemTime::UNIX_EPOCH + Duration::from_secs(a_day_ago + generation);
    for file in [table.clone(), dir.join("conf/mailboxes.db")] {
        File::options()
            .write(true)
            .open(file)
            .unwrap()
            .set_modified(stamp)
            .unwrap();
    }
}

/// Writes a configuration file stamped a minute ago. Each Postfix program waits until its
/// main.cf has not changed for a second before it reads it (so as not to read one being edited),
/// which would add seconds to every start.
fn write_settled(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(60))
        .unwrap();
}

/// Runs one of Postfix's tools to its end: its output, or a failure with its messages.
fn run(command: &mut Command) -> String {
    let output = command.output().expect("running a Postfix tool");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
