//! Form bodies of the OAuth endpoints: each parameter at most once (RFC 6749 §3.1, §3.2).

use std::collections::HashMap;

use crate::oidc::authorize::collect_params;
use crate::oidc::error::OAuthError;

pub fn form_params(raw: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    collect_params(url::form_urlencoded::parse(raw).into_owned().collect())
        .map_err(OAuthError::invalid_request)
}
