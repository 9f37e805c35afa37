//! The Bearer token of a request to a protected resource (RFC 6750 §2).

use axum::http::{header, HeaderMap};

use super::error::BearerError;

/// The Bearer token from the header (RFC 6750 §2.1) or a form body (§2.2), not both.
///
/// An empty Authorization header, or one of another scheme, carries no Bearer token: like no
/// header at all it gets the bare challenge (§3.1: a request "attempted using an unsupported
/// authentication method" is one that lacks authentication information).
pub fn bearer_token(headers: &HeaderMap, form_body: &[u8]) -> Result<String, BearerError> {
    let from_header = match headers.get(header::AUTHORIZATION) {
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| BearerError::InvalidRequest("malformed Authorization header"))?
                .trim();
            let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
            match scheme {
                "" => None,
                scheme if !scheme.eq_ignore_ascii_case("bearer") => None,
                _ if token.trim().is_empty() => {
                    return Err(BearerError::InvalidRequest(
                        "the Authorization header has no Bearer token",
                    ))
                }
                _ => Some(token.trim().to_owned()),
            }
        }
        None => None,
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let from_body = if is_form {
        url::form_urlencoded::parse(form_body)
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    } else {
        None
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(BearerError::InvalidRequest("send the access token once")),
        (Some(token), None) | (None, Some(token)) => Ok(token),
        (None, None) => Err(BearerError::Missing),
    }
}
