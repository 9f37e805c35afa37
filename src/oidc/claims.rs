//! Which claims a token or userinfo answer carries: those of the granted scopes, plus those the
//! `claims` request parameter asks for (OIDC Core §5.4, §5.5).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::client::Client;
use super::scope::Scope;
use crate::config::InstanceAdminRoles;
use crate::directory::User;

/// The `claims` request parameter. Only the names matter here: values and `essential` are
/// hints. Which of the named claims are released depends on the client ([`Release`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Map<String, Value>>,
}

impl ClaimsRequest {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value: Value =
            serde_json::from_str(raw).map_err(|_| "claims is not valid JSON".to_owned())?;
        if !value.is_object() {
            return Err("claims must be a JSON object".into());
        }
        serde_json::from_value(value)
            .map_err(|_| "claims must map userinfo and id_token to objects".to_owned())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("claims request serialises")
    }

    pub fn from_json(raw: Option<&str>) -> Self {
        raw.and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or_default()
    }

    fn names(map: &Option<Map<String, Value>>) -> impl Iterator<Item = &str> {
        map.iter().flat_map(|m| m.keys().map(String::as_str))
    }
}

/// Claims each scope releases (OIDC Core §5.4), plus the company scope of this provider.
fn scope_claims(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &["name", "preferred_username"],
        "email" => &["email", "email_verified"],
        "company" => &["company_id", "role", "groups"],
        _ => &[],
    }
}

/// The value of a user claim this provider knows, or `None`.
fn claim_value(user: &User, name: &str, instance_admins: &InstanceAdminRoles) -> Option<Value> {
    Some(match name {
        "name" => Value::from(user.name.clone()),
        "preferred_username" => {
            Value::from(user.username.clone().unwrap_or_else(|| user.email.clone()))
        }
        "email" => Value::from(user.email.clone()),
        // Accounts come from the company's own directory, whose addresses it manages.
        "email_verified" => Value::from(true),
        "company_id" => Value::from(user.company_id.to_string()),
        "role" => Value::from(user.role.clone()),
        "groups" => Value::from(groups(user, instance_admins)),
        _ => return None,
    })
}

/// Nextcloud's group of administrators of the whole instance.
pub const NEXTCLOUD_ADMIN_GROUP: &str = "admin";

/// Nextcloud group ids are at most 64 characters (its `groups.gid` column).
const MAX_GROUP_ID: usize = 64;

/// The user's groups downstream (Nextcloud's, and the `groups` claim its user_oidc maps), all
/// scoped to their company so that no group mixes companies and none is one of Nextcloud's
/// own: `company-<uuid>` and `company-<uuid>-<role>`. Nextcloud's `admin` group is added only
/// for roles the operator lists in `instance_admin_roles`.
pub fn groups(user: &User, instance_admins: &InstanceAdminRoles) -> Vec<String> {
    let company = format!("company-{}", user.company_id);
    let role = format!(
        "{company}-{}",
        role_slug(&user.role, MAX_GROUP_ID - company.len() - 1)
    );
    let mut groups = vec![company, role];
    if instance_admins.includes(user.company_id, &user.role) {
        groups.push(NEXTCLOUD_ADMIN_GROUP.to_owned());
    }
    groups
}

/// A role as a group id's tail: lower case, letters and digits kept, every other run of
/// characters one `-`. Roles that differ only in case or punctuation ("Team Lead", "team-lead")
/// are one group; they are one company's anyway. A tail that would be empty or longer than
/// `max` is cut and given the first 8 hex digits of the role's SHA-256, so it stays distinct.
fn role_slug(role: &str, max: usize) -> String {
    let role = role.trim().to_lowercase();
    let mut slug = String::new();
    for c in role.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if !slug.is_empty() && slug.len() <= max {
        return slug.to_owned();
    }
    let hash: String = Sha256::digest(role.as_bytes())[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let head = slug[..slug.len().min(max - hash.len() - 1)].trim_end_matches('-');
    if head.is_empty() {
        hash
    } else {
        format!("{head}-{hash}")
    }
}

/// The value of a claim for provisioning (the uid Nextcloud maps, for one).
pub fn claim_string(user: &User, name: &str) -> Option<String> {
    match name {
        "sub" => Some(user.id.clone()),
        _ => claim_value(user, name, InstanceAdminRoles::none())
            .and_then(|v| v.as_str().map(str::to_owned)),
    }
}

/// Where claims are going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    IdToken,
    Userinfo,
}

/// What a client may be given beyond its scopes, and how groups are made.
pub struct Release<'a> {
    /// Claims asked for by name in the `claims` parameter are released even when no granted
    /// scope covers them. Only for clients with `skip_consent = true`: first-party clients the
    /// operator trusts with every claim this provider knows. For the others the user consented
    /// to scopes, and a claim by name must not widen that (OIDC Core §5.5 leaves the release
    /// to the provider's policy).
    pub requested_beyond_scopes: bool,
    pub instance_admins: &'a InstanceAdminRoles,
}

impl<'a> Release<'a> {
    /// The release for `client` (`None` when it is no longer registered).
    pub fn for_client(client: Option<&Client>, instance_admins: &'a InstanceAdminRoles) -> Self {
        Self {
            requested_beyond_scopes: client.is_some_and(|c| c.skip_consent),
            instance_admins,
        }
    }
}

/// The user claims for `target`: `company_id` and `role` always (tokens are company-scoped),
/// those of the granted scopes, and those requested by name that the scopes cover (any, for a
/// client that skips consent: [`Release::requested_beyond_scopes`]).
pub fn user_claims(
    user: &User,
    scope: &Scope,
    request: &ClaimsRequest,
    target: Target,
    release: &Release,
) -> Map<String, Value> {
    let mut names: BTreeSet<&str> = ["company_id", "role"].into_iter().collect();
    for s in scope.iter() {
        names.extend(scope_claims(s));
    }
    let requested = match target {
        Target::IdToken => ClaimsRequest::names(&request.id_token).collect::<Vec<_>>(),
        Target::Userinfo => ClaimsRequest::names(&request.userinfo).collect(),
    };
    // Otherwise a name the scopes cover is in already, and any other is not released.
    if release.requested_beyond_scopes {
        names.extend(requested);
    }
    names
        .into_iter()
        .filter_map(|name| {
            claim_value(user, name, release.instance_admins).map(|v| (name.to_owned(), v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: "u1".into(),
            email: "ada@example.com".into(),
            username: Some("ada".into()),
            name: "Ada".into(),
            company_id: uuid::Uuid::nil(),
            role: "admin".into(),
            active: true,
        }
    }

    fn consenting() -> Release<'static> {
        Release {
            requested_beyond_scopes: false,
            instance_admins: InstanceAdminRoles::none(),
        }
    }

    fn first_party() -> Release<'static> {
        Release {
            requested_beyond_scopes: true,
            instance_admins: InstanceAdminRoles::none(),
        }
    }

    #[test]
    fn scopes_release_their_claims_only() {
        let claims = user_claims(
            &user(),
            &Scope::parse("openid email").unwrap(),
            &Default::default(),
            Target::Userinfo,
            &consenting(),
        );
        assert_eq!(claims["email"], "ada@example.com");
        assert!(claims.get("name").is_none());
        assert_eq!(claims["company_id"], uuid::Uuid::nil().to_string());
    }

    #[test]
    fn claims_parameter_adds_claims_per_target_for_a_client_that_skips_consent() {
        let request = ClaimsRequest::parse(
            r#"{"id_token":{"name":{"essential":true}},"userinfo":{"email":null}}"#,
        )
        .unwrap();
        let scope = Scope::parse("openid").unwrap();
        let id = user_claims(&user(), &scope, &request, Target::IdToken, &first_party());
        assert_eq!(id["name"], "Ada");
        assert!(id.get("email").is_none());
        let info = user_claims(&user(), &scope, &request, Target::Userinfo, &first_party());
        assert_eq!(info["email"], "ada@example.com");
        assert!(info.get("name").is_none());
    }

    #[test]
    fn claims_parameter_releases_only_what_the_scopes_cover_for_a_consenting_client() {
        let request = ClaimsRequest::parse(r#"{"userinfo":{"email":null,"name":null}}"#).unwrap();
        let openid = Scope::parse("openid").unwrap();
        let info = user_claims(&user(), &openid, &request, Target::Userinfo, &consenting());
        assert!(
            info.get("email").is_none() && info.get("name").is_none(),
            "{info:?}"
        );
        assert_eq!(info["role"], "admin", "company_id and role as before");
        let email = Scope::parse("openid email").unwrap();
        let info = user_claims(&user(), &email, &request, Target::Userinfo, &consenting());
        assert_eq!(info["email"], "ada@example.com");
        assert!(info.get("name").is_none(), "{info:?}");
    }

    #[test]
    fn groups_are_company_scoped_and_never_nextclouds_admin_group() {
        let mut ada = user();
        ada.role = "Admin".into();
        let company = format!("company-{}", uuid::Uuid::nil());
        assert_eq!(
            groups(&ada, InstanceAdminRoles::none()),
            [company.clone(), format!("{company}-admin")]
        );
        let mut other = ada.clone();
        other.company_id = uuid::Uuid::from_u128(7);
        assert!(groups(&other, InstanceAdminRoles::none())
            .iter()
            .all(|g| !groups(&ada, InstanceAdminRoles::none()).contains(g)));
    }

    #[test]
    fn roles_fold_to_short_safe_group_ids() {
        assert_eq!(role_slug(" Team Lead ", 19), "team-lead");
        assert_eq!(role_slug("R&D/ops", 19), "r-d-ops");
        // Empty or too long: cut, and told apart by a hash of the role.
        let long = role_slug("head of regional operations", 19);
        assert!(long.starts_with("head-of-r") && long.len() <= 19, "{long}");
        assert_ne!(long, role_slug("head of regional other", 19));
        let cjk = role_slug("管理者", 19);
        assert_eq!(cjk.len(), 8);
        assert!(cjk.chars().all(|c| c.is_ascii_hexdigit()), "{cjk}");
        let ada = user();
        let longest = groups(
            &User {
                role: "x".repeat(200),
                ..ada
            },
            InstanceAdminRoles::none(),
        );
        assert!(
            longest.iter().all(|g| g.len() <= MAX_GROUP_ID),
            "{longest:?}"
        );
    }

    #[test]
    fn malformed_claims_parameter_is_refused() {
        assert!(ClaimsRequest::parse("not json").is_err());
        assert!(ClaimsRequest::parse("[1]").is_err());
        assert!(ClaimsRequest::parse(r#"{"userinfo": 5}"#).is_err());
    }
}
