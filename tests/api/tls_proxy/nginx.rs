//! Debian's nginx, started by the test in a folder of its own, in front of bheem-sso with the
//! site that deploy/nginx/bheem-sso.conf ships: only ports, certificate and log paths changed.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::Certificate;

/// Where Debian's `nginx` package puts it.
pub const NGINX: &str = "/usr/sbin/nginx";
const PATIENCE: Duration = Duration::from_secs(20);

/// A running nginx: its plain-HTTP port and its logs. Stopped when dropped.
pub struct Nginx {
    process: Child,
    dir: PathBuf,
    pub http_port: u16,
}

impl Nginx {
    /// nginx's path, or `None` (skip) outside CI when it is not installed; in CI a failure.
    pub fn installed() -> Option<&'static Path> {
        if Path::new(NGINX).is_file() {
            return Some(Path::new(NGINX));
        }
        if std::env::var_os("CI").is_some() {
            panic!("CI must run the TLS proxy test, but {NGINX} is missing: install Debian's nginx (scripts/test does)");
        }
        eprintln!("SKIPPED: {NGINX} is missing; install Debian's nginx to run this test");
        None
    }

    /// Starts nginx on `https_port` and `http_port`, proxying to bheem-sso at `upstream`, and
    /// waits until it takes connections.
    pub async fn start(
        dir: &Path,
        https_port: u16,
        http_port: u16,
        upstream: std::net::SocketAddr,
        cert: &Certificate,
    ) -> Self {
        let site = render_site(dir, https_port, http_port, upstream, cert);
        std::fs::write(dir.join("site.conf"), site).unwrap();
        let main = include_str!("../../nginx/nginx.conf")
            .replace("{{DIR}}", &dir.display().to_string())
            // As root, the workers would run as `nobody`, who cannot enter the test's folder.
            .replace("{{USER}}", if is_root() { "user root root;" } else { "" });
        std::fs::write(dir.join("nginx.conf"), main).unwrap();

        let check = Command::new(NGINX)
            .args(nginx_args(dir))
            .arg("-t")
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "nginx rejects the configuration:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let process = Command::new(NGINX)
            .args(nginx_args(dir))
            .args(["-g", "daemon off;"])
            // A group of its own: see `Drop`.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let mut nginx = Self {
            process,
            dir: dir.to_owned(),
            http_port,
        };
        let deadline = Instant::now() + PATIENCE;
        while tokio::net::TcpStream::connect(("127.0.0.1", https_port))
            .await
            .is_err()
        {
            if let Some(status) = nginx.process.try_wait().unwrap() {
                panic!("nginx exited ({status}):\n{}", nginx.error_log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx never opened port {https_port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        nginx
    }

    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    /// SIGTERM: the master stops its workers and exits. Should it not, the whole group goes.
    fn drop(&mut self) {
        let pid = self.process.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.process.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status();
        let _ = self.process.wait();
    }
}

/// `-p` the prefix, `-c` the configuration, `-e` the error log from the first moment (before
/// the configuration is read, nginx would otherwise open /var/log/nginx/error.log).
fn nginx_args(dir: &Path) -> Vec<String> {
    vec![
        "-p".into(),
        format!("{}/", dir.display()),
        "-c".into(),
        dir.join("nginx.conf").display().to_string(),
        "-e".into(),
        dir.join("error.log").display().to_string(),
    ]
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) reads the process's effective user id and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The shipped site with this test's ports, certificate and logs. Each change must find what it
/// replaces, so a change to the shipped file that this test does not follow fails here, loudly.
fn render_site(
    dir: &Path,
    https_port: u16,
    http_port: u16,
    upstream: std::net::SocketAddr,
    cert: &Certificate,
) -> String {
    let mut site = include_str!("../../../deploy/nginx/bheem-sso.conf").to_owned();
    let access_log = dir.join("access.log").display().to_string();
    let changes = [
        (
            "listen 443 ssl http2;",
            format!("listen 127.0.0.1:{https_port} ssl http2;"),
        ),
        ("listen 80;", format!("listen 127.0.0.1:{http_port};")),
        // Loopback IPv4 is all the test uses, and a container may have no IPv6.
        ("listen [::]:443 ssl http2;", String::new()),
        ("listen [::]:80;", String::new()),
        ("server 127.0.0.1:8080;", format!("server {upstream};")),
        (
            "/etc/letsencrypt/live/sso.example.com/fullchain.pem",
            cert.cert_file.display().to_string(),
        ),
        (
            "/etc/letsencrypt/live/sso.example.com/privkey.pem",
            cert.key_file.display().to_string(),
        ),
        ("/var/log/nginx/bheem-sso.access.log", access_log),
    ];
    for (shipped, here) in changes {
        assert!(
            site.contains(shipped),
            "deploy/nginx/bheem-sso.conf no longer has `{shipped}`"
        );
        site = site.replace(shipped, &here);
    }
    site
}
