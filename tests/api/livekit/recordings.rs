//! Recording to S3: Egress through the fake LiveKit writes the MP4 into a real S3 server (moto),
//! `egress_ended` tells where, and the presigned URL downloads it.

use std::time::Duration;

use bheem_sso::config::RecordingsConfig;
use bheem_sso::workspace::meet::livekit::{EgressStatus, LiveKit, LiveKitError, NewRoom};
use bheem_sso::workspace::meet::recordings::Recordings;
use rusty_s3::S3Action;

use super::{livekit, meet_config, recordings_config, unix_now, API_SECRET};
use crate::fakes::livekit::FakeLiveKit;
use crate::support::{Moto, S3rver, S3RVER_KEY, S3RVER_SECRET};

#[tokio::test]
async fn a_recording_lands_in_s3_and_its_presigned_url_downloads_it() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let config = recordings_config(&moto, "meet-recordings", 900).await;
    let recordings = Recordings::new(&config).unwrap();
    let (fake, client) = livekit().await;
    fake.set_recording_duration(Duration::from_millis(61_500));
    client
        .create_room(&NewRoom {
            name: "bhm-rec-one",
            ..NewRoom::default()
        })
        .await
        .unwrap();

    let key = recordings.object_key("bhm-rec-one", unix_now());
    let started = client
        .start_recording("bhm-rec-one", &key, recordings.upload_target())
        .await
        .unwrap();
    assert_eq!(started.status, EgressStatus::Starting);
    assert!(started.egress_id.starts_with("EG_"));
    let active = client.list_egress("bhm-rec-one", true).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].egress_id, started.egress_id);

    let stopped = client.stop_egress(&started.egress_id).await.unwrap();
    assert_eq!(stopped.status, EgressStatus::Ending);
    let done = client.list_egress("bhm-rec-one", false).await.unwrap();
    assert_eq!(done[0].status, EgressStatus::Complete);
    let file = &done[0].file_results[0];
    assert_eq!(file.filename, key);
    assert_eq!(file.duration, 61_500_000_000);
    assert_eq!(file.duration_seconds(), 62);
    assert!(client
        .list_egress("bhm-rec-one", true)
        .await
        .unwrap()
        .is_empty());

    let stored = moto
        .object("meet-recordings", &key)
        .await
        .expect("Egress wrote the file to S3");
    assert_eq!(&stored[4..8], b"ftyp", "an MP4's first box");
    assert_eq!(file.size, stored.len() as i64);

    // The egress request carried the bucket's credentials, path-style.
    let egress = fake.egress(&started.egress_id).unwrap();
    assert!(egress.s3.force_path_style);
    assert_eq!(egress.s3.bucket, "meet-recordings");

    // Downloaded with the presigned URL alone: no credentials of the downloader's.
    let url = recordings.download_url(&key, unix_now()).unwrap();
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url.clone())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(response.bytes().await.unwrap().to_vec(), stored);
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["X-Amz-Expires"], "900");

    // Stopping it again: LiveKit's failed_precondition, a refusal.
    let again = client.stop_egress(&started.egress_id).await.unwrap_err();
    assert!(
        matches!(&again, LiveKitError::Refused { code, .. } if code == "failed_precondition"),
        "{again:?}"
    );
}

#[tokio::test]
async fn egress_ended_tells_the_file_its_duration_and_size() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let config = recordings_config(&moto, "meet-hooks", 60).await;
    let recordings = Recordings::new(&config).unwrap();
    let fake = FakeLiveKit::start(super::API_KEY, API_SECRET).await;
    let client = LiveKit::new(&meet_config(&fake.url(), API_SECRET)).unwrap();
    fake.set_recording_duration(Duration::from_secs(5));
    client
        .create_room(&NewRoom {
            name: "bhm-rec-two",
            ..NewRoom::default()
        })
        .await
        .unwrap();
    let key = recordings.object_key("bhm-rec-two", 1_800_000_000);
    let egress = client
        .start_recording("bhm-rec-two", &key, recordings.upload_target())
        .await
        .unwrap();
    client.stop_egress(&egress.egress_id).await.unwrap();

    let (url, received) = webhook_sink().await;
    fake.set_webhook_url(&url);
    let delivery = fake.send_egress_ended(&egress.egress_id).await;
    assert_eq!(delivery.status, Some(200));
    let (auth, body) = received.lock().unwrap()[0].clone();
    let event = client
        .verify_webhook(auth.as_deref(), &body, unix_now())
        .unwrap();
    assert_eq!(event.event, "egress_ended");
    let info = event.egress_info.expect("egress_info");
    assert_eq!(info.egress_id, egress.egress_id);
    assert_eq!(info.room_name, "bhm-rec-two");
    assert_eq!(info.status, EgressStatus::Complete);
    let file = &info.file_results[0];
    assert_eq!(file.filename, key);
    assert!(recordings.owns(&file.filename));
    assert_eq!(file.duration_seconds(), 5);
    let stored = moto.object("meet-hooks", &key).await.unwrap();
    assert_eq!(file.size, stored.len() as i64);
    assert!(
        file.location.ends_with(&format!("/meet-hooks/{key}")),
        "{}",
        file.location
    );
}

#[tokio::test]
async fn a_presigned_url_is_refused_once_expired_or_signed_by_a_stranger() {
    // s3rver, not moto: moto takes any presigned URL (see tests/api/support/s3rver.rs).
    let Some(s3) = S3rver::start("meet-expiry").await else {
        return;
    };
    let recordings = Recordings::new(&RecordingsConfig {
        s3_endpoint: s3.url().to_owned(),
        s3_region: "us-east-1".to_owned(),
        s3_bucket: "meet-expiry".to_owned(),
        s3_access_key: S3RVER_KEY.to_owned().into(),
        s3_secret_key: S3RVER_SECRET.to_owned().into(),
        prefix: "meet/".to_owned(),
        url_ttl_seconds: 60,
    })
    .unwrap();
    let key = recordings.object_key("bhm-expiry", 1_800_000_000);
    let bytes = crate::fakes::livekit::mp4(1);
    let bucket = rusty_s3::Bucket::new(
        s3.url().parse().unwrap(),
        rusty_s3::UrlStyle::Path,
        "meet-expiry",
        "us-east-1",
    )
    .unwrap();
    let put = bucket
        .put_object(
            Some(&rusty_s3::Credentials::new(S3RVER_KEY, S3RVER_SECRET)),
            &key,
        )
        .sign(Duration::from_secs(60));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let stored = http.put(put).body(bytes.clone()).send().await.unwrap();
    assert!(stored.status().is_success(), "{}", stored.status());

    let now = unix_now();
    let fresh = recordings.download_url(&key, now).unwrap();
    let response = http.get(fresh.clone()).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes);

    // Signed 61 s ago with a 60 s lifetime: S3 says it has expired. No waiting: the URL's own
    // X-Amz-Date and X-Amz-Expires say so.
    let stale = recordings.download_url(&key, now - 61).unwrap();
    let response = http.get(stale).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::FORBIDDEN);
    let text = response.text().await.unwrap();
    assert!(text.contains("Request has expired"), "{text}");

    // A URL signed with a key S3 does not know is refused too.
    let foreign = Recordings::new(&RecordingsConfig {
        s3_access_key: "AKIANOTKNOWNHERE0001".to_owned().into(),
        ..recordings.upload_target().clone()
    })
    .unwrap()
    .download_url(&key, now)
    .unwrap();
    let response = http.get(foreign).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::FORBIDDEN);
    let text = response.text().await.unwrap();
    assert!(text.contains("InvalidAccessKeyId"), "{text}");
}

/// Whether botocore computes the URL's signature too; `None` when it is not installed outside
/// CI (skipped with a message). CI fails without it.
fn aws_sdk_agrees(url: &url::Url, access_key: &str, secret_key: &str) -> Option<bool> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let python = crate::support::python_with_modules(
        "botocore.auth",
        "botocore",
        "check presigned URLs with botocore",
    )?;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/s3/check_presigned_url.py"
    );
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("running check_presigned_url.py");
    let input = serde_json::json!({
        "url": url.as_str(), "access_key": access_key, "secret_key": secret_key,
        "region": "eu-central-1",
    });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    Some(child.wait().unwrap().success())
}

#[test]
fn a_presigned_urls_signature_is_the_one_the_aws_sdk_computes() {
    let config = RecordingsConfig {
        s3_endpoint: "https://s3.example.com:9000".to_owned(),
        s3_region: "eu-central-1".to_owned(),
        s3_bucket: "meet-recordings".to_owned(),
        s3_access_key: "AKIAEXAMPLEKEY000001".to_owned().into(),
        s3_secret_key: "example-secret-key-for-signing-0001".to_owned().into(),
        prefix: "meet/".to_owned(),
        url_ttl_seconds: 900,
    };
    let recordings = Recordings::new(&config).unwrap();
    let url = recordings
        .download_url(
            &recordings.object_key("bhm-abc-xyz", 1_800_000_000),
            1_800_000_100,
        )
        .unwrap();
    let key = "AKIAEXAMPLEKEY000001";
    let Some(agrees) = aws_sdk_agrees(&url, key, "example-secret-key-for-signing-0001") else {
        return;
    };
    assert!(agrees, "botocore computes another signature for {url}");
    // The check can fail: under another secret the signature is not botocore's.
    assert_eq!(
        aws_sdk_agrees(&url, key, "another-secret-key-for-signing-01"),
        Some(false)
    );
}

/// A receiver of webhooks keeping the `Authorization` header and the raw body.
async fn webhook_sink() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, axum::body::Bytes)>>>,
) {
    use axum::extract::State;
    type Got = std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, axum::body::Bytes)>>>;
    let got: Got = Default::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(got): State<Got>,
                 headers: axum::http::HeaderMap,
                 body: axum::body::Bytes| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    got.lock().unwrap().push((auth, body));
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}
