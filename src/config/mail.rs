//! `[mail]`: Bheem Mail, users' own mailboxes through `/api/v1/mail`, over IMAP and SMTP
//! submission to Mailcow's Dovecot and Postfix.
//!
//! The hub acts as the user with Dovecot's master-user login, as Mailcow's own webmail (SOGo)
//! does: `{mailbox}{master_separator}{master_user}` with the master password, over IMAP and for
//! SMTP submission (Postfix asks Dovecot). No per-user secret is stored here; the master password
//! comes from the environment only (`master_password_env`).
//!
//! Without `[mail]` the mail routes answer 404 and discovery omits the `mail` scope.

use std::net::IpAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::env::secret_var;
use super::ConfigError;

const DEFAULT_POOL_IDLE_SECONDS: u64 = 60;
const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 10;
/// Postfix's `message_size_limit` in Mailcow is 100 MiB; most providers take 25.
const DEFAULT_MAX_MESSAGE_MIB: u64 = 25;

/// How the connections to the mail servers are protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailTls {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// A plain connection upgraded with STARTTLS before the login (143, 587).
    Starttls,
    /// No TLS at all: only to a server on the loopback interface (the same host or pod).
    None,
}

impl MailTls {
    fn parse(key: &str, raw: &str) -> Result<Self, ConfigError> {
        match raw {
            "implicit" => Ok(Self::Implicit),
            "starttls" => Ok(Self::Starttls),
            "none" => Ok(Self::None),
            other => Err(ConfigError::new(
                key,
                format!("`{other}`: use implicit, starttls or none"),
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct MailConfig {
    /// Dovecot's IMAP host name (also the name its certificate is checked against).
    pub imap_host: String,
    pub imap_port: u16,
    /// Postfix's submission host name.
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: MailTls,
    /// Certificates (PEM) trusted besides the public roots: a private CA, or the mail server's
    /// own certificate, for a Mailcow reached by an internal name.
    pub tls_ca_pem: Option<Vec<u8>>,
    /// Dovecot's master user as it follows the separator in a login (`bheem@mailcow.local`).
    pub master_user: String,
    /// Its password, from the variable `master_password_env` names.
    pub master_password: SecretString,
    /// What joins the mailbox and the master user in a login (Dovecot's
    /// `auth_master_user_separator`, `*` in Mailcow).
    pub master_separator: String,
    /// How long a logged-in IMAP connection is kept for the user's next request.
    pub pool_idle_seconds: u64,
    /// How long a connection, a login, or one call to a mail server may take.
    pub request_timeout_seconds: u64,
    /// The largest message `/send` takes, attachments included, and the largest one read whole.
    pub max_message_bytes: u64,
}

/// `[mail]` as written; every key optional so that an environment override alone can make the
/// section, and what is required is checked in [`validate_mail`], naming the key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMail {
    pub(super) imap_host: Option<String>,
    pub(super) imap_port: Option<u16>,
    pub(super) smtp_host: Option<String>,
    pub(super) smtp_port: Option<u16>,
    pub(super) tls: Option<String>,
    pub(super) tls_ca_file: Option<PathBuf>,
    pub(super) master_user: Option<String>,
    pub(super) master_password_env: Option<String>,
    pub(super) master_separator: Option<String>,
    pub(super) pool_idle_seconds: Option<u64>,
    pub(super) request_timeout_seconds: Option<u64>,
    pub(super) max_message_mib: Option<u64>,
}

fn required(key: &str, value: Option<String>) -> Result<String, ConfigError> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ConfigError::new(key, "missing")),
    }
}

/// A host name or an IP address, nothing more (no scheme, port or path).
fn host(key: &str, raw: Option<String>) -> Result<String, ConfigError> {
    let host = required(key, raw)?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ok = bare.parse::<IpAddr>().is_ok()
        || bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if !ok {
        return Err(ConfigError::new(
            key,
            format!("`{host}` is not a host name or address (no scheme, port or path)"),
        ));
    }
    Ok(bare.to_owned())
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub(super) fn validate_mail(
    raw: RawMail,
    env: &[(String, String)],
) -> Result<MailConfig, ConfigError> {
    let imap_host = host("mail.imap_host", raw.imap_host)?;
    // The submission server is usually the IMAP server's host (Mailcow runs both).
    let smtp_host = match raw.smtp_host {
        Some(h) => host("mail.smtp_host", Some(h))?,
        None => imap_host.clone(),
    };
    let tls = MailTls::parse("mail.tls", raw.tls.as_deref().unwrap_or("implicit").trim())?;
    if tls == MailTls::None {
        for (key, host) in [
            ("mail.imap_host", &imap_host),
            ("mail.smtp_host", &smtp_host),
        ] {
            if !is_loopback(host) {
                return Err(ConfigError::new(
                    key,
                    format!(
                        "`{host}` is not a loopback address, and tls = \"none\" would send the \
                         master password in the clear: use implicit or starttls"
                    ),
                ));
            }
        }
    }
    let tls_ca_pem = match raw.tls_ca_file {
        None => None,
        Some(path) => {
            let pem = std::fs::read(&path).map_err(|e| {
                ConfigError::new(
                    "mail.tls_ca_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(ConfigError::new(
                    "mail.tls_ca_file",
                    format!("{} holds no PEM certificate", path.display()),
                ));
            }
            Some(pem)
        }
    };
    let (imap_default, smtp_default) = match tls {
        MailTls::Implicit => (993, 465),
        MailTls::Starttls | MailTls::None => (143, 587),
    };
    let imap_port = raw.imap_port.unwrap_or(imap_default);
    let smtp_port = raw.smtp_port.unwrap_or(smtp_default);
    for (key, port) in [("mail.imap_port", imap_port), ("mail.smtp_port", smtp_port)] {
        if port == 0 {
            return Err(ConfigError::new(key, "must be a port between 1 and 65535"));
        }
    }
    let master_user = required("mail.master_user", raw.master_user)?;
    let master_separator = raw.master_separator.unwrap_or_else(|| "*".to_owned());
    if master_separator.is_empty()
        || master_separator
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\')
    {
        return Err(ConfigError::new(
            "mail.master_separator",
            "must be one or more visible characters (Dovecot's auth_master_user_separator)",
        ));
    }
    if master_user.contains(&master_separator)
        || master_user
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\')
    {
        return Err(ConfigError::new(
            "mail.master_user",
            "must not contain blanks, quotes, backslashes or the separator",
        ));
    }
    let var = required("mail.master_password_env", raw.master_password_env)?;
    let master_password = secret_var(env, &var)
        .map(SecretString::from)
        .map_err(|m| ConfigError::new("mail.master_password_env", m))?;
    let pool_idle_seconds = raw.pool_idle_seconds.unwrap_or(DEFAULT_POOL_IDLE_SECONDS);
    if pool_idle_seconds > 3600 {
        return Err(ConfigError::new(
            "mail.pool_idle_seconds",
            "must be at most 3600 (0 keeps no connection)",
        ));
    }
    let request_timeout_seconds = raw
        .request_timeout_seconds
        .unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECONDS);
    if !(1..=120).contains(&request_timeout_seconds) {
        return Err(ConfigError::new(
            "mail.request_timeout_seconds",
            "must be between 1 and 120",
        ));
    }
    let max_message_mib = raw.max_message_mib.unwrap_or(DEFAULT_MAX_MESSAGE_MIB);
    if !(1..=1024).contains(&max_message_mib) {
        return Err(ConfigError::new(
            "mail.max_message_mib",
            "must be between 1 and 1024",
        ));
    }
    Ok(MailConfig {
        imap_host,
        imap_port,
        smtp_host,
        smtp_port,
        tls,
        tls_ca_pem,
        master_user,
        master_password,
        master_separator,
        pool_idle_seconds,
        request_timeout_seconds,
        max_message_bytes: max_message_mib * 1024 * 1024,
    })
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::MailTls;
    use crate::config::{Config, ConfigErrors, ConfigSource};

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let env: Vec<_> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_parts(text, &env, ConfigSource::BuiltInDefaults)
    }

    const PASSWORD: (&str, &str) = ("MAIL_MASTER_PASSWORD", "master-password-for-units");
    const MAIL: &str = "[mail]\nimap_host = \"mail.example.org\"\nmaster_user = \
                        \"bheem@mailcow.local\"\nmaster_password_env = \"MAIL_MASTER_PASSWORD\"\n";

    #[test]
    fn defaults_are_implicit_tls_on_the_standard_ports() {
        let config = load(MAIL, &[PASSWORD]).unwrap();
        let mail = config.mail.unwrap();
        assert_eq!(mail.tls, MailTls::Implicit);
        assert_eq!((mail.imap_port, mail.smtp_port), (993, 465));
        assert_eq!(mail.smtp_host, "mail.example.org");
        assert_eq!(mail.master_separator, "*");
        assert_eq!(mail.master_password.expose_secret(), PASSWORD.1);
        assert_eq!(mail.pool_idle_seconds, 60);
        assert_eq!(mail.request_timeout_seconds, 10);
        assert_eq!(mail.max_message_bytes, 25 * 1024 * 1024);
        assert!(load("", &[]).unwrap().mail.is_none());
    }

    #[test]
    fn environment_overrides_and_starttls_ports() {
        let config = load(
            MAIL,
            &[
                PASSWORD,
                ("BHEEM_SSO_MAIL_TLS", "starttls"),
                ("BHEEM_SSO_MAIL_SMTP_HOST", "smtp.example.org"),
                ("BHEEM_SSO_MAIL_POOL_IDLE_SECONDS", "5"),
                ("BHEEM_SSO_MAIL_MAX_MESSAGE_MIB", "10"),
            ],
        )
        .unwrap();
        let mail = config.mail.unwrap();
        assert_eq!(mail.tls, MailTls::Starttls);
        assert_eq!((mail.imap_port, mail.smtp_port), (143, 587));
        assert_eq!(mail.smtp_host, "smtp.example.org");
        assert_eq!(mail.pool_idle_seconds, 5);
        assert_eq!(mail.max_message_bytes, 10 * 1024 * 1024);
    }

    #[test]
    fn plain_connections_only_to_loopback() {
        let local = "[mail]\nimap_host = \"127.0.0.1\"\nimap_port = 1143\nsmtp_port = 1587\n\
                     tls = \"none\"\nmaster_user = \"m\"\nmaster_password_env = \
                     \"MAIL_MASTER_PASSWORD\"\n";
        let mail = load(local, &[PASSWORD]).unwrap().mail.unwrap();
        assert_eq!(mail.tls, MailTls::None);
        let errors = load(&format!("{MAIL}tls = \"none\"\n"), &[PASSWORD]).unwrap_err();
        assert_eq!(errors.keys(), ["mail.imap_host"]);
    }

    #[test]
    fn problems_name_the_key() {
        for (text, env, key) in [
            ("[mail]\n", vec![PASSWORD], "mail.imap_host"),
            (MAIL, vec![], "mail.master_password_env"),
            (
                "[mail]\nimap_host = \"imap://x\"\n",
                vec![PASSWORD],
                "mail.imap_host",
            ),
            (
                &format!("{MAIL}tls = \"ssl\"\n"),
                vec![PASSWORD],
                "mail.tls",
            ),
            (
                &format!("{MAIL}master_separator = \"\"\n"),
                vec![PASSWORD],
                "mail.master_separator",
            ),
            (
                &format!("{MAIL}request_timeout_seconds = 0\n"),
                vec![PASSWORD],
                "mail.request_timeout_seconds",
            ),
            (
                &format!("{MAIL}tls_ca_file = \"/nonexistent/mail-ca.pem\"\n"),
                vec![PASSWORD],
                "mail.tls_ca_file",
            ),
            (
                &format!("{MAIL}max_message_mib = 0\n"),
                vec![PASSWORD],
                "mail.max_message_mib",
            ),
        ] {
            let errors = load(text, &env).unwrap_err();
            assert!(errors.iter().any(|e| e.key == key), "{text}: {errors:?}");
        }
    }
}
