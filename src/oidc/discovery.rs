//! The provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414).
//!
//! It advertises only what works: each capability is added here in the change that builds it.

use serde_json::{json, Value};

use super::client::Clients;
use super::paths;
use super::scope::SUPPORTED;
use crate::config::Issuer;

/// The metadata of the provider at `issuer` with `clients` registered: a scope named after a
/// client's own claim (`mailcow_template`) is listed, with its claim, once a client has it, and
/// a workspace area's scope (`meet`…) once that area is configured (`areas`: their scopes).
pub fn provider_metadata(issuer: &Issuer, clients: &Clients, areas: &[&str]) -> Value {
    let mut claim_scopes: Vec<String> = clients.iter().flat_map(|c| c.claim_scopes()).collect();
    claim_scopes.sort_unstable();
    claim_scopes.dedup();
    let scopes: Vec<&str> = SUPPORTED
        .iter()
        .copied()
        .chain(claim_scopes.iter().map(String::as_str))
        .chain(areas.iter().copied())
        .collect();
    let mut claims = vec![
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "azp",
        "at_hash",
        "sid",
        "name",
        "preferred_username",
        "email",
        "email_verified",
        "company_id",
        "role",
        "groups",
    ];
    claims.extend(claim_scopes.iter().map(String::as_str));
    json!({
        "issuer": issuer.as_str(),
        "authorization_endpoint": issuer.endpoint(paths::AUTHORIZE),
        "token_endpoint": issuer.endpoint(paths::TOKEN),
        "userinfo_endpoint": issuer.endpoint(paths::USERINFO),
        "jwks_uri": issuer.endpoint(paths::JWKS),
        "revocation_endpoint": issuer.endpoint(paths::REVOKE),
        "introspection_endpoint": issuer.endpoint(paths::INTROSPECT),
        "end_session_endpoint": issuer.endpoint(paths::END_SESSION),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims,
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
        let doc = provider_metadata(&issuer, &Clients::default(), &[]);
        assert_eq!(doc["issuer"], "https://sso.example.com/realm");
        assert_eq!(
            doc["jwks_uri"],
            "https://sso.example.com/realm/api/v1/sso/jwks"
        );
        assert_eq!(
            doc["end_session_endpoint"],
            "https://sso.example.com/realm/api/v1/sso/logout"
        );
        assert!(!doc["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&"mailcow_template".into()));
        assert!(!doc["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&"meet".into()));
        let doc = provider_metadata(&issuer, &Clients::default(), &["meet"]);
        assert!(doc["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&"meet".into()));
    }
}
