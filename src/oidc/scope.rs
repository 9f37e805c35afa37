//! Scopes (RFC 6749 §3.3): a set of tokens, space-delimited on the wire.

use std::collections::BTreeSet;
use std::fmt;

/// Scopes this provider gives meaning to for every client; others are ignored, not refused
/// (relying parties send their own, and conformance expects no error), except the
/// [`CLIENT_CLAIM_SCOPES`] of a client configured with their claim.
pub const SUPPORTED: &[&str] = &[
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
    "company",
];

/// The workspace areas' scopes (`meet`, `docs`, `calendar`, `mail`): each opens one area's API to
/// a token. Granted to the workspace SPA's own login, and to a client only if its
/// `allowed_scopes` lists the scope and it asks for it; dropped like an unknown scope otherwise.
pub use crate::config::AREA_SCOPES;

/// Scopes named after a claim that a client is given from its own configuration
/// (`role_claims` or `extra_claims`), as Mailcow asks for `mailcow_template`. Such a scope is
/// granted to a client configured with its claim, and dropped like any unknown scope for the
/// others; discovery lists it when some client has it.
pub const CLIENT_CLAIM_SCOPES: &[&str] = &["mailcow_template"];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope(BTreeSet<String>);

impl Scope {
    /// Parses a scope string; an empty string is the empty set.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut set = BTreeSet::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
            if !token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
            {
                return Err(format!("invalid scope token {token:?}"));
            }
            set.insert(token.to_owned());
        }
        Ok(Self(set))
    }

    /// Only the scopes this provider grants (`extra` are further ones a client may have).
    pub fn supported(&self, extra: &[String]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|s| SUPPORTED.contains(&s.as_str()) || extra.contains(s))
                .cloned()
                .collect(),
        )
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Without the area scopes ([`AREA_SCOPES`]) that are not in `allowed`: what a refresh
    /// renews once an operator has taken an area from a client's `allowed_scopes`.
    pub fn within_areas(&self, allowed: &[String]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|s| !AREA_SCOPES.contains(&s.as_str()) || allowed.contains(s))
                .cloned()
                .collect(),
        )
    }

    pub fn without(&self, scope: &str) -> Self {
        Self(self.0.iter().filter(|s| *s != scope).cloned().collect())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

/// Plain words for the consent page.
pub fn describe(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "openid" => "Know who you are (your account identifier)",
        "profile" => "See your name and username",
        "email" => "See your email address",
        "address" => "See your postal address",
        "phone" => "See your phone number",
        "offline_access" => "Stay signed in to your account while you are away",
        "company" => "See which company you belong to and your role in it",
        "mailcow_template" => "Set up your mailbox with the settings your role calls for",
        "meet" => "See, create and join your Bheem Meet meetings, and their recordings",
        "docs" => "See and change your files in Bheem Docs",
        "calendar" => "See and change your calendar",
        "mail" => "Read and send your email",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_space_delimited_sets_in_any_order() {
        let a = Scope::parse("openid  email profile").unwrap();
        let b = Scope::parse("profile openid email").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "email openid profile");
    }

    #[test]
    fn unknown_scopes_are_dropped_not_refused() {
        let s = Scope::parse("openid mailcow_template email")
            .unwrap()
            .supported(&[]);
        assert_eq!(s.to_string(), "email openid");
        let s = Scope::parse("openid mailcow_template")
            .unwrap()
            .supported(&["mailcow_template".into()]);
        assert!(s.contains("mailcow_template"));
    }

    #[test]
    fn an_area_scope_is_granted_only_to_a_client_allowed_it() {
        let asked = Scope::parse("openid meet docs").unwrap();
        assert_eq!(asked.supported(&[]).to_string(), "openid");
        assert_eq!(asked.supported(&["meet".into()]).to_string(), "meet openid");
        for area in AREA_SCOPES {
            assert!(describe(area).is_some(), "{area} has no words for consent");
        }
        let granted = Scope::parse("openid meet docs mailcow_template").unwrap();
        assert_eq!(
            granted.within_areas(&["docs".into()]).to_string(),
            "docs mailcow_template openid"
        );
    }

    #[test]
    fn invalid_characters_are_refused() {
        assert!(Scope::parse("openid \"email\"").is_err());
        assert!(Scope::parse("open\\id").is_err());
    }
}
