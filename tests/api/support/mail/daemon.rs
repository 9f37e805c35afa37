//! What Dovecot and Postfix have in common here: a master process the test spawned, ready once
//! its own greeting (a token unique to the instance) answers on its port, stopped when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

const PATIENCE: Duration = Duration::from_secs(20);

/// A master process and the log it writes.
pub struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// Why a master went away before it greeted.
pub enum Failed {
    /// Another process took one of its ports between our choosing it and its binding it:
    /// worth another try on other ports.
    PortTaken,
    /// Anything else: the message says what, with the log.
    Other(String),
}

impl Daemon {
    pub fn new(name: &'static str, child: Child, log: PathBuf) -> Self {
        Self { name, child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until a connection to `port` opens with a line holding `token`. The token is the
    /// instance's own, so a server of another test that has just taken the port is not mistaken
    /// for this one; and a master binds all its ports before it serves any, so one greeting is
    /// evidence of all of them.
    pub async fn wait_for_greeting(&mut self, port: u16, token: &str) -> Result<(), Failed> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if greets(port, token).await {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = self.log();
                return Err(if log.contains("Address already in use") {
                    Failed::PortTaken
                } else {
                    Failed::Other(format!("{} exited ({status}):\n{log}", self.name))
                });
            }
            if Instant::now() > deadline {
                return Err(Failed::Other(format!(
                    "{} did not greet on port {port} within {PATIENCE:?}:\n{}",
                    self.name,
                    self.log()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Daemon {
    /// SIGTERM to the master's whole process group (each master leads one): its children stop
    /// at once rather than one by one (Dovecot's master alone takes a second to stop them). Should
    /// the master not exit, the group is killed.
    fn drop(&mut self) {
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else {
            return;
        };
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) of the process group our child leads (not reaped yet, so no other
            // group can have its id), and of the child itself, should it lead none after all.
            unsafe {
                libc::kill(-pid, libc::SIGTERM);
                libc::kill(pid, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // SAFETY: as above.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
            let _ = self.child.wait();
        }
    }
}

/// `count` distinct ports that were free a moment ago. Another process may take one before the
/// server binds it: then the server fails with "Address already in use" and is started again on
/// other ports (neither Dovecot nor Postfix can be given port 0 and report what it got).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

/// How many times a server is started on fresh ports before the test gives up.
pub const ATTEMPTS: usize = 5;

/// Whether the first line on `port` holds `token`.
async fn greets(port: u16, token: &str) -> bool {
    let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut line = String::new();
    let mut reader = BufReader::new(stream);
    let read = reader.read_line(&mut line);
    matches!(
        tokio::time::timeout(Duration::from_secs(2), read).await,
        Ok(Ok(_)) if line.contains(token)
    )
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) reads the process's effective user id and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The uid and gid of a local user, by name.
pub fn user_ids(name: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(name).unwrap();
    // SAFETY: an all-zero `passwd` is a valid value of the C struct (null pointers, zero ids);
    // getpwnam_r(3) fills it.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwnam_r(3), the thread-safe lookup, writes only into `entry` and `buffer` (of
    // the length given), and sets `found` to `&entry` or null.
    let status = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    (status == 0 && !found.is_null()).then_some((entry.pw_uid, entry.pw_gid))
}
