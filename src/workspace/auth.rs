//! Who calls a workspace API: `Caller<A>`, extracted from an access token of this provider that
//! carries the scope of the area `A`.
//!
//! The workspace APIs are resource servers (RFC 6750, RFC 9068 §4). A token is taken from the
//! `Authorization: Bearer` header only: a JSON API has no form body to carry it (§2.2), and a
//! query string ends up in logs (§2.3 is not offered). Extracting a `Caller` checks, in order:
//!
//! 1. the area is configured (else 404, as if the API did not exist);
//! 2. the token is an RS256 JWT of this issuer with `typ: at+jwt`, signed by a key of the
//!    in-process key ring (so a rotation is seen at once) and not expired: offline, with the
//!    signatures of recently seen tokens remembered (`TokenIssuer::check_access_token`);
//! 3. the token registry still has it: not revoked, its login session not ended (a logout);
//! 4. it speaks for a user (a `client_credentials` token speaks for a service only), who is
//!    still active, and still of the company the token was issued for;
//! 5. it carries the area's scope (else 403 `insufficient_scope`, `scope="meet"`).
//!
//! Steps 2 to 4 answer 401 `invalid_token`; a missing token the bare challenge (RFC 6750 §3.1).

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use secrecy::SecretString;
use uuid::Uuid;

use super::error::ApiError;
use crate::config::Config;
use crate::directory::User;
use crate::http::bearer::bearer_token;
use crate::http::AppState;
use crate::oidc::scope::Scope;

/// A workspace area: its scope, and whether it is configured here.
pub trait Area: Send + Sync + 'static {
    /// The scope a token needs to call this area's API (one of `AREA_SCOPES`).
    const SCOPE: &'static str;

    /// Whether this deployment runs the area. An area that is off answers 404 and discovery
    /// does not list its scope.
    fn enabled(config: &Config) -> bool;
}

/// Bheem Meet (LiveKit): on when `[meet]` is configured.
pub struct Meet;
/// Bheem Docs (Nextcloud files): on when `[docs]` is configured.
pub struct Docs;
/// Bheem Calendar (Nextcloud's CalDAV): on when `[calendar]` is configured.
pub struct Calendar;
/// Bheem Mail (Mailcow's Dovecot and Postfix): on when `[mail]` is configured.
pub struct Mail;

impl Area for Meet {
    const SCOPE: &'static str = "meet";
    fn enabled(config: &Config) -> bool {
        config.meet_enabled()
    }
}

impl Area for Docs {
    const SCOPE: &'static str = "docs";
    fn enabled(config: &Config) -> bool {
        config.docs_enabled()
    }
}

impl Area for Calendar {
    const SCOPE: &'static str = "calendar";
    fn enabled(config: &Config) -> bool {
        config.calendar_enabled()
    }
}

impl Area for Mail {
    const SCOPE: &'static str = "mail";
    fn enabled(config: &Config) -> bool {
        config.mail_enabled()
    }
}

/// The scopes of the areas this deployment runs: what discovery lists besides the OpenID
/// Connect ones.
pub fn enabled_scopes(config: &Config) -> Vec<&'static str> {
    fn on<A: Area>(config: &Config) -> Option<&'static str> {
        A::enabled(config).then_some(A::SCOPE)
    }
    [
        on::<Meet>(config),
        on::<Docs>(config),
        on::<Calendar>(config),
        on::<Mail>(config),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The user a valid access token speaks for; extracting it does all the checks.
pub struct Caller<A: Area> {
    /// As the directory has it now, active.
    pub user: User,
    /// The token's company, which is the user's: the data layer scopes every query by it.
    pub company_id: Uuid,
    /// The client the token was issued to (the workspace SPA's `first_party_client_id`, or a
    /// relying party such as the Meet app).
    pub client_id: String,
    pub scope: Scope,
    /// The access token itself, for an area that acts as the user downstream by forwarding it
    /// (Docs to Nextcloud's user_oidc). Never logged: `Debug` leaves it out.
    pub token: SecretString,
    company_admin: bool,
    _area: PhantomData<A>,
}

impl<A: Area> Caller<A> {
    /// Whether the user administers their company in the workspace (`[workspace] admin_roles`):
    /// such a user sees all of the company's objects, never another company's.
    pub fn is_company_admin(&self) -> bool {
        self.company_admin
    }
}

impl<A: Area> std::fmt::Debug for Caller<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("area", &A::SCOPE)
            .field("user", &self.user.id)
            .field("company_id", &self.company_id)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope.to_string())
            .field("company_admin", &self.company_admin)
            .finish()
    }
}

impl<A: Area> FromRequestParts<AppState> for Caller<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !A::enabled(&state.config) {
            return Err(ApiError::NotFound);
        }
        let token = bearer_token(&parts.headers, &[])?;
        let valid = state
            .tokens
            .check_access_token(&token)
            .await?
            .map_err(ApiError::InvalidToken)?;
        if valid.registry.user_id.is_none() {
            return Err(ApiError::InvalidToken(
                "the access token does not belong to a user",
            ));
        }
        let user = match valid.user(state.directory.as_ref()).await? {
            Some(user) if user.active => user,
            _ => return Err(ApiError::InvalidToken("the user can no longer log in")),
        };
        // The data layer scopes by the token's company: a user moved to another company since
        // must not reach the old one's objects with a token from before.
        let company_id = valid
            .claims
            .company_id
            .as_deref()
            .and_then(|c| Uuid::parse_str(c).ok())
            .filter(|c| *c == user.company_id)
            .ok_or(ApiError::InvalidToken(
                "the user no longer belongs to the company of the access token",
            ))?;
        let scope = Scope::parse(&valid.claims.scope).unwrap_or_default();
        if !scope.contains(A::SCOPE) {
            return Err(ApiError::InsufficientScope(A::SCOPE));
        }
        Ok(Self {
            company_admin: state.config.workspace.is_admin_role(&user.role),
            user,
            company_id,
            client_id: valid.claims.client_id,
            scope,
            token: SecretString::from(token),
            _area: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigSource, AREA_SCOPES};

    fn config(text: &str) -> Config {
        Config::from_parts(text, &[], ConfigSource::BuiltInDefaults).unwrap()
    }

    #[test]
    fn each_area_has_its_own_scope_and_meet_is_on_with_its_section() {
        assert_eq!(
            [Meet::SCOPE, Docs::SCOPE, Calendar::SCOPE, Mail::SCOPE],
            AREA_SCOPES
        );
        assert!(enabled_scopes(&config("")).is_empty());
        let meet =
            "[meet]\nlivekit_url = \"http://127.0.0.1:7880\"\nws_url = \"ws://127.0.0.1:7880\"\n\
                    api_key = \"APIunit\"\napi_secret = \"unit-secret-unit-secret-unit\"\n\
                    join_url_base = \"https://meet.example.org/join/\"\n";
        assert_eq!(enabled_scopes(&config(meet)), ["meet"]);
    }
}
