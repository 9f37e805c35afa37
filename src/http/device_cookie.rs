//! Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a browser
//! that has logged in to an account gets a cookie saying so, and its later attempts on that
//! account are limited by its own failures only, never by an attacker's (`src/login_limits.rs`).
//!
//! The cookie is a JWT signed with the provider's key (`typ: device+jwt`, so it passes for no
//! other token of ours): `sub` is the account's user id, `crd` the tag of the account's stored
//! password hash then (so a password change ends it), `jti` the device's own key in the limits.
//! It is kept by no server, so any node that has the key can check it, and it says only that
//! this browser once knew this account's password.

use axum::http::{header, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::{Cookie, SameSite};

use crate::http::AppState;
use crate::login::{CredentialTag, KnownDevice};
use crate::oidc::jwt;

pub const DEVICE_COOKIE_TYPE: &str = "device+jwt";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DeviceClaims {
    iss: String,
    sub: String,
    crd: String,
    iat: i64,
    exp: i64,
    jti: String,
}

/// A valid device cookie: the user and the credential it was issued for, and the device's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub user_id: String,
    pub credential: String,
    pub id: String,
}

impl Device {
    pub fn known(&self) -> KnownDevice<'_> {
        KnownDevice {
            user_id: &self.user_id,
            credential: &self.credential,
            id: &self.id,
        }
    }
}

fn name(state: &AppState) -> &'static str {
    // RFC 6265bis: the __Host- prefix pins the cookie to this host, path / and https.
    if state.config.issuer.is_https() {
        "__Host-bheem_device"
    } else {
        "bheem_device"
    }
}

/// The browser's device cookie, if it sent one that checks out and has not expired.
pub fn presented(state: &AppState, headers: &HeaderMap) -> Option<Device> {
    let name = name(state);
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_owned()).filter_map(Result::ok))
        .find(|c| c.name() == name)?
        .value()
        .to_owned();
    let now = state.clock.now();
    let claims: DeviceClaims = jwt::verify_typed(
        &state.keys(),
        state.config.issuer.as_str(),
        &value,
        now,
        DEVICE_COOKIE_TYPE,
    )
    .ok()?;
    (claims.exp > now).then_some(Device {
        user_id: claims.sub,
        credential: claims.crd,
        id: claims.jti,
    })
}

/// The `Set-Cookie` value that makes this browser known to `user_id`'s account, as long as its
/// password is the one of `credential`.
pub fn issue(
    state: &AppState,
    user_id: &str,
    credential: &CredentialTag,
) -> anyhow::Result<HeaderValue> {
    let now = state.clock.now();
    let lifetime = i64::from(state.config.login_limits.device_cookie_days) * 24 * 3600;
    let claims = DeviceClaims {
        iss: state.config.issuer.as_str().to_owned(),
        sub: user_id.to_owned(),
        crd: credential.0.clone(),
        iat: now,
        exp: now + lifetime,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let token = jwt::sign(&state.keys(), now, Some(DEVICE_COOKIE_TYPE), &claims)?;
    let cookie = Cookie::build((name(state), token))
        .path("/")
        .http_only(true)
        .secure(state.config.issuer.is_https())
        // Only ever read by the login form, which is posted from this site.
        .same_site(SameSite::Strict)
        .max_age(tower_sessions::cookie::time::Duration::seconds(lifetime))
        .build();
    Ok(HeaderValue::from_str(&cookie.to_string())?)
}
