//! Small types that raw strings are parsed into at the edge.

use std::fmt;

/// The form of a login (email or username) used for case-insensitive look-ups.
pub fn normalize_login(login: &str) -> String {
    login.trim().to_lowercase()
}

/// An email address: one `@`, a non-empty local part, a dotted domain, no spaces.
/// Deliberately not RFC 5322 in full: it is an account name, not a mail parser.
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim();
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(format!("`{email}` is not an email address (no @)"));
        };
        let valid = !local.is_empty()
            && local.len() <= 64
            && email.len() <= 254
            && !local.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(Self(email.to_owned()))
        } else {
            Err(format!("`{email}` is not a valid email address"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn normalized(&self) -> String {
        normalize_login(&self.0)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

/// A username: 1 to 64 characters of letters, digits and `.-_`, not an email address.
pub fn parse_username(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "`{name}` is not a valid username (1 to 64 letters, digits, . - _)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_compared_case_insensitively() {
        let email = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Alice@Example.COM");
        assert_eq!(email.normalized(), "alice@example.com");
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@localhost",
            "a b@example.com",
            "alice@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn usernames_allow_only_plain_characters() {
        assert_eq!(parse_username(" alice.smith ").unwrap(), "alice.smith");
        assert!(parse_username("alice smith").is_err());
        assert!(parse_username("alice@example.com").is_err());
        assert!(parse_username("").is_err());
    }
}
