//! The relying party's side of the code flow, as the `openidconnect` crate does it.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreTokenResponse};
use openidconnect::{
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, Scope,
};
use url::Url;

/// A relying party made from the provider's discovery document.
pub type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// An authorization request made by the relying party library.
pub struct AuthRequest {
    pub url: Url,
    pub state: CsrfToken,
    pub nonce: Nonce,
    verifier: Option<PkceCodeVerifier>,
}

impl AuthRequest {
    pub fn new(rp: &Rp, scopes: &[&str]) -> Self {
        Self::build(rp, scopes, true, &[])
    }

    /// `pkce`: send an S256 challenge; `extra`: further parameters.
    pub fn build(rp: &Rp, scopes: &[&str], pkce: bool, extra: &[(&str, &str)]) -> Self {
        let mut builder = rp.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in scopes {
            builder = builder.add_scope(Scope::new((*s).into()));
        }
        for (k, v) in extra {
            builder = builder.add_extra_param(*k, *v);
        }
        let mut verifier = None;
        if pkce {
            let (challenge, v) = PkceCodeChallenge::new_random_sha256();
            builder = builder.set_pkce_challenge(challenge);
            verifier = Some(v);
        }
        let (url, state, nonce) = builder.url();
        Self {
            url,
            state,
            nonce,
            verifier,
        }
    }

    pub fn verifier_secret(&self) -> Option<String> {
        self.verifier.as_ref().map(|v| v.secret().clone())
    }

    /// The code from a callback, after checking `state` and `iss` as a careful RP does.
    pub fn code_from(&self, callback: &Url) -> String {
        let q = query(callback);
        assert_eq!(
            q.get("state").map(String::as_str),
            Some(self.state.secret().as_str()),
            "state not echoed: {callback}"
        );
        assert!(q.contains_key("iss"), "no iss in {callback}");
        q.get("code")
            .unwrap_or_else(|| panic!("no code in {callback}"))
            .clone()
    }
}

pub struct SignIn {
    pub request: AuthRequest,
    pub tokens: CoreTokenResponse,
}

impl SignIn {
    pub fn access_token(&self) -> String {
        self.tokens.access_token().secret().clone()
    }

    pub fn refresh_token(&self) -> Option<String> {
        self.tokens.refresh_token().map(|t| t.secret().clone())
    }

    pub fn id_token(&self) -> String {
        use openidconnect::TokenResponse as _;
        self.tokens.id_token().expect("no id_token").to_string()
    }
}

pub fn query(url: &Url) -> std::collections::HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// The payload of a JWT, without checking it (the tests check signatures with the library).
pub fn jwt_payload(token: &str) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}
