//! The LiveKit- and S3-facing library code of Bheem Meet (`bheem_sso::workspace::meet`), driven
//! against the fake LiveKit (tests/api/fakes/livekit), a real S3 server (moto), and LiveKit's
//! own Python SDK: join tokens, the Twirp client, webhooks, recordings.

mod client;
mod config_check;
mod recordings;
mod tokens;

pub(crate) use tokens::python_verifies;
mod webhooks;

use bheem_sso::config::{MeetConfig, RecordingsConfig};
use bheem_sso::workspace::meet::livekit::LiveKit;

use crate::fakes::livekit::FakeLiveKit;
use crate::support::{capture_logs, remember_secret, Moto};

pub const API_KEY: &str = "APIbheemTest";
pub const API_SECRET: &str = "livekit-test-secret-0123456789abcdef";

/// `[meet]` pointing at `fake`, with a one-second timeout so a hang is seen quickly. The secret
/// is noted for the leak check, and the process's logger installed, so that whatever these
/// tests make the client and the fake log is checked for it (and for JWTs).
pub fn meet_config(livekit_url: &str, api_secret: &str) -> MeetConfig {
    capture_logs();
    remember_secret(api_secret);
    MeetConfig {
        livekit_url: livekit_url.to_owned(),
        ws_url: livekit_url.replacen("http://", "ws://", 1),
        api_key: API_KEY.to_owned(),
        api_secret: api_secret.to_owned().into(),
        join_url_base: "https://meet.example.org/join/".to_owned(),
        token_ttl_seconds: 21600,
        request_timeout_seconds: 1,
        recordings: None,
    }
}

/// A fake LiveKit and a client of it that knows the right secret.
pub async fn livekit() -> (FakeLiveKit, LiveKit) {
    let fake = FakeLiveKit::start(API_KEY, API_SECRET).await;
    let client = LiveKit::new(&meet_config(&fake.url(), API_SECRET)).unwrap();
    (fake, client)
}

/// `[meet.recordings]` for a bucket of `moto` (made here), with this URL lifetime.
pub async fn recordings_config(
    moto: &Moto,
    bucket: &str,
    url_ttl_seconds: u64,
) -> RecordingsConfig {
    use crate::support::moto_keys::{S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY};
    moto.create_bucket(bucket).await;
    remember_secret(S3_SECRET_KEY);
    RecordingsConfig {
        s3_endpoint: moto.url().to_owned(),
        s3_region: S3_REGION.to_owned(),
        s3_bucket: bucket.to_owned(),
        s3_access_key: S3_ACCESS_KEY.to_owned().into(),
        s3_secret_key: S3_SECRET_KEY.to_owned().into(),
        prefix: "meet/".to_owned(),
        url_ttl_seconds,
    }
}

pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
