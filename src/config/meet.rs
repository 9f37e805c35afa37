//! `[meet]`: Bheem Meet on LiveKit, and `[meet.recordings]`: where LiveKit's Egress puts the
//! recordings (an S3 bucket) and how long their download links live.
//!
//! Without `[meet]` the meet routes answer 404 and discovery omits the `meet` scope.

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::env::secret_var;
use super::provisioning::{base_url, secret_from};
use super::ConfigError;

/// LiveKit's join tokens last 6 hours unless told otherwise (REFERENCE.md, LiveKit).
const DEFAULT_TOKEN_TTL_SECONDS: u64 = 6 * 3600;
/// SigV4 presigned URLs may live at most seven days (AWS S3 API reference,
/// "Authenticating Requests: Using Query Parameters", X-Amz-Expires).
const MAX_URL_TTL_SECONDS: u64 = 7 * 24 * 3600;

#[derive(Clone, Debug)]
pub struct MeetConfig {
    /// LiveKit's server API (Twirp), `http(s)://host[:port]` without a trailing slash; a `ws(s)://`
    /// URL as LiveKit's own docs write it is taken as the `http(s)://` one, as its SDKs do.
    pub livekit_url: String,
    /// What clients connect to (`ws://` or `wss://`), handed out with every join token.
    pub ws_url: String,
    /// The API key: the `iss` of every token, and the key LiveKit signs its webhooks with.
    pub api_key: String,
    /// The API secret: signs join and server tokens, verifies webhooks.
    pub api_secret: SecretString,
    /// A room's `join_url` is this followed by its room id.
    pub join_url_base: String,
    /// How long a join token is valid.
    pub token_ttl_seconds: u64,
    /// How long a call to LiveKit's server API may take before LiveKit counts as down.
    pub request_timeout_seconds: u64,
    pub recordings: Option<RecordingsConfig>,
}

#[derive(Clone, Debug)]
pub struct RecordingsConfig {
    /// The S3 endpoint, `http(s)://host[:port]` (MinIO, moto, or a provider's regional endpoint).
    pub s3_endpoint: String,
    pub s3_region: String,
    pub s3_bucket: String,
    pub s3_access_key: SecretString,
    pub s3_secret_key: SecretString,
    /// Recordings are written under this key prefix (no leading slash; empty or ending in `/`).
    pub prefix: String,
    /// How long a presigned download URL works.
    pub url_ttl_seconds: u64,
}

/// `[meet]` as written. Every key optional here so that an environment override alone can make
/// the section; what is required is checked in [`validate_meet`], naming the key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMeet {
    pub(super) livekit_url: Option<String>,
    pub(super) ws_url: Option<String>,
    pub(super) api_key: Option<String>,
    pub(super) api_secret: Option<SecretString>,
    pub(super) api_secret_env: Option<String>,
    pub(super) join_url_base: Option<String>,
    pub(super) token_ttl_seconds: Option<u64>,
    pub(super) request_timeout_seconds: Option<u64>,
    pub(super) recordings: Option<RawRecordings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecordings {
    pub(super) s3_endpoint: Option<String>,
    pub(super) s3_region: Option<String>,
    pub(super) s3_bucket: Option<String>,
    pub(super) s3_access_key_env: Option<String>,
    pub(super) s3_secret_key_env: Option<String>,
    pub(super) prefix: Option<String>,
    pub(super) url_ttl_seconds: Option<u64>,
}

fn required(key: &str, value: Option<String>) -> Result<String, ConfigError> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ConfigError::new(key, "missing")),
    }
}

/// LiveKit's SDKs take `wss://` for the server API too and mean `https://` (livekit-api's
/// `normalize_host`); anything else must be http(s).
fn server_api_url(key: &str, raw: &str) -> Result<String, ConfigError> {
    let normalized = if let Some(rest) = raw.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = raw.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        raw.to_owned()
    };
    let url = base_url(key, &normalized)?;
    no_path_or_query(key, &url)?;
    Ok(url)
}

fn no_path_or_query(key: &str, url: &str) -> Result<(), ConfigError> {
    let parsed = Url::parse(url).map_err(|e| ConfigError::new(key, e.to_string()))?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ConfigError::new(
            key,
            "must not contain a query or fragment",
        ));
    }
    if parsed.host_str().is_none() {
        return Err(ConfigError::new(key, "must have a host"));
    }
    Ok(())
}

fn websocket_url(key: &str, raw: &str) -> Result<String, ConfigError> {
    let url =
        Url::parse(raw).map_err(|e| ConfigError::new(key, format!("not a valid URL ({e})")))?;
    if url.scheme() != "wss" && url.scheme() != "ws" {
        return Err(ConfigError::new(
            key,
            "must be a ws:// or wss:// URL (what LiveKit's client SDKs connect to)",
        ));
    }
    if url.host_str().is_none() {
        return Err(ConfigError::new(key, "must have a host"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

fn join_url_base(key: &str, raw: &str) -> Result<String, ConfigError> {
    let url =
        Url::parse(raw).map_err(|e| ConfigError::new(key, format!("not a valid URL ({e})")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(ConfigError::new(key, "must be an http:// or https:// URL"));
    }
    if url.fragment().is_some() {
        return Err(ConfigError::new(key, "must not contain a fragment"));
    }
    // Kept as written: the room id is appended to it, after a `/` or a `?room=` alike.
    Ok(raw.to_owned())
}

pub(super) fn validate_meet(
    raw: RawMeet,
    env: &[(String, String)],
) -> Result<MeetConfig, ConfigError> {
    let livekit_url = server_api_url(
        "meet.livekit_url",
        &required("meet.livekit_url", raw.livekit_url)?,
    )?;
    let ws_url = websocket_url("meet.ws_url", &required("meet.ws_url", raw.ws_url)?)?;
    let api_key = required("meet.api_key", raw.api_key)?;
    let api_secret = secret_from(env, "meet.api_secret", raw.api_secret, raw.api_secret_env)?;
    let join_url_base = join_url_base(
        "meet.join_url_base",
        &required("meet.join_url_base", raw.join_url_base)?,
    )?;
    let token_ttl_seconds = raw.token_ttl_seconds.unwrap_or(DEFAULT_TOKEN_TTL_SECONDS);
    if token_ttl_seconds == 0 {
        return Err(ConfigError::new(
            "meet.token_ttl_seconds",
            "must be above 0",
        ));
    }
    let request_timeout_seconds = raw.request_timeout_seconds.unwrap_or(10);
    if !(1..=120).contains(&request_timeout_seconds) {
        return Err(ConfigError::new(
            "meet.request_timeout_seconds",
            "must be between 1 and 120",
        ));
    }
    let recordings = raw.recordings.map(|r| recordings(r, env)).transpose()?;
    Ok(MeetConfig {
        livekit_url,
        ws_url,
        api_key,
        api_secret,
        join_url_base,
        token_ttl_seconds,
        request_timeout_seconds,
        recordings,
    })
}

fn recordings(r: RawRecordings, env: &[(String, String)]) -> Result<RecordingsConfig, ConfigError> {
    let s3_endpoint = base_url(
        "meet.recordings.s3_endpoint",
        &required("meet.recordings.s3_endpoint", r.s3_endpoint)?,
    )?;
    no_path_or_query("meet.recordings.s3_endpoint", &s3_endpoint)?;
    let s3_region = required("meet.recordings.s3_region", r.s3_region)?;
    let s3_bucket = required("meet.recordings.s3_bucket", r.s3_bucket)?;
    // S3 bucket naming rules: 3–63 characters of lower-case letters, digits, dots and hyphens.
    if !(3..=63).contains(&s3_bucket.len())
        || !s3_bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err(ConfigError::new(
            "meet.recordings.s3_bucket",
            format!("`{s3_bucket}` is not an S3 bucket name (3–63 of a-z, 0-9, `.`, `-`)"),
        ));
    }
    let secret = |key: &str, var: Option<String>| -> Result<SecretString, ConfigError> {
        let var = required(key, var)?;
        secret_var(env, &var)
            .map(SecretString::from)
            .map_err(|m| ConfigError::new(key, m))
    };
    let s3_access_key = secret("meet.recordings.s3_access_key_env", r.s3_access_key_env)?;
    let s3_secret_key = secret("meet.recordings.s3_secret_key_env", r.s3_secret_key_env)?;
    let prefix = r.prefix.unwrap_or_else(|| "meet/".to_owned());
    if prefix.starts_with('/') || !(prefix.is_empty() || prefix.ends_with('/')) {
        return Err(ConfigError::new(
            "meet.recordings.prefix",
            "must be empty or a key prefix such as `meet/`: no leading `/`, a trailing one",
        ));
    }
    let url_ttl_seconds = r.url_ttl_seconds.unwrap_or(3600);
    if !(1..=MAX_URL_TTL_SECONDS).contains(&url_ttl_seconds) {
        return Err(ConfigError::new(
            "meet.recordings.url_ttl_seconds",
            format!("must be between 1 and {MAX_URL_TTL_SECONDS} (seven days, S3's limit)"),
        ));
    }
    Ok(RecordingsConfig {
        s3_endpoint,
        s3_region,
        s3_bucket,
        s3_access_key,
        s3_secret_key,
        prefix,
        url_ttl_seconds,
    })
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::super::{Config, ConfigSource};

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const MEET: &str = r#"
        [meet]
        livekit_url = "wss://livekit.example.org"
        ws_url = "wss://livekit.example.org/"
        api_key = "APIkey123"
        api_secret_env = "LK_SECRET"
        join_url_base = "https://meet.example.org/join/"

        [meet.recordings]
        s3_endpoint = "http://127.0.0.1:9000/"
        s3_region = "us-east-1"
        s3_bucket = "recordings"
        s3_access_key_env = "S3_KEY"
        s3_secret_key_env = "S3_SECRET"
    "#;

    fn full_env() -> Vec<(String, String)> {
        env(&[
            ("LK_SECRET", "lk-secret-value-1"),
            ("S3_KEY", "s3-access-value-1"),
            ("S3_SECRET", "s3-secret-value-1"),
        ])
    }

    fn errors(toml: &str, env: &[(String, String)]) -> Vec<String> {
        Config::from_parts(toml, env, ConfigSource::BuiltInDefaults)
            .unwrap_err()
            .keys()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn no_meet_section_means_meet_is_off() {
        let config = Config::from_parts("", &[], ConfigSource::BuiltInDefaults).unwrap();
        assert!(!config.meet_enabled());
        assert!(config.meet.is_none());
    }

    #[test]
    fn meet_section_with_defaults_and_secrets_from_the_environment() {
        let config = Config::from_parts(MEET, &full_env(), ConfigSource::BuiltInDefaults).unwrap();
        assert!(config.meet_enabled());
        let meet = config.meet.as_ref().unwrap();
        assert_eq!(meet.livekit_url, "https://livekit.example.org");
        assert_eq!(meet.ws_url, "wss://livekit.example.org");
        assert_eq!(meet.token_ttl_seconds, 21600);
        assert_eq!(meet.api_secret.expose_secret(), "lk-secret-value-1");
        let rec = meet.recordings.as_ref().unwrap();
        assert_eq!(rec.s3_endpoint, "http://127.0.0.1:9000");
        assert_eq!(rec.prefix, "meet/");
        assert_eq!(rec.url_ttl_seconds, 3600);
        assert_eq!(rec.s3_secret_key.expose_secret(), "s3-secret-value-1");
        let debug = format!("{config:?}");
        for secret in [
            "lk-secret-value-1",
            "s3-access-value-1",
            "s3-secret-value-1",
        ] {
            assert!(!debug.contains(secret), "{secret} in Debug");
        }
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let cases = [
            (
                "livekit_url = \"wss://livekit.example.org\"",
                "livekit_url = \"ftp://x\"",
                "meet.livekit_url",
            ),
            (
                "ws_url = \"wss://livekit.example.org/\"",
                "ws_url = \"https://x\"",
                "meet.ws_url",
            ),
            ("api_key = \"APIkey123\"", "api_key = \" \"", "meet.api_key"),
            (
                "api_secret_env = \"LK_SECRET\"",
                "api_secret_env = \"NOT_SET\"",
                "meet.api_secret_env",
            ),
            (
                "join_url_base = \"https://meet.example.org/join/\"",
                "join_url_base = \"nope\"",
                "meet.join_url_base",
            ),
            (
                "s3_bucket = \"recordings\"",
                "s3_bucket = \"Has_Capitals\"",
                "meet.recordings.s3_bucket",
            ),
            (
                "s3_secret_key_env = \"S3_SECRET\"",
                "s3_secret_key_env = \"EMPTY\"",
                "meet.recordings.s3_secret_key_env",
            ),
        ];
        let mut env = full_env();
        env.push(("EMPTY".into(), String::new()));
        for (good, bad, key) in cases {
            assert!(MEET.contains(good), "{good}");
            assert_eq!(errors(&MEET.replace(good, bad), &env), [key], "{bad}");
        }
        let ttl = MEET.replace(
            "[meet.recordings]",
            "token_ttl_seconds = 0\n[meet.recordings]",
        );
        assert_eq!(errors(&ttl, &env), ["meet.token_ttl_seconds"]);
        let url_ttl = format!("{MEET}\nurl_ttl_seconds = 604801");
        assert_eq!(errors(&url_ttl, &env), ["meet.recordings.url_ttl_seconds"]);
        let prefix = format!("{MEET}\nprefix = \"/meet\"");
        assert_eq!(errors(&prefix, &env), ["meet.recordings.prefix"]);
        let missing = MEET.replace("api_key = \"APIkey123\"", "");
        assert_eq!(errors(&missing, &env), ["meet.api_key"]);
        let both = MEET.replace(
            "api_key = \"APIkey123\"",
            "api_key = \"k\"\napi_secret = \"x\"",
        );
        assert_eq!(errors(&both, &env), ["meet.api_secret"]);
        let unknown = MEET.replace("api_key =", "api_keys = \"x\"\napi_key =");
        assert_eq!(errors(&unknown, &env), ["meet.api_keys"]);
    }

    #[test]
    fn environment_overrides_reach_meet_and_its_recordings() {
        let mut env = full_env();
        env.push(("BHEEM_SSO_MEET_API_KEY".into(), "fromenv".into()));
        env.push(("BHEEM_SSO_MEET_TOKEN_TTL_SECONDS".into(), "60".into()));
        env.push((
            "BHEEM_SSO_MEET_RECORDINGS_S3_BUCKET".into(),
            "other-bucket".into(),
        ));
        env.push((
            "BHEEM_SSO_MEET_RECORDINGS_URL_TTL_SECONDS".into(),
            "5".into(),
        ));
        let config = Config::from_parts(MEET, &env, ConfigSource::BuiltInDefaults).unwrap();
        let meet = config.meet.unwrap();
        assert_eq!(meet.api_key, "fromenv");
        assert_eq!(meet.token_ttl_seconds, 60);
        let rec = meet.recordings.unwrap();
        assert_eq!(rec.s3_bucket, "other-bucket");
        assert_eq!(rec.url_ttl_seconds, 5);

        env.push(("BHEEM_SSO_MEET_TOKEN_TTL_SECONDS".into(), "soon".into()));
        assert_eq!(errors(MEET, &env), ["BHEEM_SSO_MEET_TOKEN_TTL_SECONDS"]);
    }
}
