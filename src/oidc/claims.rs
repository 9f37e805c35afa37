//! Which claims a token or userinfo answer carries: those of the granted scopes, plus those the
//! `claims` request parameter asks for (OIDC Core §5.4, §5.5).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::scope::Scope;
use crate::directory::User;

/// The `claims` request parameter. Only the names matter here: values and `essential` are
/// hints, and every claim this provider knows is available to the client that asked.
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
fn claim_value(user: &User, name: &str) -> Option<Value> {
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
        "groups" => Value::from(groups(user)),
        _ => return None,
    })
}

/// The user's groups downstream: their company and their role in it.
pub fn groups(user: &User) -> Vec<String> {
    vec![format!("company-{}", user.company_id), user.role.clone()]
}

/// The value of a claim for provisioning (the uid Nextcloud maps, for one).
pub fn claim_string(user: &User, name: &str) -> Option<String> {
    match name {
        "sub" => Some(user.id.clone()),
        _ => claim_value(user, name).and_then(|v| v.as_str().map(str::to_owned)),
    }
}

/// Where claims are going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    IdToken,
    Userinfo,
}

/// The user claims for `target`: `company_id` and `role` always (tokens are company-scoped),
/// those of the granted scopes, and those requested by name.
pub fn user_claims(
    user: &User,
    scope: &Scope,
    request: &ClaimsRequest,
    target: Target,
) -> Map<String, Value> {
    let mut names: BTreeSet<&str> = ["company_id", "role"].into_iter().collect();
    for s in scope.iter() {
        names.extend(scope_claims(s));
    }
    let requested = match target {
        Target::IdToken => ClaimsRequest::names(&request.id_token).collect::<Vec<_>>(),
        Target::Userinfo => ClaimsRequest::names(&request.userinfo).collect(),
    };
    names.extend(requested);
    names
        .into_iter()
        .filter_map(|name| claim_value(user, name).map(|v| (name.to_owned(), v)))
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

    #[test]
    fn scopes_release_their_claims_only() {
        let claims = user_claims(
            &user(),
            &Scope::parse("openid email").unwrap(),
            &Default::default(),
            Target::Userinfo,
        );
        assert_eq!(claims["email"], "ada@example.com");
        assert!(claims.get("name").is_none());
        assert_eq!(claims["company_id"], uuid::Uuid::nil().to_string());
    }

    #[test]
    fn claims_parameter_adds_claims_per_target() {
        let request = ClaimsRequest::parse(
            r#"{"id_token":{"name":{"essential":true}},"userinfo":{"email":null}}"#,
        )
        .unwrap();
        let scope = Scope::parse("openid").unwrap();
        let id = user_claims(&user(), &scope, &request, Target::IdToken);
        assert_eq!(id["name"], "Ada");
        assert!(id.get("email").is_none());
        let info = user_claims(&user(), &scope, &request, Target::Userinfo);
        assert_eq!(info["email"], "ada@example.com");
        assert!(info.get("name").is_none());
    }

    #[test]
    fn malformed_claims_parameter_is_refused() {
        assert!(ClaimsRequest::parse("not json").is_err());
        assert!(ClaimsRequest::parse("[1]").is_err());
        assert!(ClaimsRequest::parse(r#"{"userinfo": 5}"#).is_err());
    }
}
