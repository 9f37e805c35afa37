//! A real S3-compatible server for the tests: moto in server mode (PyPI `moto[server]`, which
//! `scripts/test` installs), started as the current user on a free port of 127.0.0.1, probed
//! until it answers, killed when dropped. Each test gets its own.
//!
//! Without moto the tests that need it skip with a message, except in CI, where they fail.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

/// moto accepts any credentials; these are what the tests sign with.
pub const S3_ACCESS_KEY: &str = "AKIAMOTOTESTKEY00001";
pub const S3_SECRET_KEY: &str = "moto-test-secret-key-0000000001";
pub const S3_REGION: &str = "us-east-1";

pub struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    /// A fresh moto server, or `None` (with a message) when moto is not installed outside CI.
    pub async fn start() -> Option<Self> {
        let python = super::python::with_modules(
            "moto.server, flask, flask_cors",
            "moto[server]",
            "run the S3 tests",
        )?;
        // A free port: the kernel's pick, released just before moto binds it.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto");
        let mut moto = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        moto.wait_until_up().await;
        Some(moto)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn wait_until_up(&mut self) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = http.get(format!("{}/", self.url)).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("moto exited before answering: {status}");
            }
            assert!(Instant::now() < deadline, "moto did not answer within 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn bucket(&self, name: &str) -> Bucket {
        Bucket::new(
            self.url.parse().unwrap(),
            UrlStyle::Path,
            name.to_owned(),
            S3_REGION,
        )
        .unwrap()
    }

    /// Creates a bucket.
    pub async fn create_bucket(&self, name: &str) {
        let bucket = self.bucket(name);
        let url = bucket
            .create_bucket(&credentials())
            .sign(Duration::from_secs(60));
        // moto wants a Content-Length, even of an empty body.
        let response = reqwest::Client::new()
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, 0)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "creating bucket {name}: {}",
            response.status()
        );
    }

    /// The object's bytes, or `None` when there is no such object.
    pub async fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let bucket = self.bucket(bucket);
        let creds = credentials();
        let url = bucket
            .get_object(Some(&creds), key)
            .sign(Duration::from_secs(60));
        let response = reqwest::Client::new().get(url).send().await.unwrap();
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        assert!(response.status().is_success(), "{}", response.status());
        Some(response.bytes().await.unwrap().to_vec())
    }
}

pub fn credentials() -> Credentials {
    Credentials::new(S3_ACCESS_KEY, S3_SECRET_KEY)
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
