//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), parsed and checked.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::claims::ClaimsRequest;
use super::client::Clients;
use super::error::{ErrorCode, OAuthError};
use super::jwt;
use super::pkce::CodeChallenge;
use super::scope::Scope;
use crate::clock::UnixTime;
use crate::keys::KeySet;

/// The longest value taken for each parameter, in bytes. A request that needs a login is kept
/// in the browser session until the login, and anyone can send one, so what it may store is
/// bounded here. The bounds leave room for what real clients send: the openidconnect crate and
/// Nextcloud's user_oidc send a `state` and `nonce` of 22-64 characters, Mailcow 32; a `state`
/// that carries a return address (oauth2-proxy) stays well within 2 KiB.
const MAX_PARAM_LEN: &[(&str, usize)] = &[
    ("client_id", 255),
    ("redirect_uri", 2048),
    ("response_type", 64),
    ("scope", 1024),
    ("state", 2048),
    ("nonce", 512),
    ("code_challenge", 128),
    ("code_challenge_method", 16),
    ("prompt", 64),
    ("max_age", 20),
    // An email address is at most 254 bytes (RFC 5321 §4.5.3.1).
    ("login_hint", 320),
    ("claims", 2048),
    // Not kept: an ID token with a company's extra claims.
    ("id_token_hint", 8192),
];
/// Any other parameter (RFC 6749 §3.1: unknown ones are ignored, but still bounded).
const MAX_OTHER_PARAM_LEN: usize = 1024;
/// The whole request: every name and value together.
pub const MAX_REQUEST_LEN: usize = 16 * 1024;

fn max_len(name: &str) -> usize {
    MAX_PARAM_LEN
        .iter()
        .find(|(known, _)| *known == name)
        .map_or(MAX_OTHER_PARAM_LEN, |(_, max)| *max)
}

fn state_limit() -> usize {
    max_len("state")
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
    pub select_account: bool,
}

/// A request whose client and redirect URI are known good, and everything else checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    /// `sub` of a verified `id_token_hint`.
    pub hint_sub: Option<String>,
    pub login_hint: Option<String>,
    pub claims: Option<String>,
    pub created_at: UnixTime,
}

impl AuthorizationRequest {
    pub fn scope(&self) -> Scope {
        Scope::parse(&self.scope).unwrap_or_default()
    }

    pub fn claims(&self) -> ClaimsRequest {
        ClaimsRequest::from_json(self.claims.as_deref())
    }
}

/// Why a request cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeFailure {
    /// RFC 6749 §4.1.2.1: client or redirect URI not trustworthy; never redirect.
    Page(String),
    /// Redirect back to the (verified) redirect URI with an error.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

/// Parameters as sent: each at most once (RFC 6749 §3.1).
pub fn collect_params(pairs: Vec<(String, String)>) -> Result<HashMap<String, String>, String> {
    let mut params = HashMap::new();
    for (key, value) in pairs {
        if params.contains_key(&key) {
            return Err(format!("parameter {key} is repeated"));
        }
        params.insert(key, value);
    }
    Ok(params)
}

pub fn parse(
    params: &HashMap<String, String>,
    clients: &Clients,
    keys: &KeySet,
    issuer: &str,
    now: UnixTime,
) -> Result<AuthorizationRequest, AuthorizeFailure> {
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };

    // First the client and redirect URI: until both are known good, errors go to a page.
    let client_id = get("client_id").ok_or_else(|| {
        AuthorizeFailure::Page("The request names no application (client_id is missing).".into())
    })?;
    let client = clients.get(client_id).ok_or_else(|| {
        AuthorizeFailure::Page("The application that sent you here is not registered.".into())
    })?;
    let redirect_uri = client.redirect_uri(get("redirect_uri")).ok_or_else(|| {
        AuthorizeFailure::Page(if get("redirect_uri").is_some() {
            "The return address of this request is not registered for the application.".into()
        } else {
            "The request does not say where to return to, and the application has several return addresses.".into()
        })
    })?;
    let state = get("state").map(str::to_owned);
    let fail = |code: ErrorCode, description: &str| AuthorizeFailure::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        // An oversized state is not echoed: it would make the redirect oversized too.
        state: state.clone().filter(|s| s.len() <= state_limit()),
        error: OAuthError::new(code, description),
    };

    let total: usize = params.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_REQUEST_LEN {
        return Err(fail(ErrorCode::InvalidRequest, "the request is too long"));
    }
    if let Some((name, _)) = params.iter().find(|(k, v)| v.len() > max_len(k)) {
        // The name is echoed only when it is one of ours, so no sent text comes back.
        let name = MAX_PARAM_LEN
            .iter()
            .find(|(known, _)| known == name)
            .map_or("a parameter", |(known, _)| known);
        return Err(fail(
            ErrorCode::InvalidRequest,
            &format!("{name} is too long"),
        ));
    }
    if get("request").is_some() {
        return Err(fail(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if get("request_uri").is_some() {
        return Err(fail(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    match get("response_type") {
        None => return Err(fail(ErrorCode::InvalidRequest, "response_type is missing")),
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ))
        }
    }
    if !client.allows_grant(crate::config::GrantType::AuthorizationCode) {
        return Err(fail(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    let scope = Scope::parse(get("scope").unwrap_or(""))
        .map_err(|e| fail(ErrorCode::InvalidScope, &e))?
        .supported(&client.extra_scopes());

    let code_challenge = match get("code_challenge") {
        Some(challenge) => Some(
            CodeChallenge::parse(challenge, get("code_challenge_method"))
                .map_err(|e| fail(ErrorCode::InvalidRequest, e))?
                .as_str()
                .to_owned(),
        ),
        None if client.require_pkce => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "this client must use PKCE (code_challenge with S256)",
            ))
        }
        None => None,
    };

    let mut prompt = Prompt::default();
    for value in get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|v| !v.is_empty())
    {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => prompt.select_account = true,
            _ => return Err(fail(ErrorCode::InvalidRequest, "unknown prompt value")),
        }
    }
    if prompt.none && (prompt.login || prompt.consent || prompt.select_account) {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match get("max_age") {
        Some(v) => Some(v.parse::<i64>().ok().filter(|m| *m >= 0).ok_or_else(|| {
            fail(
                ErrorCode::InvalidRequest,
                "max_age must be a non-negative integer",
            )
        })?),
        None => None,
    };
    let claims = match get("claims") {
        Some(raw) => Some(
            ClaimsRequest::parse(raw)
                .map_err(|e| fail(ErrorCode::InvalidRequest, &e))?
                .to_json(),
        ),
        None => None,
    };
    let hint_sub = match get("id_token_hint") {
        Some(hint) => Some(
            jwt::verify_id_token_hint(keys, issuer, hint, now)
                .map_err(|_| {
                    fail(
                        ErrorCode::InvalidRequest,
                        "id_token_hint is not an ID token from this provider",
                    )
                })?
                .sub,
        ),
        None => None,
    };

    Ok(AuthorizationRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope: scope.to_string(),
        state,
        nonce: get("nonce").map(str::to_owned),
        code_challenge,
        prompt,
        max_age,
        hint_sub,
        login_hint: get("login_hint").map(str::to_owned),
        claims,
        created_at: now,
    })
}

/// The redirect back to the client: `params` appended to the registered URI's own query, and
/// `iss` (RFC 9207) so the client can tell which provider answered.
pub fn redirect_url(redirect_uri: &str, params: &[(&str, &str)], issuer: &str) -> String {
    let mut url = url::Url::parse(redirect_uri).expect("registered redirect URIs parse");
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        query.append_pair("iss", issuer);
    }
    url.to_string()
}

pub fn error_redirect_url(
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
    issuer: &str,
) -> String {
    let mut params = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_str()),
    ];
    if let Some(state) = state {
        params.push(("state", state));
    }
    redirect_url(redirect_uri, &params, issuer)
}
