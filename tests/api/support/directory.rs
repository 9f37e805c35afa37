//! A password login straight against a directory, without the app around it.

use bheem_sso::config::LoginLimitConfig;
use bheem_sso::directory::Directory;
use bheem_sso::login::{authenticate, AuthOutcome, LoginFrom};
use bheem_sso::login_limits::LoginLimiter;
use bheem_sso::password::Passwords;

/// [`bheem_sso::login::authenticate`] as a login from one address, with limits too generous
/// to get in the way: for tests of the directories themselves.
pub async fn check_login(
    directory: &dyn Directory,
    passwords: &Passwords,
    login: &str,
    password: &str,
) -> AuthOutcome {
    let limiter = LoginLimiter::new(&LoginLimitConfig {
        per_account_per_minute: 1000,
        per_ip_per_minute: 1000,
        per_account_all_addresses_per_minute: 4000,
        device_cookie_days: 1,
    });
    let from = LoginFrom {
        ip: std::net::Ipv4Addr::LOCALHOST.into(),
        device: None,
        via: bheem_sso::telemetry::LoginVia::Api,
    };
    let password = secrecy::SecretString::from(password.to_owned());
    authenticate(directory, passwords, &limiter, &from, login, &password)
        .await
        .unwrap()
}
