//! Checking a login and password against the directory: the one place a password is checked.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::directory::{Credentials, Directory, FoundLogin, User};
use crate::domain::normalize_login;
use crate::login_limits::{Attempt, Limited, LoginLimiter};
use crate::password::{Passwords, Verification};
use crate::telemetry::LoginVia;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The password is right; with the tag of the credential it was checked against.
    Authenticated(User, CredentialTag),
    /// Right password, but the account is disabled in the directory.
    Inactive(User),
    /// Unknown user, wrong password or an unusable stored hash: all look the same outside; which
    /// one is for the audit trail only.
    InvalidCredentials(Failure),
    /// Too many failures lately for this account or address: nothing was checked.
    Limited(Limited),
    /// Too many password checks at once: nothing was checked, the caller should come back.
    Busy,
}

/// Why a password login failed, for the audit trail: the person trying is told none of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No account by that email or username.
    UnknownLogin,
    /// An ERP account, this user id, without a valid company id: it cannot be given
    /// company-scoped tokens, so its password is not checked.
    NoCompany(String),
    WrongPassword(User),
    /// The account's stored hash is in no format we can check.
    UnusableHash(User),
    /// Longer than any password is allowed to be; not hashed, and the account not looked at.
    PasswordTooLong,
}

impl Failure {
    pub fn reason(&self) -> &'static str {
        match self {
            Failure::UnknownLogin => "unknown_user",
            Failure::NoCompany(_) => "no_company",
            Failure::WrongPassword(_) => "wrong_password",
            Failure::UnusableHash(_) => "unusable_password_hash",
            Failure::PasswordTooLong => "password_too_long",
        }
    }

    /// The account the login named, when it names one.
    pub fn user(&self) -> Option<&User> {
        match self {
            Failure::WrongPassword(user) | Failure::UnusableHash(user) => Some(user),
            Failure::UnknownLogin | Failure::NoCompany(_) | Failure::PasswordTooLong => None,
        }
    }

    /// The id of the account the login named, when it names one.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Failure::NoCompany(user_id) => Some(user_id),
            _ => self.user().map(|user| user.id.as_str()),
        }
    }
}

/// A short digest of an account's stored password hash. It changes whenever the password does,
/// so what is bound to it (a device cookie) lapses then; it tells nothing about the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialTag(pub String);

impl CredentialTag {
    fn of(stored_hash: Option<&str>) -> Self {
        let digest = Sha256::digest(stored_hash.unwrap_or_default().as_bytes());
        Self(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// A browser's valid device cookie: the user and the credential it was issued for, and its id.
#[derive(Debug, Clone, Copy)]
pub struct KnownDevice<'a> {
    pub user_id: &'a str,
    pub credential: &'a str,
    pub id: &'a str,
}

/// Where a login attempt comes from, for the limits and the metrics.
#[derive(Debug, Clone, Copy)]
pub struct LoginFrom<'a> {
    /// The client's address (`trusted_proxies` aware).
    pub ip: IpAddr,
    pub device: Option<KnownDevice<'a>>,
    /// The hosted page or the first-party API.
    pub via: LoginVia,
}

/// Longest login accepted; anything longer cannot be an account and is not looked up.
const MAX_LOGIN_LEN: usize = 320;
/// Longest password checked; a longer one is a failed login without hashing it (argon2 would
/// take it, but it only costs time).
const MAX_PASSWORD_LEN: usize = 1024;

/// Checks a login and password: the one password-login sequence, for the hosted page and the
/// first-party API alike. An unknown user costs the same as a wrong password; an unusable
/// stored hash is a failed login (which `Logins` logs at `warn`).
///
/// The limits ([`LoginLimiter`]) are asked once the login is resolved, so an account is one key
/// whether it is named by email or by username (its user id), and a login that names nobody is
/// keyed by its folded form. Only failures are counted, and a failure answers after the
/// limiter's escalating delay.
///
/// When every hashing slot is taken and the queue is full, the login is refused before the
/// user is looked up: a refusal under load costs no directory round trip.
pub async fn authenticate(
    directory: &dyn Directory,
    passwords: &Passwords,
    limiter: &LoginLimiter,
    from: &LoginFrom<'_>,
    login: &str,
    password: &SecretString,
) -> anyhow::Result<AuthOutcome> {
    if passwords.is_full() {
        return Ok(AuthOutcome::Busy);
    }
    // An address held back for everyone but the browsers an account knows: refused before the
    // look-up, so a held-back client costs no directory round trip. A browser with a device
    // cookie is let through to the look-up, which says whether the cookie is this account's.
    if from.device.is_none() {
        if let Err(limited) = limiter.address(from.ip) {
            return Ok(AuthOutcome::Limited(limited));
        }
    }
    let login = login.trim();
    let found = if login.is_empty() || login.len() > MAX_LOGIN_LEN {
        FoundLogin::Nobody
    } else {
        directory.find_by_login(login).await?
    };
    let credential = match &found {
        FoundLogin::Account(found) => Some(CredentialTag::of(found.password_hash.as_deref())),
        FoundLogin::NoCompany { .. } | FoundLogin::Nobody => None,
    };
    let account = match &found {
        FoundLogin::Account(found) => found.user.id.clone(),
        FoundLogin::NoCompany { user_id } => user_id.clone(),
        FoundLogin::Nobody => format!(
            "login:{}",
            normalize_login(&login.chars().take(MAX_LOGIN_LEN).collect::<String>())
        ),
    };
    let attempt = Attempt {
        account: &account,
        ip: from.ip,
        // The cookie of this account, made while its password was the one it is now.
        device: from
            .device
            .filter(|d| {
                d.user_id == account
                    && Some(d.credential) == credential.as_ref().map(|c| c.0.as_str())
            })
            .map(|d| d.id),
    };
    if let Err(limited) = limiter.attempt(&attempt) {
        return Ok(AuthOutcome::Limited(limited));
    }
    let outcome = if password.expose_secret().len() > MAX_PASSWORD_LEN {
        AuthOutcome::InvalidCredentials(Failure::PasswordTooLong)
    } else {
        check_password(directory, passwords, found, password).await
    };
    match &outcome {
        AuthOutcome::Inactive(_) | AuthOutcome::InvalidCredentials(_) => {
            tokio::time::sleep(limiter.failed(&attempt)).await;
        }
        AuthOutcome::Authenticated(..) => limiter.succeeded(&attempt),
        AuthOutcome::Busy => limiter.not_checked(&attempt),
        AuthOutcome::Limited(_) => {}
    }
    Ok(outcome)
}

/// The password against the stored hash of `found`, or against the dummy hash for nobody and
/// for an account that cannot log in anyway: each costs the same.
async fn check_password(
    directory: &dyn Directory,
    passwords: &Passwords,
    found: FoundLogin,
    password: &SecretString,
) -> AuthOutcome {
    let found = match found {
        FoundLogin::Account(found) => found,
        FoundLogin::NoCompany { user_id } => {
            return unchecked(passwords, password, Failure::NoCompany(user_id)).await
        }
        FoundLogin::Nobody => return unchecked(passwords, password, Failure::UnknownLogin).await,
    };
    let Credentials {
        user,
        mut password_hash,
    } = found;
    let verification = passwords.verify(password, password_hash.as_deref()).await;
    match verification {
        Verification::Match { .. } if !user.active => AuthOutcome::Inactive(user),
        Verification::Match { needs_rehash } => {
            if needs_rehash && directory.rehash_enabled() {
                if let Some(new) = rehash(directory, passwords, &user, password).await {
                    password_hash = Some(new);
                }
            }
            AuthOutcome::Authenticated(user, CredentialTag::of(password_hash.as_deref()))
        }
        // Logged (at `warn`) with the other refusals, by `Logins`.
        Verification::Unusable => AuthOutcome::InvalidCredentials(Failure::UnusableHash(user)),
        Verification::Mismatch => AuthOutcome::InvalidCredentials(Failure::WrongPassword(user)),
        Verification::Busy => AuthOutcome::Busy,
    }
}

/// `failure`, after checking the password against the dummy hash: it takes as long as a check
/// against a real one.
async fn unchecked(
    passwords: &Passwords,
    password: &SecretString,
    failure: Failure,
) -> AuthOutcome {
    match passwords.verify(password, None).await {
        Verification::Busy => AuthOutcome::Busy,
        _ => AuthOutcome::InvalidCredentials(failure),
    }
}

/// The new hash, once stored. A failure here is logged and does not fail the login: the old
/// hash still works.
async fn rehash(
    directory: &dyn Directory,
    passwords: &Passwords,
    user: &User,
    password: &SecretString,
) -> Option<String> {
    let result = match passwords.hash(password).await {
        Ok(hash) => directory
            .replace_password_hash(&user.id, &hash)
            .await
            .map(|()| hash),
        Err(e) => Err(e),
    };
    match result {
        Ok(hash) => {
            tracing::info!(user_id = %user.id, "password hash upgraded to argon2id");
            Some(hash)
        }
        Err(e) => {
            tracing::warn!(user_id = %user.id, error = format!("{e:#}"), "password rehash failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PasswordConfig;
    use crate::directory::counting::Counting;

    #[tokio::test]
    async fn a_login_refused_for_a_full_queue_does_not_look_the_user_up() {
        let passwords = Passwords::new(&PasswordConfig {
            memory_kib: 8 * 1024,
            iterations: 1,
            max_concurrent: 1,
            max_queue_ms: 0,
            ..Default::default()
        })
        .unwrap();
        let directory = Counting::default();
        let limiter = LoginLimiter::new(&Default::default());
        let from = LoginFrom {
            ip: IpAddr::from([192, 0, 2, 1]),
            device: None,
            via: LoginVia::Api,
        };
        let password = SecretString::from("whatever");
        let held = passwords.hold_every_slot();
        let outcome = authenticate(
            &directory, &passwords, &limiter, &from, "someone", &password,
        )
        .await;
        assert_eq!(outcome.unwrap(), AuthOutcome::Busy);
        assert_eq!(directory.by_login(), 0);
        drop(held);
        let outcome = authenticate(
            &directory, &passwords, &limiter, &from, "someone", &password,
        )
        .await;
        assert_eq!(
            outcome.unwrap(),
            AuthOutcome::InvalidCredentials(Failure::UnknownLogin)
        );
        assert_eq!(directory.by_login(), 1);
    }

    #[tokio::test]
    async fn an_address_held_back_is_refused_before_the_user_is_looked_up() {
        let passwords = Passwords::new(&PasswordConfig {
            memory_kib: 8 * 1024,
            iterations: 1,
            min_verify_ms: 1,
            ..Default::default()
        })
        .unwrap();
        let directory = Counting::default();
        let limiter = LoginLimiter::new(&crate::config::LoginLimitConfig {
            per_account_per_minute: 100,
            per_ip_per_minute: 1,
            per_account_all_addresses_per_minute: 400,
            device_cookie_days: 1,
        });
        let from = LoginFrom {
            ip: IpAddr::from([192, 0, 2, 1]),
            device: None,
            via: LoginVia::Api,
        };
        let password = SecretString::from("whatever");
        let outcome = authenticate(
            &directory, &passwords, &limiter, &from, "someone", &password,
        )
        .await;
        assert_eq!(
            outcome.unwrap(),
            AuthOutcome::InvalidCredentials(Failure::UnknownLogin)
        );
        assert_eq!(directory.by_login(), 1);
        let outcome = authenticate(
            &directory, &passwords, &limiter, &from, "another", &password,
        )
        .await;
        assert!(matches!(outcome.unwrap(), AuthOutcome::Limited(_)));
        assert_eq!(directory.by_login(), 1);
    }
}
