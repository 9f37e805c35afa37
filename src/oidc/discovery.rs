//! The provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414).
//!
//! It advertises only what works: each capability is added here in the change that builds it.

use serde_json::{json, Value};

use super::paths;
use crate::config::Issuer;

pub fn provider_metadata(issuer: &Issuer) -> Value {
    json!({
        "issuer": issuer.as_str(),
        // Required by Discovery §3 even before the flow behind it exists.
        "authorization_endpoint": issuer.endpoint(paths::AUTHORIZE),
        "jwks_uri": issuer.endpoint(paths::JWKS),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
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
    }
}
