//! The token endpoint's grants (RFC 6749 §4): the request parsed once into a [`TokenRequest`],
//! one module per grant, and one error type, mapped to the RFC's error codes in one place.

mod authorization_code;
mod client_credentials;
mod refresh_token;

pub use refresh_token::{refresh, standing, RefreshStanding};

use std::collections::HashMap;

use super::client::Client;
use super::error::{ErrorCode, OAuthError};
use super::tokens::{IssueError, TokenIssuer, TokenResponse};
use crate::config::GrantType;

/// A token request, as its grant type needs it. Its `Debug` leaves the secrets out.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<String>,
    },
    ClientCredentials {
        scope: Option<String>,
    },
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AuthorizationCode { redirect_uri, .. } => f
                .debug_struct("AuthorizationCode")
                .field("redirect_uri", redirect_uri)
                .finish_non_exhaustive(),
            Self::RefreshToken { scope, .. } => f
                .debug_struct("RefreshToken")
                .field("scope", scope)
                .finish_non_exhaustive(),
            Self::ClientCredentials { scope } => f
                .debug_struct("ClientCredentials")
                .field("scope", scope)
                .finish(),
        }
    }
}

impl TokenRequest {
    /// The request for `grant`, from the form's parameters (each sent at most once).
    pub fn parse(grant: GrantType, form: &HashMap<String, String>) -> Result<Self, GrantError> {
        let param = |name: &str| form.get(name).cloned();
        let required = |name: &'static str| {
            param(name).ok_or_else(|| GrantError::InvalidRequest(format!("{name} is missing")))
        };
        Ok(match grant {
            GrantType::AuthorizationCode => Self::AuthorizationCode {
                code: required("code")?,
                redirect_uri: param("redirect_uri"),
                code_verifier: param("code_verifier"),
            },
            GrantType::RefreshToken => Self::RefreshToken {
                refresh_token: required("refresh_token")?,
                scope: param("scope"),
            },
            GrantType::ClientCredentials => Self::ClientCredentials {
                scope: param("scope"),
            },
        })
    }
}

/// Why a grant gave nothing.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    #[error("unsupported grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl GrantError {
    /// RFC 6749 §5.2: the error the client is told, or the internal cause, which is not.
    pub fn into_oauth(self) -> Result<OAuthError, anyhow::Error> {
        let (code, description) = match self {
            Self::InvalidRequest(d) => (ErrorCode::InvalidRequest, d),
            Self::InvalidGrant(d) => (ErrorCode::InvalidGrant, d.to_owned()),
            Self::UnauthorizedClient(d) => (ErrorCode::UnauthorizedClient, d),
            Self::UnsupportedGrantType => (
                ErrorCode::UnsupportedGrantType,
                "unsupported grant_type".to_owned(),
            ),
            Self::InvalidScope(d) => (ErrorCode::InvalidScope, d),
            Self::Internal(e) => return Err(e),
        };
        Ok(OAuthError::new(code, description))
    }
}

impl From<IssueError> for GrantError {
    /// Only for grants that spend nothing: the others say what a lost race means for them.
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::AlreadySpent => {
                Self::Internal(anyhow::anyhow!("a grant that spends nothing lost a race"))
            }
            IssueError::Internal(e) => Self::Internal(e),
        }
    }
}

/// `grant_type` as sent.
fn grant_type(form: &HashMap<String, String>) -> Result<GrantType, GrantError> {
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => Ok(GrantType::AuthorizationCode),
        Some("refresh_token") => Ok(GrantType::RefreshToken),
        Some("client_credentials") => Ok(GrantType::ClientCredentials),
        Some(_) => Err(GrantError::UnsupportedGrantType),
        None => Err(GrantError::InvalidRequest("grant_type is missing".into())),
    }
}

/// Whether `client` may use `grant` at all, asked before anything else in the request.
fn permitted(client: &Client, grant: GrantType) -> Result<(), GrantError> {
    if grant == GrantType::ClientCredentials && client.is_public() {
        return Err(GrantError::UnauthorizedClient(
            "public clients cannot use client_credentials".into(),
        ));
    }
    if client.allows_grant(grant) {
        Ok(())
    } else {
        Err(GrantError::UnauthorizedClient(format!(
            "this client may not use {}",
            grant.as_str()
        )))
    }
}

/// The token endpoint for an authenticated `client`: which grant, whether the client may use
/// it, its parameters, then the grant itself.
pub async fn exchange(
    tokens: &TokenIssuer,
    client: &Client,
    form: &HashMap<String, String>,
) -> Result<TokenResponse, GrantError> {
    let grant = grant_type(form)?;
    permitted(client, grant)?;
    match TokenRequest::parse(grant, form)? {
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            authorization_code::exchange(
                tokens,
                client,
                &code,
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
            )
            .await
        }
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
        } => {
            let (issued, _) = refresh(tokens, client, &refresh_token, scope.as_deref()).await?;
            Ok(issued)
        }
        TokenRequest::ClientCredentials { scope } => {
            client_credentials::exchange(tokens, client, scope.as_deref()).await
        }
    }
}

/// A refresh token goes with the tokens of a client that may refresh, when it asked for
/// `offline_access` or is set to refresh without it.
fn wants_refresh(client: &Client, scope: &super::scope::Scope) -> bool {
    client.allows_grant(GrantType::RefreshToken)
        && (scope.contains("offline_access") || client.refresh_without_offline_access)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_grant_type_is_parsed_into_its_request() {
        let code = form(&[
            ("grant_type", "authorization_code"),
            ("code", "c"),
            ("code_verifier", "v"),
        ]);
        assert_eq!(grant_type(&code).unwrap(), GrantType::AuthorizationCode);
        assert_eq!(
            TokenRequest::parse(GrantType::AuthorizationCode, &code).unwrap(),
            TokenRequest::AuthorizationCode {
                code: "c".into(),
                redirect_uri: None,
                code_verifier: Some("v".into()),
            }
        );
        let refresh = form(&[("refresh_token", "r"), ("scope", "openid")]);
        assert_eq!(
            TokenRequest::parse(GrantType::RefreshToken, &refresh).unwrap(),
            TokenRequest::RefreshToken {
                refresh_token: "r".into(),
                scope: Some("openid".into()),
            }
        );
    }

    #[test]
    fn a_missing_parameter_names_itself_and_an_unknown_grant_is_unsupported() {
        let missing = TokenRequest::parse(GrantType::AuthorizationCode, &form(&[])).unwrap_err();
        assert_eq!(
            missing.into_oauth().unwrap(),
            OAuthError::invalid_request("code is missing")
        );
        let unknown = grant_type(&form(&[("grant_type", "password")])).unwrap_err();
        assert_eq!(
            unknown.into_oauth().unwrap().code,
            ErrorCode::UnsupportedGrantType
        );
        let absent = grant_type(&form(&[])).unwrap_err();
        assert_eq!(
            absent.into_oauth().unwrap(),
            OAuthError::invalid_request("grant_type is missing")
        );
    }

    #[test]
    fn a_request_printed_for_a_log_shows_no_secret() {
        let request = TokenRequest::AuthorizationCode {
            code: "the-code".into(),
            redirect_uri: Some("https://rp.example/cb".into()),
            code_verifier: Some("the-verifier".into()),
        };
        let printed = format!("{request:?}");
        assert!(printed.contains("rp.example"), "{printed}");
        assert!(!printed.contains("the-code") && !printed.contains("the-verifier"));
        let refresh = TokenRequest::RefreshToken {
            refresh_token: "the-token".into(),
            scope: None,
        };
        assert!(!format!("{refresh:?}").contains("the-token"));
    }

    #[test]
    fn an_internal_cause_is_not_an_oauth_error() {
        let internal = GrantError::Internal(anyhow::anyhow!("database down"));
        assert!(internal.into_oauth().is_err());
    }
}
