//! The configuration a test app runs with, held as a value: a test sets keys and registers
//! clients, and the whole is written out as TOML once, when the app starts. Nothing is glued
//! together as text, so no key can land in the wrong section.

use std::collections::BTreeMap;
use std::fmt;

use bheem_sso::config::{Config, ConfigSource};
use serde::Serialize;

/// The contents of a configuration file, as a TOML table.
#[derive(Clone, Debug, Default)]
pub struct TestConfig {
    table: toml::Table,
    /// `BHEEM_SSO_*` variables, as the process environment would give them.
    env: Vec<(String, String)>,
}

impl TestConfig {
    /// Sets the key at a dotted path (`"login_limits.per_account_per_minute"`), making the
    /// tables on the way. A section's name is spelt out only when it has no dot in it, which
    /// holds for every key of the configuration file.
    pub fn set(&mut self, key: &str, value: impl Into<toml::Value>) -> &mut Self {
        let (sections, name) = match key.rsplit_once('.') {
            Some((sections, name)) => (Some(sections), name),
            None => (None, key),
        };
        let mut table = &mut self.table;
        for section in sections.into_iter().flat_map(|s| s.split('.')) {
            table = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .unwrap_or_else(|| panic!("`{section}` in `{key}` is a value, not a section"));
        }
        table.insert(name.to_owned(), value.into());
        self
    }

    /// Sets an environment variable the server reads (`BHEEM_SSO_KEY_ENCRYPTION_KEY`).
    pub fn env(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The environment variables the test set for the server, for a server run as a process.
    pub fn env_vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.env.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Whether the key at a dotted path is set.
    pub fn is_set(&self, key: &str) -> bool {
        let mut parts = key.split('.');
        let Some(mut at) = parts.next().and_then(|part| self.table.get(part)) else {
            return false;
        };
        for part in parts {
            match at.get(part) {
                Some(value) => at = value,
                None => return false,
            }
        }
        true
    }

    /// Registers a relying party (`[[clients]]`), after those registered before.
    pub fn client(&mut self, client: ClientSpec) -> &mut Self {
        let client = toml::Value::try_from(client).expect("a client is a TOML table");
        match self
            .table
            .entry("clients")
            .or_insert_with(|| toml::Value::Array(Vec::new()))
        {
            toml::Value::Array(clients) => clients.push(client),
            other => panic!("`clients` is {other}, not a list of clients"),
        }
        self
    }

    /// The configuration as the server reads it, with the environment the test set only.
    pub fn load(&self) -> anyhow::Result<Config> {
        let text = self.to_string();
        Ok(Config::from_parts(
            &text,
            &self.env,
            ConfigSource::BuiltInDefaults,
        )?)
    }
}

/// The TOML file.
impl fmt::Display for TestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = toml::to_string(&self.table).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// A relying party as the configuration file registers it. What is not set is left out of the
/// file, so the server's own default applies.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ClientSpec {
    client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    post_logout_redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backchannel_logout_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_endpoint_auth_method: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant_types: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "is_false")]
    skip_consent: bool,
    #[serde(skip_serializing_if = "is_false")]
    require_pkce: bool,
    #[serde(skip_serializing_if = "is_false")]
    refresh_without_offline_access: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed_company_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed_scopes: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extra_claims: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    role_claims: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_claim: Option<&'static str>,
}

fn is_false(value: &bool) -> bool {
    !value
}

impl ClientSpec {
    pub fn new(client_id: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            ..Self::default()
        }
    }

    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    pub fn secret(mut self, secret: &str) -> Self {
        super::leaks::remember(secret);
        self.client_secret = Some(secret.to_owned());
        self
    }

    /// Adds a redirect URI after those added before.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }

    pub fn post_logout_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.post_logout_redirect_uris.push(uri.into());
        self
    }

    pub fn backchannel_logout_uri(mut self, uri: impl Into<String>) -> Self {
        self.backchannel_logout_uri = Some(uri.into());
        self
    }

    /// `token_endpoint_auth_method`: `client_secret_basic`, `client_secret_post` or `none`.
    pub fn auth_method(mut self, method: &'static str) -> Self {
        self.token_endpoint_auth_method = Some(method);
        self
    }

    pub fn grant_types(mut self, grant_types: &[&'static str]) -> Self {
        self.grant_types = Some(grant_types.to_vec());
        self
    }

    pub fn skip_consent(mut self) -> Self {
        self.skip_consent = true;
        self
    }

    pub fn require_pkce(mut self) -> Self {
        self.require_pkce = true;
        self
    }

    pub fn refresh_without_offline_access(mut self) -> Self {
        self.refresh_without_offline_access = true;
        self
    }

    /// Limits the client to users of this company, and of any other company allowed so.
    pub fn allowed_company(mut self, company_id: &str) -> Self {
        self.allowed_company_ids.push(company_id.to_owned());
        self
    }

    /// Allows the client a workspace area's scope (`meet`, …), granted when it asks for it.
    pub fn allowed_scope(mut self, scope: &str) -> Self {
        self.allowed_scopes.push(scope.to_owned());
        self
    }

    pub fn extra_claim(mut self, claim: &str, value: &str) -> Self {
        self.extra_claims.insert(claim.to_owned(), value.to_owned());
        self
    }

    /// `claim` is `value` for users whose role (or `company:<id>`, or `*`) is `key`.
    pub fn role_claim(mut self, claim: &str, key: &str, value: &str) -> Self {
        self.role_claims
            .entry(claim.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// `email_claim`: `directory` or `mailbox`.
    pub fn email_claim(mut self, source: &'static str) -> Self {
        self.email_claim = Some(source);
        self
    }
}
