//! Registered relying parties and how they authenticate.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use serde_json::{Map, Value};

use super::scope::CLIENT_CLAIM_SCOPES;
use crate::config::{
    ClientConfig, EmailClaim, GrantType, ProvisionTarget, TokenEndpointAuthMethod,
};
use crate::directory::User;
use crate::store::clients::RegisteredClient;

#[derive(Debug)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// SHA-256 of the secret: client secrets are long random strings, so a fast hash compared
    /// in constant time is enough, and the token endpoint does not pay for argon2.
    secret_hash: Option<[u8; 32]>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub auth_method: TokenEndpointAuthMethod,
    pub grant_types: Vec<GrantType>,
    pub skip_consent: bool,
    pub require_pkce: bool,
    pub refresh_without_offline_access: bool,
    pub allowed_company_ids: Vec<Uuid>,
    /// The workspace areas' scopes this client may be granted (`allowed_scopes`).
    pub allowed_scopes: Vec<String>,
    pub extra_claims: BTreeMap<String, String>,
    pub role_claims: BTreeMap<String, BTreeMap<String, String>>,
    pub provision: Vec<ProvisionTarget>,
    pub email_claim: EmailClaim,
}

impl Client {
    /// This client's own claims for `user`: the fixed ones, and those chosen by the user's role,
    /// else by `company:<company_id>`, else by `*`.
    pub fn claims_for(&self, user: &User) -> Map<String, Value> {
        let mut claims: Map<String, Value> = self
            .extra_claims
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        for (claim, by_role) in &self.role_claims {
            let company = format!("company:{}", user.company_id);
            let value = by_role
                .get(&user.role)
                .or_else(|| by_role.get(&company))
                .or_else(|| by_role.get("*"));
            if let Some(value) = value {
                claims.insert(claim.clone(), Value::from(value.clone()));
            }
        }
        claims
    }

    /// The [`CLIENT_CLAIM_SCOPES`] this client is configured to release the claim of.
    pub fn claim_scopes(&self) -> Vec<String> {
        CLIENT_CLAIM_SCOPES
            .iter()
            .filter(|s| self.extra_claims.contains_key(**s) || self.role_claims.contains_key(**s))
            .map(|s| (*s).to_owned())
            .collect()
    }

    /// The scopes this client is granted beyond the [`SUPPORTED`](super::scope::SUPPORTED) ones
    /// when it asks for them: its claim scopes and the workspace areas it is allowed.
    pub fn extra_scopes(&self) -> Vec<String> {
        let mut scopes = self.claim_scopes();
        scopes.extend(self.allowed_scopes.iter().cloned());
        scopes
    }

    pub fn from_config(c: &ClientConfig) -> Self {
        Self {
            id: c.client_id.clone(),
            name: c.name.clone(),
            secret_hash: c
                .client_secret
                .as_ref()
                .map(|s| Sha256::digest(s.expose_secret().as_bytes()).into()),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            auth_method: c.token_endpoint_auth_method,
            grant_types: c.grant_types.clone(),
            skip_consent: c.skip_consent,
            require_pkce: c.require_pkce,
            refresh_without_offline_access: c.refresh_without_offline_access,
            allowed_company_ids: c.allowed_company_ids.clone(),
            allowed_scopes: c.allowed_scopes.clone(),
            extra_claims: c.extra_claims.clone(),
            role_claims: c.role_claims.clone(),
            provision: c.provision.clone(),
            email_claim: c.email_claim,
        }
    }

    pub fn is_public(&self) -> bool {
        self.auth_method == TokenEndpointAuthMethod::None
    }

    pub fn secret_hash_hex(&self) -> Option<String> {
        self.secret_hash
            .map(|h| h.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// This client as the database's `clients` table records it.
    pub fn registration(&self) -> RegisteredClient<'_> {
        RegisteredClient {
            id: &self.id,
            name: &self.name,
            secret_hash: self.secret_hash_hex(),
            redirect_uris: &self.redirect_uris,
            post_logout_redirect_uris: &self.post_logout_redirect_uris,
            backchannel_logout_uri: self.backchannel_logout_uri.as_deref(),
            auth_method: self.auth_method,
            grant_types: &self.grant_types,
            skip_consent: self.skip_consent,
            require_pkce: self.require_pkce,
            allowed_company_ids: &self.allowed_company_ids,
        }
    }

    /// Constant-time comparison of the presented secret's hash with the stored one.
    pub fn secret_matches(&self, presented: &str) -> bool {
        match &self.secret_hash {
            Some(expected) => {
                let actual: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
                actual.ct_eq(expected).into()
            }
            None => false,
        }
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    pub fn allows_company(&self, company: Uuid) -> bool {
        self.allowed_company_ids.is_empty() || self.allowed_company_ids.contains(&company)
    }

    /// RFC 6749 §3.1.2.3: exact string comparison against the registered list. With one
    /// registered URI the parameter may be left out; with several it must be given.
    pub fn redirect_uri<'a>(&'a self, requested: Option<&'a str>) -> Option<&'a str> {
        match requested {
            Some(uri) => self
                .redirect_uris
                .iter()
                .find(|r| *r == uri)
                .map(String::as_str),
            None if self.redirect_uris.len() == 1 => Some(self.redirect_uris[0].as_str()),
            None => None,
        }
    }

    pub fn post_logout_redirect_uri_registered(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
    }
}

/// All registered clients, by id; built from the config at start.
#[derive(Clone, Debug, Default)]
pub struct Clients(Arc<HashMap<String, Arc<Client>>>);

impl Clients {
    pub fn from_config(configs: &[ClientConfig]) -> Self {
        Self(Arc::new(
            configs
                .iter()
                .map(|c| (c.client_id.clone(), Arc::new(Client::from_config(c))))
                .collect(),
        ))
    }

    pub fn get(&self, id: &str) -> Option<Arc<Client>> {
        self.0.get(id).cloned()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Client>> {
        self.0.values()
    }
}
