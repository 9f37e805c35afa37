//! A real WebDAV server laid out as Nextcloud's: wsgidav under cheroot (PyPI `wsgidav`,
//! `cheroot`, which `scripts/test` installs) running tests/webdav/nextcloud_dav.py, with each
//! user's files at `/remote.php/dav/files/{uid}/` and `{root}/{uid}/` on disk. It checks every
//! bearer token at the provider's userinfo endpoint, as user_oidc does with `--check-bearer=1`,
//! and takes the user id from the claim `uid_claim`.
//!
//! Started and stopped as [`PyServer`] does: a port of its own, probed until it answers, a
//! temporary folder (the files, its log), killed when dropped. Without wsgidav the tests that
//! need it skip with a message, except in CI, where they fail.

use std::path::PathBuf;
use std::process::Command;

use super::py_server::PyServer;

/// How a [`DavServer`] authenticates and how much each user may store.
#[derive(Clone, Debug)]
pub struct DavOptions {
    /// The provider's userinfo endpoint (`{hub}/api/v1/sso/userinfo`).
    pub userinfo_url: String,
    /// The userinfo claim that is the Nextcloud user id (`preferred_username`, `sub`, `email`).
    pub uid_claim: String,
    /// Each user's quota; `None` for unlimited.
    pub quota_bytes: Option<u64>,
}

pub struct DavServer {
    server: PyServer,
}

impl DavServer {
    /// A fresh server with no files, or `None` (with a message) when wsgidav is not installed
    /// outside CI.
    pub async fn start(options: DavOptions) -> Option<Self> {
        let python = super::python::with_modules(
            "wsgidav, cheroot",
            // Two packages: the skip message quotes this as one argument of `pip install`.
            "wsgidav>=4,<5' 'cheroot>=11,<12",
            "run the Nextcloud files tests",
        )?;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webdav/nextcloud_dav.py");
        let mut command = Command::new(&python);
        command
            .arg(script)
            .arg("--root")
            .arg(dir.path().join("root"))
            .arg("--parts-dir")
            .arg(dir.path().join("parts"))
            .args(["--userinfo-url", &options.userinfo_url])
            .args(["--uid-claim", &options.uid_claim])
            .arg("--port-file")
            .arg(dir.path().join("port"))
            .arg("--log-file")
            .arg(dir.path().join("dav.log"));
        if let Some(quota) = options.quota_bytes {
            command.args(["--quota-bytes", &quota.to_string()]);
        }
        // Up once an unauthenticated request is answered (401).
        let server = PyServer::start(
            command,
            dir,
            "dav.log",
            "the WebDAV server",
            "/remote.php/dav/",
            reqwest::StatusCode::UNAUTHORIZED,
        )
        .await;
        Some(Self { server })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash; files are under
    /// `{url}/remote.php/dav/files/{uid}/`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// The folder holding one home per user.
    pub fn root(&self) -> PathBuf {
        self.server.dir().join("root")
    }

    /// `uid`'s home on disk (made at their first authenticated request, or by the test).
    pub fn user_dir(&self, uid: &str) -> PathBuf {
        self.root().join(uid)
    }
}
