//! Debian's Dovecot with tests/mail/dovecot.conf, as Debian's unprivileged `dovecot` user, in a
//! folder of its own: IMAP on two ports of 127.0.0.1 (plain with STARTTLS, and TLS), LMTP and
//! SASL on unix sockets for Postfix, mailboxes from passwd-files the harness writes.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::daemon::{free_ports, user_ids, Daemon, Failed, ATTEMPTS};

pub const DOVECOT: &str = "/usr/sbin/dovecot";
pub const DOVEADM: &str = "/usr/bin/doveadm";
/// The user (and group) Debian's package runs Dovecot's internal processes as; here it runs all
/// of them.
const USER: &str = "dovecot";

/// A running Dovecot. Stopped when dropped.
pub struct Dovecot {
    daemon: Daemon,
    dir: PathBuf,
    uid: u32,
    gid: u32,
    pub imap_port: u16,
    pub imaps_port: u16,
}

impl Dovecot {
    /// Starts Dovecot in `dir` (which holds `cert.pem` and `key.pem` already) with the master
    /// user, and waits until it greets.
    pub async fn start(dir: &Path, master_user: &str, master_password: &str) -> Self {
        let (uid, gid) = user_ids(USER).unwrap_or_else(|| {
            panic!("Debian's dovecot-core creates the user `{USER}`, but there is none")
        });
        for sub in ["mail", "state", "users"] {
            std::fs::create_dir(dir.join(sub)).unwrap();
        }
        // As Mailcow's docker-entrypoint.sh writes dovecot-master.passwd: `{SHA1}` and the hex
        // digest, six empty fields.
        let digest = hex(&openssl::sha::sha1(master_password.as_bytes()));
        std::fs::write(
            dir.join("master.passwd"),
            format!("{master_user}:{{SHA1}}{digest}::::::\n"),
        )
        .unwrap();
        std::fs::set_permissions(dir.join("key.pem"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        chown_all(dir, uid, gid);

        let greeting = format!("Bheem test Dovecot {:016x}", rand::random::<u64>());
        for _ in 0..ATTEMPTS {
            let [imap_port, imaps_port] = free_ports();
            let conf = include_str!("../../../mail/dovecot.conf")
                .replace("{{DIR}}", &dir.display().to_string())
                .replace("{{GREETING}}", &greeting)
                .replace("{{USER}}", USER)
                .replace("{{GROUP}}", USER)
                .replace("{{UID}}", &uid.to_string())
                .replace("{{GID}}", &gid.to_string())
                .replace("{{IMAP_PORT}}", &imap_port.to_string())
                .replace("{{IMAPS_PORT}}", &imaps_port.to_string());
            std::fs::write(dir.join("dovecot.conf"), conf).unwrap();
            // A master that failed leaves its pid file and sockets; the next one starts clean.
            let _ = std::fs::remove_dir_all(dir.join("run"));
            let stderr = File::create(dir.join("dovecot.stderr")).unwrap();
            let child = Command::new(DOVECOT)
                .arg("-F")
                .arg("-c")
                .arg(dir.join("dovecot.conf"))
                .uid(uid)
                .gid(gid)
                // A group of its own, which `Daemon`'s drop stops as one.
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("starting dovecot");
            let mut daemon = Daemon::new("dovecot", child, dir.join("dovecot.log"));
            match daemon.wait_for_greeting(imap_port, &greeting).await {
                Ok(()) => {
                    return Self {
                        daemon,
                        dir: dir.to_owned(),
                        uid,
                        gid,
                        imap_port,
                        imaps_port,
                    }
                }
                Err(Failed::PortTaken) => continue,
                Err(Failed::Other(message)) => {
                    let stderr = std::fs::read_to_string(dir.join("dovecot.stderr"));
                    panic!("{message}\n{}", stderr.unwrap_or_default())
                }
            }
        }
        panic!("dovecot found its ports taken {ATTEMPTS} times over")
    }

    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// The unix socket Postfix delivers to over LMTP.
    pub fn lmtp_socket(&self) -> PathBuf {
        self.dir.join("lmtp")
    }

    /// The unix socket Postfix's smtpd asks about SASL logins.
    pub fn auth_socket(&self) -> PathBuf {
        self.dir.join("auth-postfix")
    }

    /// Adds a mailbox: one passwd-file of its own, `users/<domain>/<local part>`. Dovecot looks
    /// a file up by the login's name each time and keeps no file it did not find, so a mailbox
    /// is there from the moment its file is (one shared file would be read again only when
    /// seen to change, and looked at no more than once a second). The rename makes Dovecot never
    /// see half a file.
    pub fn add_user(&self, address: &str, password: &str, quota_bytes: u64) {
        let (local, domain) = address.split_once('@').expect("an address with a domain");
        let folder = self.dir.join("users").join(domain);
        for dir in [folder.parent().unwrap(), &folder] {
            if !dir.exists() {
                std::fs::create_dir(dir).unwrap();
                std::os::unix::fs::chown(dir, Some(self.uid), Some(self.gid)).unwrap();
            }
        }
        // Fields: user, password, uid, gid, gecos, home, shell, extra fields. The empty ones
        // come from dovecot.conf (mail_uid, mail_gid, mail_home).
        let digest = hex(&openssl::sha::sha256(password.as_bytes()));
        let line = format!(
            "{address}:{{SHA256.HEX}}{digest}::::::userdb_quota_rule=*:storage={quota_bytes}B\n"
        );
        let next = folder.join(format!(".{local}.next"));
        let mut file = File::create(&next).unwrap();
        file.write_all(line.as_bytes()).unwrap();
        file.sync_all().unwrap();
        std::os::unix::fs::chown(&next, Some(self.uid), Some(self.gid)).unwrap();
        std::fs::rename(&next, folder.join(local)).unwrap();
    }

    /// The Maildir folder of a mailbox's `folder` ("INBOX", "Sent", "a/b"), in Maildir++ layout.
    pub fn maildir(&self, address: &str, folder: &str) -> PathBuf {
        let (local, domain) = address.split_once('@').expect("an address with a domain");
        let root = self
            .dir
            .join("mail")
            .join(domain)
            .join(local)
            .join("Maildir");
        if folder.eq_ignore_ascii_case("INBOX") {
            root
        } else {
            root.join(format!(".{}", folder.replace('/', ".")))
        }
    }

    /// Stores `raw` in a mailbox's `folder` through `doveadm save`, as Dovecot itself would.
    pub fn save(&self, address: &str, folder: &str, raw: &[u8]) {
        let mut child = Command::new(DOVEADM)
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .args(["save", "-u", address, "-m", folder])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting doveadm");
        child.stdin.take().unwrap().write_all(raw).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "doveadm save into {address}'s {folder} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Gives `dir` and everything in it to Dovecot's user: its processes write there, and read the
/// key and the passwd-files.
fn chown_all(dir: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            chown_all(&path, uid, gid);
        } else {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
