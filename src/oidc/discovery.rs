//! The provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414).
//!
//! It advertises only what works: each capability is added here in the change that builds it.

use serde_json::{json, Value};

use super::paths;
use super::scope::SUPPORTED;
use crate::config::Issuer;

pub fn provider_metadata(issuer: &Issuer) -> Value {
    json!({
        "issuer": issuer.as_str(),
        "authorization_endpoint": issuer.endpoint(paths::AUTHORIZE),
        "token_endpoint": issuer.endpoint(paths::TOKEN),
        "userinfo_endpoint": issuer.endpoint(paths::USERINFO),
        "jwks_uri": issuer.endpoint(paths::JWKS),
        "revocation_endpoint": issuer.endpoint(paths::REVOKE),
        "introspection_endpoint": issuer.endpoint(paths::INTROSPECT),
        "end_session_endpoint": issuer.endpoint(paths::END_SESSION),
        "scopes_supported": SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash", "sid",
            "name", "preferred_username", "email", "email_verified", "company_id", "role", "groups"
        ],
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "ui_locales_supported": ["en"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_built_from_the_issuer_exactly() {
        let issuer = Issuer::parse("https://sso.example.com/realm/").unwrap();
        let doc = provider_metadata(&issuer);
        assert_eq!(doc["issuer"], "https://sso.example.com/realm");
        assert_eq!(
            doc["jwks_uri"],
            "https://sso.example.com/realm/api/v1/sso/jwks"
        );
        assert_eq!(
            doc["end_session_endpoint"],
            "https://sso.example.com/realm/api/v1/sso/logout"
        );
    }
}
