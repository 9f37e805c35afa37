//! Client authentication at the token, revocation and introspection endpoints:
//! `client_secret_basic`, `client_secret_post`, or `none` for public clients.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::error::TokenError;
use crate::http::AppState;
use crate::oidc::client::Client;

fn failed(description: &str, basic: bool) -> TokenError {
    TokenError::Client {
        description: description.to_owned(),
        basic,
    }
}

/// `Basic` credentials: RFC 6749 §2.3.1 form-encodes id and secret first, but Nextcloud sends
/// them raw, so both readings are tried.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, TokenError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| failed("malformed Authorization header", true))?;
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
        .ok_or_else(|| failed("malformed Basic credentials", true))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| failed("malformed Basic credentials", true))?;
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
pub fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    allow_public: bool,
) -> Result<Arc<Client>, TokenError> {
    let client = authenticate(state, headers, form, allow_public)?;
    crate::origin::note_client(&client.id);
    Ok(client)
}

fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    allow_public: bool,
) -> Result<Arc<Client>, TokenError> {
    if let Some((raw_id, raw_secret)) = basic_credentials(headers)? {
        if form.contains_key("client_secret") {
            return Err(failed(
                "use one client authentication method, not two",
                true,
            ));
        }
        let (client, id) = match state.clients.get(&raw_id) {
            Some(c) => (Some(c), raw_id.clone()),
            None => {
                let id = form_decoded(&raw_id);
                (state.clients.get(&id), id)
            }
        };
        let client = client.ok_or_else(|| failed("unknown client or wrong secret", true))?;
        if form.get("client_id").is_some_and(|f| *f != id) {
            return Err(failed("client_id does not match the credentials", true));
        }
        if client.secret_matches(&raw_secret) || client.secret_matches(&form_decoded(&raw_secret)) {
            return Ok(client);
        }
        tracing::info!(client_id = %client.id, "client authentication failed (basic)");
        return Err(failed("unknown client or wrong secret", true));
    }
    let id = form
        .get("client_id")
        .ok_or_else(|| failed("client authentication is missing", false))?;
    let client = state
        .clients
        .get(id)
        .ok_or_else(|| failed("unknown client or wrong secret", false))?;
    match form.get("client_secret") {
        Some(secret) if client.secret_matches(secret) => Ok(client),
        Some(_) => {
            tracing::info!(client_id = %client.id, "client authentication failed (post)");
            Err(failed("unknown client or wrong secret", false))
        }
        None if client.is_public() && allow_public => Ok(client),
        None if client.is_public() => {
            Err(failed("this endpoint needs an authenticated client", false))
        }
        None => Err(failed("client authentication is missing", false)),
    }
}
