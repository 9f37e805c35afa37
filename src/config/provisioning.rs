//! Downstream accounts: Nextcloud and Mailcow.

use std::collections::{BTreeMap, BTreeSet};

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;
use uuid::Uuid;

use super::env::secret_var;
use super::validate::Problems;
use super::ConfigError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionTarget {
    Nextcloud,
    Mailcow,
}

impl ProvisionTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nextcloud => "nextcloud",
            Self::Mailcow => "mailcow",
        }
    }
}

/// Downstream accounts made on first login.
#[derive(Clone, Debug, Default)]
pub struct ProvisioningConfig {
    /// Targets for every login, whatever the client.
    pub targets: Vec<ProvisionTarget>,
    pub nextcloud: Option<NextcloudConfig>,
    pub mailcow: Option<MailcowConfig>,
    /// How often users with downstream accounts are checked for deactivation.
    pub sweep_interval_seconds: u64,
}

#[derive(Clone, Debug)]
pub struct NextcloudConfig {
    pub url: String,
    pub admin_user: String,
    pub admin_password: SecretString,
    /// The claim Nextcloud's user_oidc maps to its user id; the account is created with it.
    pub uid_claim: String,
    pub quota: Option<String>,
    /// Which company roles are put into Nextcloud's own `admin` group.
    pub instance_admin_roles: InstanceAdminRoles,
}

/// Company roles whose members become administrators of the whole Nextcloud instance (its
/// `admin` group), across every company. Empty unless the operator lists them, per company:
/// a company's own `admin` role is otherwise only a company-scoped group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceAdminRoles(BTreeMap<Uuid, BTreeSet<String>>);

static NO_INSTANCE_ADMINS: InstanceAdminRoles = InstanceAdminRoles(BTreeMap::new());

impl InstanceAdminRoles {
    /// Nothing listed: nobody is made an instance administrator.
    pub fn none() -> &'static Self {
        &NO_INSTANCE_ADMINS
    }

    /// Roles are matched ignoring case and surrounding blanks, as the groups fold them.
    pub fn includes(&self, company: Uuid, role: &str) -> bool {
        self.0
            .get(&company)
            .is_some_and(|roles| roles.contains(&role.trim().to_lowercase()))
    }
}

#[derive(Clone, Debug)]
pub struct MailcowConfig {
    pub url: String,
    pub api_key: SecretString,
    /// The mail domain of companies without one of their own in `company_domains`.
    pub domain: String,
    /// Each company's own mail domain, so that two companies' `john@` are two mailboxes.
    pub company_domains: BTreeMap<Uuid, String>,
    pub quota_mib: u64,
}

impl MailcowConfig {
    /// The mail domain of `company`'s mailboxes.
    pub fn domain_of(&self, company: Uuid) -> &str {
        self.company_domains
            .get(&company)
            .map_or(self.domain.as_str(), String::as_str)
    }
}

impl ProvisioningConfig {
    /// [`NextcloudConfig::instance_admin_roles`], or none without a Nextcloud section.
    pub fn instance_admin_roles(&self) -> &InstanceAdminRoles {
        self.nextcloud
            .as_ref()
            .map_or(InstanceAdminRoles::none(), |n| &n.instance_admin_roles)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvisioning {
    #[serde(default)]
    pub(super) targets: Vec<ProvisionTarget>,
    pub(super) sweep_interval_seconds: Option<u64>,
    pub(super) nextcloud: Option<RawNextcloud>,
    pub(super) mailcow: Option<RawMailcow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNextcloud {
    pub(super) url: String,
    pub(super) admin_user: String,
    pub(super) admin_password: Option<SecretString>,
    pub(super) admin_password_env: Option<String>,
    pub(super) uid_claim: Option<String>,
    pub(super) quota: Option<String>,
    #[serde(default)]
    pub(super) instance_admin_roles: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMailcow {
    pub(super) url: String,
    pub(super) api_key: Option<SecretString>,
    pub(super) api_key_env: Option<String>,
    pub(super) domain: String,
    #[serde(default)]
    pub(super) company_domains: BTreeMap<String, String>,
    pub(super) quota_mib: Option<u64>,
}

pub(super) fn secret_from(
    env: &[(String, String)],
    key: &str,
    value: Option<SecretString>,
    var: Option<String>,
) -> Result<SecretString, ConfigError> {
    match (value, var) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            key,
            "give the value or the _env variable, not both",
        )),
        (Some(v), None) => Ok(v),
        (None, Some(var)) => secret_var(env, &var)
            .map(SecretString::from)
            .map_err(|m| ConfigError::new(format!("{key}_env"), m)),
        (None, None) => Err(ConfigError::new(key, "missing")),
    }
}

pub(super) fn base_url(key: &str, raw: &str) -> Result<String, ConfigError> {
    let url =
        Url::parse(raw).map_err(|e| ConfigError::new(key, format!("not a valid URL ({e})")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(ConfigError::new(key, "must be an http:// or https:// URL"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// The claim a Nextcloud user id is made of when nothing says otherwise.
const DEFAULT_UID_CLAIM: &str = "preferred_username";

/// A claim that can be the user's Nextcloud user id: `sub`, `preferred_username` or `email`.
fn uid_claim(key: &str, raw: &str) -> Result<String, ConfigError> {
    match raw {
        c @ ("sub" | "preferred_username" | "email") => Ok(c.to_owned()),
        other => Err(ConfigError::new(
            key,
            format!("`{other}`: use sub, preferred_username or email"),
        )),
    }
}

/// `nextcloud_url` and `uid_claim` of a section that calls Nextcloud as the user (`[docs]`,
/// `[calendar]`), checked and keyed `{section}.…`. Each one left out comes from `fallback`, the
/// url and uid claim of the first of `fallback_names` that is written; without one the url is
/// missing and the claim is `preferred_username`.
pub(super) fn nextcloud_as_user(
    section: &str,
    url: Option<String>,
    claim: Option<&str>,
    fallback: Option<(&str, &str)>,
    fallback_names: &str,
) -> Result<(String, String), ConfigError> {
    let url = match (url, fallback) {
        (Some(url), _) => base_url(&format!("{section}.nextcloud_url"), url.trim())?,
        (None, Some((url, _))) => url.to_owned(),
        (None, None) => {
            return Err(ConfigError::new(
                format!("{section}.nextcloud_url"),
                format!("missing (and there is no {fallback_names} url to default to)"),
            ))
        }
    };
    let claim = match (claim, fallback) {
        (Some(claim), _) => uid_claim(&format!("{section}.uid_claim"), claim)?,
        (None, Some((_, claim))) => claim.to_owned(),
        (None, None) => DEFAULT_UID_CLAIM.to_owned(),
    };
    Ok((url, claim))
}

fn company_id(key: &str, raw: &str) -> Result<Uuid, ConfigError> {
    Uuid::parse_str(raw)
        .map_err(|_| ConfigError::new(key, format!("`{raw}` is not a company UUID")))
}

/// A mail domain as Mailcow takes it: lower case, dot-separated labels of letters, digits and
/// inner hyphens (RFC 1035 §2.3.1), at most 253 characters.
fn mail_domain(key: &str, raw: &str) -> Result<String, ConfigError> {
    let domain = raw.trim().to_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if domain.len() > 253 || !domain.contains('.') || !domain.split('.').all(label_ok) {
        return Err(ConfigError::new(
            key,
            format!("`{raw}` is not a mail domain such as example.com"),
        ));
    }
    Ok(domain)
}

/// `instance_admin_roles = { "<company UUID>" = ["role", …] }`.
fn instance_admin_roles(
    raw: BTreeMap<String, Vec<String>>,
) -> Result<InstanceAdminRoles, ConfigError> {
    let key = "provisioning.nextcloud.instance_admin_roles";
    let mut by_company = BTreeMap::new();
    for (company, roles) in raw {
        let company = company_id(key, &company)?;
        let roles: BTreeSet<String> = roles.iter().map(|r| r.trim().to_lowercase()).collect();
        if roles.is_empty() || roles.contains("") {
            return Err(ConfigError::new(
                key,
                format!("company {company}: list one or more non-empty role names"),
            ));
        }
        by_company.insert(company, roles);
    }
    Ok(InstanceAdminRoles(by_company))
}

/// The `[provisioning]` section; a target with a problem is left out, its problems noted.
pub(super) fn validate_provisioning(
    raw: RawProvisioning,
    env: &[(String, String)],
    problems: &mut Problems,
) -> ProvisioningConfig {
    // A section with a problem of its own is reported as that problem, not as missing.
    for (target, written) in [
        (ProvisionTarget::Nextcloud, raw.nextcloud.is_some()),
        (ProvisionTarget::Mailcow, raw.mailcow.is_some()),
    ] {
        if raw.targets.contains(&target) && !written {
            problems.push(ConfigError::new(
                "provisioning.targets",
                format!(
                    "{} is listed but [provisioning.{}] is missing",
                    target.as_str(),
                    target.as_str()
                ),
            ));
        }
    }
    let nextcloud = raw.nextcloud.and_then(|n| problems.take(nextcloud(n, env)));
    let mailcow = raw.mailcow.and_then(|m| problems.take(mailcow(m, env)));
    ProvisioningConfig {
        targets: raw.targets,
        nextcloud,
        mailcow,
        sweep_interval_seconds: raw.sweep_interval_seconds.unwrap_or(3600),
    }
}

fn nextcloud(n: RawNextcloud, env: &[(String, String)]) -> Result<NextcloudConfig, ConfigError> {
    Ok(NextcloudConfig {
        url: base_url("provisioning.nextcloud.url", &n.url)?,
        admin_password: secret_from(
            env,
            "provisioning.nextcloud.admin_password",
            n.admin_password,
            n.admin_password_env,
        )?,
        admin_user: n.admin_user,
        uid_claim: uid_claim(
            "provisioning.nextcloud.uid_claim",
            n.uid_claim.as_deref().unwrap_or(DEFAULT_UID_CLAIM),
        )?,
        quota: n.quota,
        instance_admin_roles: instance_admin_roles(n.instance_admin_roles)?,
    })
}

fn mailcow(m: RawMailcow, env: &[(String, String)]) -> Result<MailcowConfig, ConfigError> {
    Ok(MailcowConfig {
        url: base_url("provisioning.mailcow.url", &m.url)?,
        api_key: secret_from(
            env,
            "provisioning.mailcow.api_key",
            m.api_key,
            m.api_key_env,
        )?,
        domain: mail_domain("provisioning.mailcow.domain", &m.domain)?,
        company_domains: m
            .company_domains
            .iter()
            .map(|(company, domain)| {
                let key = "provisioning.mailcow.company_domains";
                Ok((company_id(key, company)?, mail_domain(key, domain)?))
            })
            .collect::<Result<_, ConfigError>>()?,
        quota_mib: m.quota_mib.unwrap_or(1024),
    })
}
