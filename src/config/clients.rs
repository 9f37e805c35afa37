//! Registered relying parties.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::env::secret_var;
use super::validate::Problems;
use super::{ConfigError, ProvisionTarget, AREA_SCOPES};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

impl TokenEndpointAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// Which address a client receives as `email`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailClaim {
    /// The user's address in the directory.
    #[default]
    Directory,
    /// The address of the Mailcow mailbox the hub made for this user, and no `email` at all
    /// while there is none: Mailcow opens the mailbox named by `email`, so it must never be
    /// an address the user does not own.
    Mailbox,
}

/// A relying party registered in the config file.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub client_id: String,
    pub name: String,
    /// `None` for public clients (`token_endpoint_auth_method = "none"`).
    pub client_secret: Option<SecretString>,
    /// As written: redirect URIs are compared as exact strings (RFC 6749 §3.1.2.3).
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub grant_types: Vec<GrantType>,
    pub skip_consent: bool,
    pub require_pkce: bool,
    /// Issue refresh tokens without the `offline_access` scope (Mailcow refreshes on every page).
    pub refresh_without_offline_access: bool,
    /// Empty: users of every company may use this client.
    pub allowed_company_ids: Vec<uuid::Uuid>,
    /// The workspace areas' scopes ([`AREA_SCOPES`]) this client may be granted when it asks
    /// for them (`scope=openid meet`); empty: none, its tokens call no workspace API.
    pub allowed_scopes: Vec<String>,
    /// Fixed claims for this client, in its ID tokens and userinfo (e.g. Nextcloud's `quota`).
    pub extra_claims: BTreeMap<String, String>,
    /// Claims whose value depends on the user: claim → key → value, the key being the user's
    /// role, else `company:<company_id>`, else `*` (e.g. Mailcow's `mailcow_template`).
    pub role_claims: BTreeMap<String, BTreeMap<String, String>>,
    /// Downstream accounts created when a user first logs in through this client.
    pub provision: Vec<ProvisionTarget>,
    pub email_claim: EmailClaim,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClient {
    pub(super) client_id: String,
    pub(super) name: Option<String>,
    pub(super) client_secret: Option<SecretString>,
    pub(super) client_secret_env: Option<String>,
    #[serde(default)]
    pub(super) redirect_uris: Vec<String>,
    #[serde(default)]
    pub(super) post_logout_redirect_uris: Vec<String>,
    pub(super) backchannel_logout_uri: Option<String>,
    pub(super) token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    pub(super) grant_types: Option<Vec<GrantType>>,
    #[serde(default)]
    pub(super) skip_consent: bool,
    #[serde(default)]
    pub(super) require_pkce: bool,
    #[serde(default)]
    pub(super) refresh_without_offline_access: bool,
    #[serde(default)]
    pub(super) allowed_company_ids: Vec<String>,
    #[serde(default)]
    pub(super) allowed_scopes: Vec<String>,
    #[serde(default)]
    pub(super) extra_claims: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) role_claims: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub(super) provision: Vec<ProvisionTarget>,
    #[serde(default)]
    pub(super) email_claim: EmailClaim,
}

/// The key of a field of the client `client_id`: `clients["bheem-docs"].redirect_uris`. The id
/// is what an operator searches the file for; a position shifts when a client is added above.
pub fn client_key(client_id: &str, field: &str) -> String {
    format!("clients[{client_id:?}].{field}")
}

/// A client id as RFC 6749 §2.2 leaves it to the provider: here 1 to 128 visible ASCII characters.
fn usable_client_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|ch| ch.is_ascii_graphic())
}

/// The client at position `i`, or `None` with every problem it has noted.
pub(super) fn validate_client(
    i: usize,
    c: RawClient,
    env: &[(String, String)],
    problems: &mut Problems,
) -> Option<ClientConfig> {
    let before = problems.len();
    let id_usable = usable_client_id(&c.client_id);
    // Named by its id once it has a usable one; by its position only while it has none.
    let key = |field: &str| {
        if id_usable {
            client_key(&c.client_id, field)
        } else {
            format!("clients[{i}].{field}")
        }
    };
    if !id_usable {
        problems.push(ConfigError::new(
            key("client_id"),
            "must be 1 to 128 visible ASCII characters",
        ));
    }
    let method = c
        .token_endpoint_auth_method
        .unwrap_or(TokenEndpointAuthMethod::ClientSecretBasic);
    // Where the operator put the secret: the key its problems are reported under.
    let secret_key = if c.client_secret_env.is_some() {
        key("client_secret_env")
    } else {
        key("client_secret")
    };
    let written = match (c.client_secret, &c.client_secret_env) {
        (Some(_), Some(_)) => Written::Both,
        (Some(secret), None) => Written::Secret(secret),
        (None, Some(var)) => match secret_var(env, var) {
            Ok(value) => Written::Secret(SecretString::from(value)),
            Err(message) => Written::VariableUnusable(message),
        },
        (None, None) => Written::Nothing,
    };
    let confidential = method != TokenEndpointAuthMethod::None;
    let problem = match (confidential, written) {
        (_, Written::Both) => Err((
            key("client_secret_env"),
            "give either client_secret or client_secret_env, not both".to_owned(),
        )),
        (false, Written::Nothing) => Ok(None),
        (false, _) => Err((
            secret_key,
            "a public client (token_endpoint_auth_method = \"none\") has no secret".to_owned(),
        )),
        (true, Written::Nothing) => Err((
            key("client_secret"),
            "missing: a confidential client needs client_secret or client_secret_env".to_owned(),
        )),
        (true, Written::VariableUnusable(message)) => Err((secret_key, message)),
        (true, Written::Secret(secret)) => match (weak_secret(&secret), &c.client_secret_env) {
            (None, _) => Ok(Some(secret)),
            (Some(why), Some(var)) => Err((secret_key, format!("the value of {var} {why}"))),
            (Some(why), None) => Err((secret_key, why.to_owned())),
        },
    };
    let client_secret = problems
        .take(problem.map_err(|(key, message)| ConfigError::new(key, message)))
        .flatten();
    let redirect_uris = problems.take_all(&c.redirect_uris, |u| {
        parse_redirect(u).map_err(|m| ConfigError::new(key("redirect_uris"), m))
    });
    let post_logout_redirect_uris = problems.take_all(&c.post_logout_redirect_uris, |u| {
        parse_redirect(u).map_err(|m| ConfigError::new(key("post_logout_redirect_uris"), m))
    });
    let backchannel_logout_uri = c.backchannel_logout_uri.as_deref().and_then(|u| {
        problems
            .take(parse_redirect(u).map_err(|m| ConfigError::new(key("backchannel_logout_uri"), m)))
    });
    let grant_types = c
        .grant_types
        .unwrap_or_else(|| vec![GrantType::AuthorizationCode, GrantType::RefreshToken]);
    if grant_types.is_empty() {
        problems.push(ConfigError::new(
            key("grant_types"),
            "must list at least one grant type",
        ));
    }
    if grant_types.contains(&GrantType::AuthorizationCode) && c.redirect_uris.is_empty() {
        problems.push(ConfigError::new(
            key("redirect_uris"),
            "missing: the authorization_code grant needs at least one redirect URI",
        ));
    }
    if grant_types.contains(&GrantType::ClientCredentials)
        && method == TokenEndpointAuthMethod::None
    {
        problems.push(ConfigError::new(
            key("grant_types"),
            "client_credentials needs a confidential client",
        ));
    }
    let allowed_company_ids = problems.take_all(&c.allowed_company_ids, |id| {
        uuid::Uuid::parse_str(id).map_err(|_| {
            ConfigError::new(key("allowed_company_ids"), format!("`{id}` is not a UUID"))
        })
    });
    let allowed_scopes = problems.take_all(&c.allowed_scopes, |scope| {
        if AREA_SCOPES.contains(&scope.as_str()) {
            Ok(scope.clone())
        } else {
            Err(ConfigError::new(
                key("allowed_scopes"),
                format!(
                    "`{scope}` is not a workspace area's scope (one of {}); the OpenID \
                     Connect scopes are open to every client",
                    AREA_SCOPES.join(", ")
                ),
            ))
        }
    });
    if problems.len() > before {
        return None;
    }
    Some(ClientConfig {
        name: c.name.unwrap_or_else(|| c.client_id.clone()),
        client_id: c.client_id,
        client_secret,
        redirect_uris,
        post_logout_redirect_uris,
        backchannel_logout_uri,
        token_endpoint_auth_method: method,
        grant_types,
        skip_consent: c.skip_consent,
        require_pkce: c.require_pkce || method == TokenEndpointAuthMethod::None,
        refresh_without_offline_access: c.refresh_without_offline_access,
        allowed_company_ids,
        allowed_scopes,
        extra_claims: c.extra_claims,
        role_claims: c.role_claims,
        provision: c.provision,
        email_claim: c.email_claim,
    })
}

/// A client's secret as the file gives it.
enum Written {
    Nothing,
    Secret(SecretString),
    /// `client_secret_env` names a variable that is not set, or empty: what is wrong with it.
    VariableUnusable(String),
    Both,
}

/// Why a client secret is too weak to keep, if it is: fewer than 16 characters, or one
/// character repeated (what a placeholder such as `xxxxxxxxxxxxxxxx` looks like). The secret
/// itself never goes into the message.
fn weak_secret(secret: &SecretString) -> Option<&'static str> {
    let secret = secret.expose_secret();
    let mut chars = secret.chars();
    let first = chars.next();
    if secret.chars().count() < 16 {
        Some("must be at least 16 characters")
    } else if chars.all(|c| Some(c) == first) {
        Some("is one character repeated: use a random value of at least 16 characters")
    } else {
        None
    }
}

/// Registered redirect targets: absolute, no fragment (RFC 6749 §3.1.2), http(s) or a
/// private-use scheme for native apps. Kept as written, for exact comparison.
pub(super) fn parse_redirect(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw).map_err(|e| format!("`{raw}` is not a valid absolute URL ({e})"))?;
    if url.fragment().is_some() {
        return Err(format!("`{raw}` must not contain a fragment"));
    }
    if url.cannot_be_a_base() && !url.scheme().contains('.') {
        return Err(format!("`{raw}` is not a usable redirect URI"));
    }
    if matches!(url.scheme(), "javascript" | "data" | "file" | "vbscript") {
        return Err(format!(
            "`{raw}` uses a scheme that is never a redirect target"
        ));
    }
    Ok(raw.to_owned())
}
