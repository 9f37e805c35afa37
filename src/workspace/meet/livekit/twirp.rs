//! LiveKit's server API: Twirp over HTTP with JSON bodies (`POST {url}/twirp/livekit.<Service>/
//! <Method>`), each call signed with a token of its own that grants exactly what the call needs.
//!
//! Errors are Twirp's (twitchtv/twirp `errors.go`, "Error codes"): a JSON body `{"code", "msg"}`
//! with the code's HTTP status. They are sorted into what the caller tells its user: LiveKit is
//! down or too slow (503), the room or egress does not exist (404), LiveKit refused (502).

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::token::{ApiKey, Claims, VideoGrant};
use crate::telemetry::{self, DeliveryOutcome, DeliveryTarget};

/// How long the token of one server-API call lives: long enough for a slow answer, too short to
/// be worth stealing from a log (and it is never logged).
const CALL_TOKEN_SECONDS: i64 = 60;

/// What went wrong talking to LiveKit. Never carries a token or a secret.
#[derive(Debug, thiserror::Error)]
pub enum LiveKitError {
    /// No connection, a reset, a gateway in front of LiveKit saying it is gone, or Twirp's own
    /// `unavailable`: try again later (503).
    #[error("LiveKit is unavailable: {0}")]
    Down(String),
    /// No answer within the configured timeout (503; it may still act on the call).
    #[error("LiveKit did not answer within {0:?}")]
    TimedOut(Duration),
    /// Twirp `not_found`: no such room or egress (404).
    #[error("LiveKit: not found: {0}")]
    NotFound(String),
    /// Any other Twirp error: our token, our request or LiveKit itself is wrong (502).
    #[error("LiveKit refused {method}: {code}: {msg}")]
    Refused {
        method: &'static str,
        code: String,
        msg: String,
    },
    /// A success status with a body that is not the expected message (502).
    #[error("LiveKit's answer to {method} is unreadable: {detail}")]
    BadAnswer {
        method: &'static str,
        detail: String,
    },
    /// A token could not be made (our own fault, 500).
    #[error("signing the call: {0}")]
    Signing(String),
}

impl LiveKitError {
    /// Whether LiveKit could not be reached or could not serve the call now: the caller
    /// answers 503 and may retry. Besides no answer at all, the Twirp codes that mean "later"
    /// (`resource_exhausted`, `deadline_exceeded`, `canceled`) count.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Down(_) | Self::TimedOut(_) => true,
            Self::Refused { code, .. } => matches!(
                code.as_str(),
                "resource_exhausted" | "deadline_exceeded" | "canceled"
            ),
            _ => false,
        }
    }

    /// The status the workspace API answers with: 503 unavailable, 404 not found, 502 refused
    /// or unreadable, 500 our own failure.
    pub fn http_status(&self) -> u16 {
        match self {
            _ if self.is_unavailable() => 503,
            Self::NotFound(_) => 404,
            Self::Signing(_) => 500,
            _ => 502,
        }
    }
}

/// Twirp's error body.
#[derive(Deserialize)]
struct TwirpError {
    code: String,
    #[serde(default)]
    msg: String,
}

/// The Twirp client: where LiveKit is, the key that signs each call, an HTTP client with
/// timeouts.
#[derive(Clone, Debug)]
pub struct TwirpClient {
    base: String,
    api: ApiKey,
    http: reqwest::Client,
    timeout: Duration,
}

impl TwirpClient {
    /// `base`: `http(s)://host[:port]` without a trailing slash.
    pub fn new(base: &str, api: ApiKey, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            // Never follow a redirect with the call's token to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("building the HTTP client for LiveKit: {e}"))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            api,
            http,
            timeout,
        })
    }

    /// Calls `livekit.<service>/<method>` with `grant` and returns the answer's message. Each
    /// call is a delivery to `livekit` in the metrics: done (answered, `not_found` included: no
    /// such room is an answer), retry (LiveKit down or slow: the user may try again) or fail
    /// (refused, or an answer that is not LiveKit's).
    pub async fn call<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &self,
        service: &'static str,
        method: &'static str,
        grant: VideoGrant,
        request: &Req,
    ) -> Result<Resp, LiveKitError> {
        let answer = self.call_once(service, method, grant, request).await;
        let outcome = match &answer {
            Ok(_) | Err(LiveKitError::NotFound(_)) => DeliveryOutcome::Done,
            Err(e) if e.is_unavailable() => DeliveryOutcome::Retry,
            Err(_) => DeliveryOutcome::Fail,
        };
        telemetry::delivery(DeliveryTarget::Livekit, outcome);
        answer
    }

    async fn call_once<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &self,
        service: &'static str,
        method: &'static str,
        grant: VideoGrant,
        request: &Req,
    ) -> Result<Resp, LiveKitError> {
        let token = self.call_token(grant)?;
        let url = format!("{}/twirp/livekit.{service}/{method}", self.base);
        let sent = self
            .http
            .post(&url)
            .bearer_auth(token)
            .json(request)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return Err(self.transport_error(&e)),
        };
        let status = response.status();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) => return Err(self.transport_error(&e)),
        };
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| LiveKitError::BadAnswer {
                method,
                detail: e.to_string(),
            });
        }
        Err(match serde_json::from_slice::<TwirpError>(&body) {
            Ok(e) if e.code == "not_found" => LiveKitError::NotFound(e.msg),
            Ok(e) if e.code == "unavailable" => LiveKitError::Down(e.msg),
            Ok(e) => LiveKitError::Refused {
                method,
                code: e.code,
                msg: e.msg,
            },
            // LiveKit's auth middleware refuses a token that does not verify before Twirp sees
            // the request, in plain text (livekit-server `service/auth.go`). That text quotes
            // the token, so it is dropped here, never carried into an error or a log line.
            Err(_) if status.as_u16() == 401 => LiveKitError::Refused {
                method,
                code: "unauthenticated".to_owned(),
                msg: "the server-API token was not accepted".to_owned(),
            },
            // Not Twirp: a proxy in front of LiveKit that cannot reach it.
            Err(_) if matches!(status.as_u16(), 502..=504) => {
                LiveKitError::Down(format!("HTTP {status} from in front of LiveKit"))
            }
            Err(_) => LiveKitError::BadAnswer {
                method,
                detail: format!("HTTP {status} without a Twirp error"),
            },
        })
    }

    /// A token for one call, from the system clock: LiveKit checks it against its own.
    fn call_token(&self, video: VideoGrant) -> Result<String, LiveKitError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.api
            .sign(Claims {
                iss: String::new(),
                sub: String::new(),
                name: None,
                nbf: now,
                exp: now + CALL_TOKEN_SECONDS,
                metadata: None,
                video,
                sha256: None,
            })
            .map_err(|e| LiveKitError::Signing(e.to_string()))
    }

    fn transport_error(&self, e: &reqwest::Error) -> LiveKitError {
        if e.is_timeout() {
            LiveKitError::TimedOut(self.timeout)
        } else {
            // Without the URL: it is in the configuration, and the error may quote it at length.
            LiveKitError::Down(describe(e))
        }
    }
}

/// A reqwest error with its causes (connection refused, reset…), without the URL.
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the connection failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::LiveKitError;

    fn refused(code: &str) -> LiveKitError {
        LiveKitError::Refused {
            method: "CreateRoom",
            code: code.to_owned(),
            msg: String::new(),
        }
    }

    #[test]
    fn twirp_codes_that_mean_later_are_unavailable_the_others_a_bad_gateway() {
        for code in ["resource_exhausted", "deadline_exceeded", "canceled"] {
            assert!(refused(code).is_unavailable(), "{code}");
            assert_eq!(refused(code).http_status(), 503, "{code}");
        }
        for code in [
            "unauthenticated",
            "permission_denied",
            "invalid_argument",
            "internal",
        ] {
            assert!(!refused(code).is_unavailable(), "{code}");
            assert_eq!(refused(code).http_status(), 502, "{code}");
        }
        assert_eq!(LiveKitError::NotFound(String::new()).http_status(), 404);
        assert_eq!(LiveKitError::Down(String::new()).http_status(), 503);
    }
}
