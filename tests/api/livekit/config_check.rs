//! `bheem-sso config check` with `[meet]`: LiveKit's server API and the recordings' S3 endpoint
//! are asked like every downstream service, and no secret is printed.

use crate::cli::{bheem_sso, text};
use crate::fakes::livekit::FakeLiveKit;
use crate::support::TestConfig;

use super::{API_KEY, API_SECRET};

#[tokio::test]
async fn config_check_asks_livekit_and_the_s3_endpoint() {
    let livekit = FakeLiveKit::start(API_KEY, API_SECRET).await;
    let s3_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut config = TestConfig::default();
    config
        .set("meet.livekit_url", livekit.url())
        .set("meet.ws_url", livekit.url().replacen("http://", "ws://", 1))
        .set("meet.api_key", API_KEY)
        .set("meet.api_secret_env", "LIVEKIT_SECRET_FOR_CHECK")
        .set("meet.join_url_base", "https://meet.example.org/join/")
        .set(
            "meet.recordings.s3_endpoint",
            format!("http://127.0.0.1:{s3_port}"),
        )
        .set("meet.recordings.s3_region", "us-east-1")
        .set("meet.recordings.s3_bucket", "recordings")
        .set("meet.recordings.s3_access_key_env", "S3_KEY_FOR_CHECK")
        .set("meet.recordings.s3_secret_key_env", "S3_SECRET_FOR_CHECK");
    let file = dir.path().join("sso.toml");
    std::fs::write(&file, config.to_string()).unwrap();
    let mut check = bheem_sso(dir.path());
    check
        .args(["config", "check", "--config"])
        .arg(&file)
        .env("LIVEKIT_SECRET_FOR_CHECK", API_SECRET)
        .env("S3_KEY_FOR_CHECK", "AKIACHECK0000000001")
        .env("S3_SECRET_FOR_CHECK", "s3-secret-for-the-check-01");
    let out = tokio::process::Command::from(check).output().await.unwrap();
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let problems: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .collect();
    assert_eq!(problems.len(), 1, "{stdout}");
    assert!(
        problems[0].starts_with("problem: `meet.recordings.s3_endpoint`: ")
            && problems[0].contains("does not answer"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("ok: {} answers", livekit.url())),
        "{stdout}"
    );
    for secret in [API_SECRET, "s3-secret-for-the-check-01"] {
        assert!(!stdout.contains(secret), "{stdout}");
    }
}
