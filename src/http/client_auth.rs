//! Client authentication at the token, revocation and introspection endpoints:
//! `client_secret_basic`, `client_secret_post`, or `none` for public clients.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::error::TokenError;
use crate::audit::{Event, Kind, ANONYMOUS};
use crate::http::AppState;
use crate::oidc::client::Client;

/// How a client tried to authenticate, by the names of `token_endpoint_auth_method`; `missing`
/// when it sent neither credentials nor a `client_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Basic,
    Post,
    None,
    Missing,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Basic => "client_secret_basic",
            Method::Post => "client_secret_post",
            Method::None => "none",
            Method::Missing => "missing",
        }
    }
}

/// Why client authentication failed: the `reason` of the log line and of the
/// `client_auth_failed` audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    UnknownClient,
    WrongSecret,
    /// A public client where this endpoint needs an authenticated one, or a confidential
    /// client that sent its `client_id` without its secret.
    MethodNotAllowed,
    /// An `Authorization: Basic` header that does not decode to `id:secret`.
    Malformed,
    /// Basic credentials and a form `client_id` that names another client.
    ClientIdMismatch,
    /// Basic credentials and a `client_secret` in the form.
    TwoMethods,
    /// No credentials and no `client_id` at all.
    Missing,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::UnknownClient => "unknown_client",
            Reason::WrongSecret => "wrong_secret",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::Malformed => "malformed",
            Reason::ClientIdMismatch => "client_id_mismatch",
            Reason::TwoMethods => "two_methods",
            Reason::Missing => "missing",
        }
    }
}

/// The longest `client_id` written to the log or the trail as presented: anyone can send any
/// string, and an unknown one is written too.
const MAX_LOGGED_CLIENT_ID: usize = 64;

/// A failed authentication: what the client sent (never its secret), why it failed, and what
/// it is told.
struct Refused {
    method: Method,
    /// As presented (an unknown one too), when it could be read.
    client_id: Option<String>,
    reason: Reason,
    description: &'static str,
}

impl Refused {
    fn new(
        method: Method,
        client_id: Option<&str>,
        reason: Reason,
        description: &'static str,
    ) -> Self {
        Self {
            method,
            client_id: client_id.map(loggable),
            reason,
            description,
        }
    }

    fn into_error(self) -> TokenError {
        TokenError::Client {
            description: self.description.to_owned(),
            basic: self.method == Method::Basic,
        }
    }
}

/// A presented `client_id` as it may be written: control characters dropped (a text log line
/// stays one line), cut to [`MAX_LOGGED_CLIENT_ID`] characters.
fn loggable(client_id: &str) -> String {
    client_id
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_LOGGED_CLIENT_ID)
        .collect()
}

/// `Basic` credentials: RFC 6749 §2.3.1 form-encodes id and secret first, but Nextcloud sends
/// them raw, so both readings are tried.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, Refused> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = |description| Refused::new(Method::Basic, None, Reason::Malformed, description);
    let value = value
        .to_str()
        .map_err(|_| malformed("malformed Authorization header"))?;
    // RFC 7235 §2.1: the scheme is case-insensitive; a Basic header without usable
    // credentials is a failed Basic attempt, not a missing one.
    let (scheme, encoded) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| malformed("malformed Basic credentials"))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| malformed("malformed Basic credentials"))?;
    Ok(Some((id.to_owned(), secret.to_owned())))
}

fn form_decoded(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Authenticates the calling client. `allow_public` lets a public client through on its
/// `client_id` alone (token endpoint); introspection passes false.
///
/// A failure is one `info` line and a `client_auth_failed` audit event, each with the
/// `client_id` as presented, the `method` tried and the `reason`; never the secret.
pub fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    allow_public: bool,
) -> Result<Arc<Client>, TokenError> {
    match authenticate(state, headers, form, allow_public) {
        Ok(client) => {
            crate::origin::note_client(&client.id);
            Ok(client)
        }
        Err(refused) => {
            tracing::info!(
                client_id = refused.client_id.as_deref(),
                method = refused.method.as_str(),
                reason = refused.reason.as_str(),
                "client authentication failed"
            );
            let event = Event::new(Kind::ClientAuthFailed, ANONYMOUS)
                .detail("method", refused.method.as_str())
                .detail("reason", refused.reason.as_str());
            state.audit.record(match &refused.client_id {
                Some(id) => event.client(id.as_str()),
                None => event,
            });
            Err(refused.into_error())
        }
    }
}

const UNKNOWN_OR_WRONG: &str = "unknown client or wrong secret";

fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    allow_public: bool,
) -> Result<Arc<Client>, Refused> {
    if let Some((raw_id, raw_secret)) = basic_credentials(headers)? {
        let basic =
            |reason, description| Refused::new(Method::Basic, Some(&raw_id), reason, description);
        if form.contains_key("client_secret") {
            return Err(basic(
                Reason::TwoMethods,
                "use one client authentication method, not two",
            ));
        }
        let (client, id) = match state.clients.get(&raw_id) {
            Some(c) => (Some(c), raw_id.clone()),
            None => {
                let id = form_decoded(&raw_id);
                (state.clients.get(&id), id)
            }
        };
        let client = client.ok_or_else(|| basic(Reason::UnknownClient, UNKNOWN_OR_WRONG))?;
        if form.get("client_id").is_some_and(|f| *f != id) {
            return Err(basic(
                Reason::ClientIdMismatch,
                "client_id does not match the credentials",
            ));
        }
        if client.secret_matches(&raw_secret) || client.secret_matches(&form_decoded(&raw_secret)) {
            return Ok(client);
        }
        return Err(Refused::new(
            Method::Basic,
            Some(&client.id),
            Reason::WrongSecret,
            UNKNOWN_OR_WRONG,
        ));
    }
    let Some(id) = form.get("client_id") else {
        return Err(Refused::new(
            Method::Missing,
            None,
            Reason::Missing,
            "client authentication is missing",
        ));
    };
    let secret = form.get("client_secret");
    let method = if secret.is_some() {
        Method::Post
    } else {
        Method::None
    };
    let refused = |reason, description| Refused::new(method, Some(id), reason, description);
    let client = state
        .clients
        .get(id)
        .ok_or_else(|| refused(Reason::UnknownClient, UNKNOWN_OR_WRONG))?;
    match secret {
        Some(secret) if client.secret_matches(secret) => Ok(client),
        Some(_) => Err(refused(Reason::WrongSecret, UNKNOWN_OR_WRONG)),
        None if client.is_public() && allow_public => Ok(client),
        None if client.is_public() => Err(refused(
            Reason::MethodNotAllowed,
            "this endpoint needs an authenticated client",
        )),
        None => Err(refused(
            Reason::MethodNotAllowed,
            "client authentication is missing",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presented_client_id_is_written_on_one_line_and_cut_short() {
        assert_eq!(loggable("nextcloud"), "nextcloud");
        assert_eq!(loggable("evil\nINFO forged line"), "evilINFO forged line");
        assert_eq!(loggable(&"x".repeat(500)).len(), MAX_LOGGED_CLIENT_ID);
    }
}
