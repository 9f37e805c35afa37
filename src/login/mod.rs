//! Signing in: the one password-login sequence shared by the hosted form and the JSON API, the
//! SSO session a login starts, and the login a browser comes back with.

mod authenticate;

pub use authenticate::{authenticate, AuthOutcome, CredentialTag, Failure, KnownDevice, LoginFrom};

use std::sync::Arc;

use secrecy::SecretString;

use crate::audit::{login_digest, Audit, Event, Kind, ANONYMOUS};
use crate::clock::Clock;
use crate::config::Config;
use crate::directory::{Directory, User};
use crate::login_limits::{Limited, LoginLimiter};
use crate::oidc::client::Client;
use crate::password::Passwords;
use crate::provisioning::accounts::{deactivated, jobs_for_login};
use crate::provisioning::Provisioning;
use crate::secrets::new_secret;
use crate::store::sessions::SsoSession;
use crate::store::Db;
use crate::telemetry::{self, LoginOutcome};

/// Why a browser's previous SSO session ends when it logs in again.
const REPLACED: &str = "replaced by a new login";

/// The `reason` of a refused login's log line, for the refusals whose audit event says it by
/// its kind (`login_throttled`, `login_refused_busy`) or its own `reason` (`inactive`); the
/// others are [`Failure::reason`], the words of `login_failed`.
const THROTTLED: &str = "throttled";
const BUSY: &str = "busy";
const INACTIVE: &str = "inactive";

/// What logging in uses; cheap to clone.
#[derive(Clone)]
pub struct Logins {
    pub config: Arc<Config>,
    pub db: Db,
    pub directory: Arc<dyn Directory>,
    pub clock: Clock,
    pub passwords: Passwords,
    pub limiter: Arc<LoginLimiter>,
    pub provisioning: Provisioning,
    pub audit: Audit,
}

/// How a password login ended.
// One value per login attempt, moved once: the size of `LoggedIn` costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum PasswordLogin {
    /// A new SSO session, and the credential the password was checked against (a device cookie
    /// is bound to it).
    LoggedIn {
        user: User,
        session: SsoSession,
        credential: CredentialTag,
    },
    /// Too many failures lately for this account or address: nothing was checked.
    Limited(Limited),
    /// Every password-hashing slot is busy: nothing was checked, come back in a moment.
    Busy,
    /// Unknown login, wrong password or a disabled account: the same to the person trying.
    Refused(Refusal),
}

/// Why a login was refused, as the audit trail says it: for the operator's metrics only, never
/// told to the person trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownUser,
    /// An ERP account without a valid company id.
    NoCompany,
    WrongPassword,
    /// The account's stored hash is in no format we can check.
    UnusableHash,
    /// Longer than any password may be: not checked.
    PasswordTooLong,
    /// The right password of a disabled account.
    Disabled,
}

impl From<&Failure> for Refusal {
    fn from(failure: &Failure) -> Self {
        match failure {
            Failure::UnknownLogin => Self::UnknownUser,
            Failure::NoCompany(_) => Self::NoCompany,
            Failure::WrongPassword(_) => Self::WrongPassword,
            Failure::UnusableHash(_) => Self::UnusableHash,
            Failure::PasswordTooLong => Self::PasswordTooLong,
        }
    }
}

impl Logins {
    /// Checks the password ([`authenticate`]); a right password of a disabled account disables
    /// its downstream accounts and ends its sessions. A login ends the browser's previous SSO
    /// session (`replaces`) and starts a new one, with the accounts it calls for.
    pub async fn with_password(
        &self,
        from: &LoginFrom<'_>,
        login: &str,
        password: &SecretString,
        client: Option<&Client>,
        replaces: Option<&str>,
    ) -> anyhow::Result<PasswordLogin> {
        let login = self
            .check_password(from, login, password, client, replaces)
            .await;
        let outcome = match &login {
            Ok(PasswordLogin::LoggedIn { .. }) => LoginOutcome::Ok,
            Ok(PasswordLogin::Limited(_)) => LoginOutcome::Throttled,
            Ok(PasswordLogin::Busy) => LoginOutcome::Busy,
            Ok(PasswordLogin::Refused(refusal)) => match refusal {
                Refusal::UnknownUser => LoginOutcome::UnknownUser,
                Refusal::NoCompany => LoginOutcome::NoCompany,
                Refusal::WrongPassword => LoginOutcome::WrongPassword,
                Refusal::UnusableHash => LoginOutcome::UnusablePasswordHash,
                Refusal::PasswordTooLong => LoginOutcome::PasswordTooLong,
                Refusal::Disabled => LoginOutcome::Disabled,
            },
            Err(_) => LoginOutcome::Error,
        };
        telemetry::login(outcome, from.via);
        login
    }

    async fn check_password(
        &self,
        from: &LoginFrom<'_>,
        login: &str,
        password: &SecretString,
        client: Option<&Client>,
        replaces: Option<&str>,
    ) -> anyhow::Result<PasswordLogin> {
        let outcome = authenticate(
            self.directory.as_ref(),
            &self.passwords,
            &self.limiter,
            from,
            login,
            password,
        )
        .await?;
        let ip = from.ip;
        // Who tried is not known until the password is right: the account named is the user.
        let attempt = |kind: Kind| {
            let event = Event::new(kind, ANONYMOUS).client_addr(ip);
            match client {
                Some(client) => event.client(client.id.as_str()),
                None => event,
            }
        };
        let (user, credential) = match outcome {
            AuthOutcome::Authenticated(user, credential) => (user, credential),
            AuthOutcome::Limited(limited) => {
                let retry_after = limited.retry_after.as_secs();
                tracing::warn!(
                    reason = THROTTLED,
                    via = from.via.as_str(),
                    login_digest = %login_digest(login),
                    retry_after_seconds = retry_after,
                    "login refused"
                );
                self.audit.record(
                    attempt(Kind::LoginThrottled)
                        .detail("login", login_digest(login))
                        .detail("retry_after_seconds", retry_after),
                );
                return Ok(PasswordLogin::Limited(limited));
            }
            AuthOutcome::Busy => {
                tracing::warn!(
                    reason = BUSY,
                    via = from.via.as_str(),
                    login_digest = %login_digest(login),
                    "login refused: every password hashing slot is busy"
                );
                self.audit
                    .record(attempt(Kind::LoginRefusedBusy).detail("login", login_digest(login)));
                return Ok(PasswordLogin::Busy);
            }
            AuthOutcome::Inactive(user) => {
                tracing::info!(
                    reason = INACTIVE,
                    via = from.via.as_str(),
                    user_id = %user.id,
                    "login refused"
                );
                self.audit.record(
                    attempt(Kind::LoginFailed)
                        .user(user.id.as_str())
                        .company(user.company_id)
                        .detail("reason", INACTIVE),
                );
                deactivated(&self.provisioning, &user.id, "login").await?;
                return Ok(PasswordLogin::Refused(Refusal::Disabled));
            }
            AuthOutcome::InvalidCredentials(failure) => {
                self.log_failure(from, login, &failure);
                let event = attempt(Kind::LoginFailed).detail("reason", failure.reason());
                self.audit
                    .record(match (failure.user(), failure.user_id()) {
                        (Some(user), _) => event.user(user.id.as_str()).company(user.company_id),
                        (None, Some(user_id)) => event.user(user_id),
                        (None, None) => event.detail("login", login_digest(login)),
                    });
                return Ok(PasswordLogin::Refused(Refusal::from(&failure)));
            }
        };
        if let Some(previous) = replaces {
            let ended = self
                .db
                .end_sso_session(previous, REPLACED, self.clock.now())
                .await?;
            if let Some(ended) = ended {
                // The browser's previous login may have been someone else's.
                self.audit.record(
                    Event::new(Kind::SessionEnded, user.id.as_str())
                        .user(ended.user_id)
                        .company(ended.company_id)
                        .detail("reason", REPLACED),
                );
            }
        }
        let session = self.record_login(&user, client).await?;
        crate::origin::note_user(&user.id.to_string());
        tracing::info!(user_id = %user.id, %ip, "logged in");
        let event = Event::new(Kind::LoginSucceeded, user.id.as_str())
            .user(user.id.as_str())
            .company(user.company_id)
            .client_addr(ip);
        self.audit.record(match client {
            Some(client) => event.client(client.id.as_str()),
            None => event,
        });
        Ok(PasswordLogin::LoggedIn {
            user,
            session,
            credential,
        })
    }

    /// The one line of a refused login whose password was checked (or was too long to be),
    /// with the `reason` its `login_failed` event gives. The account is named by its user id
    /// once the login names one; a login that names nobody only by [`login_digest`]: attempts
    /// at one name can be correlated without writing the name itself, which is often someone's
    /// address or a password typed into the wrong field.
    fn log_failure(&self, from: &LoginFrom<'_>, login: &str, failure: &Failure) {
        let (reason, via) = (failure.reason(), from.via.as_str());
        match failure {
            Failure::UnusableHash(user) => tracing::warn!(
                reason,
                via,
                user_id = %user.id,
                directory = self.directory.kind(),
                "login refused: the stored password hash is in no format that can be checked"
            ),
            Failure::WrongPassword(user) => {
                tracing::info!(reason, via, user_id = %user.id, "login refused")
            }
            Failure::NoCompany(user_id) => tracing::warn!(
                reason,
                via,
                %user_id,
                directory = self.directory.kind(),
                "login refused: the account has no valid company id in the directory"
            ),
            Failure::UnknownLogin | Failure::PasswordTooLong => tracing::info!(
                reason,
                via,
                login_digest = %login_digest(login),
                "login refused"
            ),
        }
    }

    /// Records a login: a new SSO session, and in the same transaction the accounts it calls
    /// for. Returns the session, as [`Db::sso_session`] would now read it.
    async fn record_login(
        &self,
        user: &User,
        client: Option<&Client>,
    ) -> anyhow::Result<SsoSession> {
        let now = self.clock.now();
        let session = SsoSession::started(
            new_secret(),
            user.id.clone(),
            user.company_id.to_string(),
            now,
            now + self.config.session.absolute_seconds as i64,
        );
        let jobs = jobs_for_login(&self.config, user, client);
        self.db.create_sso_session(&session, &jobs).await?;
        Ok(session)
    }

    /// The live SSO session `sso_session_id` and its user. A session whose user has been
    /// disabled or removed is ended here.
    pub async fn current(
        &self,
        sso_session_id: &str,
    ) -> anyhow::Result<Option<(SsoSession, User)>> {
        let now = self.clock.now();
        let Some(session) = self.db.sso_session(sso_session_id).await? else {
            return Ok(None);
        };
        let idle = self.config.session.idle_seconds;
        if !session.is_live(now, idle) {
            return Ok(None);
        }
        match self.directory.find_by_id(&session.user_id).await? {
            Some(user) if user.active => {
                // The idle clock moves in steps small beside the idle lifetime (a sixteenth of
                // it, a minute at most): a write per step, not one per request.
                let step = (idle / 16).clamp(1, 60) as i64;
                if now - session.last_seen_at >= step {
                    self.db.touch_sso_session(sso_session_id, now).await?;
                }
                Ok(Some((session, user)))
            }
            _ => {
                deactivated(&self.provisioning, &session.user_id, "returning session").await?;
                Ok(None)
            }
        }
    }
}
