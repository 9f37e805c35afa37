//! A real CalDAV server laid out as Nextcloud's: Radicale under cheroot (PyPI `radicale`,
//! `cheroot`, which `scripts/test` installs) running tests/caldav/nextcloud_caldav.py, with each
//! user's calendars at `/remote.php/dav/calendars/{uid}/{calendar}/`. It checks every bearer
//! token at the provider's userinfo endpoint, as user_oidc does with `--check-bearer=1`, takes
//! the user id from the claim `uid_claim`, gives each user a `personal` calendar at their first
//! request as Nextcloud does at the first login, and answers 404 for another user's home and
//! anything in it (Nextcloud's DavAclPlugin).
//!
//! Started and stopped as [`PyServer`] does: a port of its own, probed until it answers, a
//! temporary folder (the calendars, its log), killed when dropped. Without Radicale the tests
//! that need it skip with a message, except in CI, where they fail.

use std::process::Command;

use super::py_server::PyServer;

/// How a [`CalDavServer`] authenticates.
#[derive(Clone, Debug)]
pub struct CalDavOptions {
    /// The provider's userinfo endpoint (`{hub}/api/v1/sso/userinfo`).
    pub userinfo_url: String,
    /// The userinfo claim that is the Nextcloud user id (`preferred_username`, `sub`, `email`).
    pub uid_claim: String,
}

pub struct CalDavServer {
    server: PyServer,
}

impl CalDavServer {
    /// A fresh server with no calendars, or `None` (with a message) when Radicale is not
    /// installed outside CI.
    pub async fn start(options: CalDavOptions) -> Option<Self> {
        let python = super::python::with_modules(
            "radicale, cheroot",
            // Two packages: the skip message quotes this as one argument of `pip install`.
            "radicale>=3.2,<4' 'cheroot>=11,<12",
            "run the Nextcloud calendar tests",
        )?;
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/caldav/nextcloud_caldav.py"
        );
        let mut command = Command::new(&python);
        command
            .arg(script)
            .arg("--root")
            .arg(dir.path().join("calendars"))
            .args(["--userinfo-url", &options.userinfo_url])
            .args(["--uid-claim", &options.uid_claim])
            .arg("--port-file")
            .arg(dir.path().join("port"))
            .arg("--log-file")
            .arg(dir.path().join("caldav.log"));
        // Up once an unauthenticated request is answered (401).
        let server = PyServer::start(
            command,
            dir,
            "caldav.log",
            "the CalDAV server",
            "/remote.php/dav/calendars/",
            reqwest::StatusCode::UNAUTHORIZED,
        )
        .await;
        Some(Self { server })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash: the Nextcloud URL to configure, so
    /// calendars are under `{url}/remote.php/dav/calendars/{uid}/`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// `{url}/remote.php/dav/calendars/{uid}/`: `uid`'s calendar home.
    pub fn home_url(&self, uid: &str) -> String {
        format!("{}/remote.php/dav/calendars/{uid}/", self.url())
    }

    /// `{url}/remote.php/dav/calendars/{uid}/{calendar}/`.
    pub fn calendar_url(&self, uid: &str, calendar: &str) -> String {
        format!("{}{calendar}/", self.home_url(uid))
    }

    /// Where Radicale keeps the calendars (`collection-root/{uid}/{calendar}/{name}.ics`).
    pub fn storage(&self) -> std::path::PathBuf {
        self.server.dir().join("calendars")
    }

    /// The file holding what the server logged (requests, refusals; never tokens or bodies).
    pub fn log_path(&self) -> std::path::PathBuf {
        self.server.dir().join("caldav.log")
    }

    /// What the server logged, for a failing test.
    pub fn log(&self) -> String {
        self.server.log()
    }
}
