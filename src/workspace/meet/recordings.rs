//! Where Meet's recordings are and how a user downloads one: LiveKit's Egress uploads each to the
//! bucket of `[meet.recordings]` under its prefix, and the API hands out presigned GET URLs
//! (AWS SigV4 query authentication, "Authenticating Requests: Using Query Parameters") that
//! expire after `url_ttl_seconds`, so the bucket itself stays private.

use std::time::Duration;

use anyhow::Context;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use secrecy::ExposeSecret;

use crate::clock::UnixTime;
use crate::config::RecordingsConfig;

/// The recordings' bucket, and how to sign links into it.
#[derive(Clone, Debug)]
pub struct Recordings {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    url_ttl: Duration,
    /// The configuration, for the S3 upload that Egress is told to make.
    config: RecordingsConfig,
}

impl Recordings {
    pub fn new(config: &RecordingsConfig) -> anyhow::Result<Self> {
        let endpoint = config
            .s3_endpoint
            .parse()
            .with_context(|| format!("meet.recordings.s3_endpoint {}", config.s3_endpoint))?;
        // Path style (`endpoint/bucket/key`): what MinIO and moto serve without wildcard DNS,
        // and what Egress is told to use too (`force_path_style`).
        let bucket = Bucket::new(
            endpoint,
            UrlStyle::Path,
            config.s3_bucket.clone(),
            config.s3_region.clone(),
        )
        .with_context(|| format!("the S3 bucket {}", config.s3_bucket))?;
        Ok(Self {
            bucket,
            credentials: Credentials::new(
                config.s3_access_key.expose_secret(),
                config.s3_secret_key.expose_secret(),
            ),
            prefix: config.prefix.clone(),
            url_ttl: Duration::from_secs(config.url_ttl_seconds),
            config: config.clone(),
        })
    }

    /// Where Egress is to upload: bucket, endpoint, region and credentials.
    pub fn upload_target(&self) -> &RecordingsConfig {
        &self.config
    }

    /// The object key of a recording of `room_id` started at `started_at`, under the prefix. The
    /// room id is ours (`bhm-…`), so the key needs no escaping.
    pub fn object_key(&self, room_id: &str, started_at: UnixTime) -> String {
        format!("{}{room_id}/{started_at}.mp4", self.prefix)
    }

    /// Whether `key` is one of ours (under the prefix): a webhook naming another object is not
    /// turned into a download link.
    pub fn owns(&self, key: &str) -> bool {
        key.starts_with(&self.prefix) && !key.contains("..")
    }

    /// A GET URL for `key`, signed at `now`, that S3 refuses after `url_ttl_seconds`.
    pub fn download_url(&self, key: &str, now: UnixTime) -> anyhow::Result<url::Url> {
        let signed_at = jiff::Timestamp::from_second(now)
            .with_context(|| format!("{now} is not a time S3 can sign at"))?;
        Ok(self
            .bucket
            .get_object(Some(&self.credentials), key)
            .sign_with_time(self.url_ttl, &signed_at))
    }

    /// How long a download URL lives.
    pub fn url_ttl(&self) -> Duration {
        self.url_ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recordings() -> Recordings {
        Recordings::new(&RecordingsConfig {
            s3_endpoint: "http://127.0.0.1:9000".into(),
            s3_region: "us-east-1".into(),
            s3_bucket: "recordings".into(),
            s3_access_key: "AKIDUNIT".to_owned().into(),
            s3_secret_key: "unit-s3-secret".to_owned().into(),
            prefix: "meet/".into(),
            url_ttl_seconds: 900,
        })
        .unwrap()
    }

    #[test]
    fn download_url_is_path_style_signed_at_now_and_expiring() {
        let r = recordings();
        let key = r.object_key("bhm-abc-xyz", 1_700_000_000);
        assert_eq!(key, "meet/bhm-abc-xyz/1700000000.mp4");
        assert!(r.owns(&key));
        assert!(!r.owns("other/x.mp4"));
        let url = r.download_url(&key, 1_700_000_000).unwrap();
        assert_eq!(url.path(), "/recordings/meet/bhm-abc-xyz/1700000000.mp4");
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(query["X-Amz-Expires"], "900");
        assert_eq!(query["X-Amz-Date"], "20231114T221320Z");
        assert!(query["X-Amz-Credential"].starts_with("AKIDUNIT/20231114/us-east-1/s3/"));
        assert!(!url.as_str().contains("unit-s3-secret"));
    }
}
