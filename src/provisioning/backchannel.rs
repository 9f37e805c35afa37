//! OpenID Connect Back-Channel Logout 1.0: a signed logout token POSTed to each client that
//! received tokens in an ended session.

use serde_json::json;

use super::{Outcome, Provisioning};
use crate::oidc::jwt;
use crate::store::outbox::BackchannelLogout;

/// §2.4: `typ` of a logout token.
pub const LOGOUT_TOKEN_TYPE: &str = "logout+jwt";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// §2.4: `iss, aud, iat, exp, jti, events, sid, sub`, never `nonce`.
pub fn logout_token(
    provisioning: &Provisioning,
    payload: &BackchannelLogout,
) -> anyhow::Result<String> {
    let now = provisioning.clock.now();
    let claims = json!({
        "iss": provisioning.config.issuer.as_str(),
        "aud": payload.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": uuid::Uuid::new_v4().to_string(),
        "events": { EVENT: {} },
        "sid": payload.sid,
        "sub": payload.sub,
    });
    jwt::sign(
        &provisioning.keys.current(),
        now,
        Some(LOGOUT_TOKEN_TYPE),
        &claims,
    )
}

pub async fn deliver(
    provisioning: &Provisioning,
    http: &reqwest::Client,
    payload: &BackchannelLogout,
) -> Outcome {
    // Signed at delivery, so a retried job carries a fresh token.
    let token = match logout_token(provisioning, payload) {
        Ok(t) => t,
        Err(e) => return Outcome::Retry(format!("signing the logout token: {e:#}")),
    };
    let response = http
        .post(&payload.uri)
        .form(&[("logout_token", token)])
        .send()
        .await;
    match response {
        Ok(r) if r.status().is_success() => Outcome::Done,
        Ok(r) => {
            let status = r.status();
            let body: String = r
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            let message = format!("{} answered {status}: {body}", payload.uri);
            // §2.8: 400 means the RP refused this token; other 4xx are configuration faults.
            if status.is_client_error()
                && status != reqwest::StatusCode::REQUEST_TIMEOUT
                && status != reqwest::StatusCode::TOO_MANY_REQUESTS
            {
                Outcome::Fail(message)
            } else {
                Outcome::Retry(message)
            }
        }
        Err(e) => Outcome::Retry(format!("{}: {e}", payload.uri)),
    }
}
