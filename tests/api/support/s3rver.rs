//! A second S3-compatible server for what moto does not check: moto takes any presigned URL,
//! expiry and key unread (moto 5 checks only header-signed requests, and only when told to).
//! s3rver (npm `s3rver`, which `scripts/test` installs) refuses a SigV4 query-signed URL past its
//! `X-Amz-Date` + `X-Amz-Expires` with "Request has expired", and one of an unknown access key
//! with `InvalidAccessKeyId`, as S3 does (its `lib/middleware/authentication.js`). It does not
//! recompute SigV4 signatures ("unimplemented" there); botocore does that in
//! tests/s3/check_presigned_url.py. Started on a free port of 127.0.0.1
//! with a bucket of its own and a data folder of its own, probed until it answers, killed when
//! dropped. Without it the test skips with a message, except in CI, where it fails.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// s3rver's one account (its `S3RVER` default), which it checks signatures against.
pub const S3RVER_KEY: &str = "S3RVER";
pub const S3RVER_SECRET: &str = "S3RVER";

pub struct S3rver {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl S3rver {
    /// s3rver with `bucket` made, or `None` (with a message) when it is missing outside CI.
    pub async fn start(bucket: &str) -> Option<Self> {
        let installed = Command::new("s3rver")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            if std::env::var_os("CI").is_none() {
                eprintln!(
                    "SKIPPED: s3rver is not installed; `npm install -g s3rver@3` to run this test"
                );
                return None;
            }
            panic!("CI must check presigned URL expiry, but s3rver is not installed");
        }
        let data = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("s3rver")
            .arg("-d")
            .arg(data.path())
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-s"])
            .args(["--configure-bucket", bucket])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting s3rver");
        let mut server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _data: data,
        };
        server.wait_until_up(bucket).await;
        Some(server)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Up once the configured bucket answers (an unsigned request: any HTTP answer will do).
    async fn wait_until_up(&mut self, bucket: &str) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if http
                .get(format!("{}/{bucket}", self.url))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("s3rver exited before answering: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "s3rver did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for S3rver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
