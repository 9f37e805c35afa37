//! Issuing tokens: the one place access tokens, ID tokens and refresh tokens are made.

use serde::Serialize;
use serde_json::{Map, Value};

use std::sync::Arc;

use super::claims::{user_claims, ClaimsRequest, Release, Target};
use super::client::Client;
use super::jwt::{self, AccessTokenClaims, VerifiedAccessTokens, ACCESS_TOKEN_TYPE};
use super::mailbox_email::{self, MailboxAddresses};
use super::scope::Scope;
use crate::audit::{Audit, Event, Kind};
use crate::clock::{Clock, UnixTime};
use crate::config::Config;
use crate::directory::{user_by_id, Directory, User};
use crate::keys::KeyRing;
use crate::secrets::{hash_secret, new_secret};
use crate::store::access_tokens::{AccessLookup, AccessRow};
use crate::store::grants::{GrantRecord, NewAccessToken, NewRefreshToken, Spends};
use crate::store::users::UserLookup;
use crate::store::Db;
use crate::telemetry::{self, GrantLabel};

/// What a grant gives: who, to whom, for what.
pub struct Grant<'a> {
    pub client: &'a Client,
    /// `None` for `client_credentials`.
    pub user: Option<&'a User>,
    pub scope: Scope,
    pub session_id: Option<&'a str>,
    pub auth_time: Option<UnixTime>,
    pub nonce: Option<&'a str>,
    pub claims: ClaimsRequest,
    pub code_hash: Option<&'a str>,
    /// The code or refresh token this grant uses up, spent in the transaction that stores the
    /// new tokens.
    pub spends: Spends<'a>,
    /// A rotated refresh token keeps its family, and its family's end.
    pub family: Option<Family<'a>>,
    pub issue_refresh: bool,
}

impl Grant<'_> {
    /// The grant as the metrics name it, read from what it spends and whom it is for.
    fn label(&self) -> GrantLabel {
        match (self.spends, self.user) {
            (Spends::Code(_), _) => GrantLabel::AuthorizationCode,
            (Spends::RefreshToken(_), _) => GrantLabel::RefreshToken,
            (Spends::Nothing, None) => GrantLabel::ClientCredentials,
            (Spends::Nothing, Some(_)) => GrantLabel::FirstPartyLogin,
        }
    }
}

/// The refresh-token family a rotation stays in.
#[derive(Debug, Clone, Copy)]
pub struct Family<'a> {
    pub id: &'a str,
    /// When the family ends: its first grant plus `refresh_token_seconds`. A rotated token
    /// expires then at the latest: rotation (RFC 9700 §4.14.2) replaces a token, it does not
    /// extend the login it came from, so a family used every day still ends and its user logs
    /// in again. It is not bound by the SSO session's absolute lifetime: a refresh token is what
    /// `offline_access` asks for, access while the user is not logged in (OIDC Core 1.0 §11),
    /// and the browser session's lifetime is a matter of days where the family's is weeks. A
    /// session that is ended (logout, a disabled user, an operator) ends its families all the
    /// same.
    pub expires_at: UnixTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

/// Why [`TokenIssuer::issue`] issued nothing.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The code or refresh token the grant was for had been spent (or revoked) by another
    /// request between its checks and the write.
    #[error("the code or refresh token was used by another request meanwhile")]
    AlreadySpent,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Makes, records and checks the provider's tokens: what the grants, userinfo, introspection
/// and the resource servers use. Cheap to clone.
#[derive(Clone)]
pub struct TokenIssuer {
    pub config: Arc<Config>,
    pub clock: Clock,
    pub keys: KeyRing,
    pub db: Db,
    pub directory: Arc<dyn Directory>,
    /// Access tokens whose signature checked out lately.
    verified: Arc<VerifiedAccessTokens>,
    mailboxes: Arc<dyn MailboxAddresses>,
    pub audit: Audit,
}

impl TokenIssuer {
    pub fn new(
        config: Arc<Config>,
        clock: Clock,
        keys: KeyRing,
        db: Db,
        directory: Arc<dyn Directory>,
        mailboxes: Arc<dyn MailboxAddresses>,
        audit: Audit,
    ) -> Self {
        Self {
            config,
            clock,
            keys,
            db,
            directory,
            verified: Arc::new(VerifiedAccessTokens::new(jwt::VERIFIED_ACCESS_TOKENS)),
            mailboxes,
            audit,
        }
    }

    /// The claims a client is given about `user`, in the ID token or at userinfo: the client's
    /// own claims, the standard ones the scope and `claims` request release, and the mailbox
    /// address for a client that wants it.
    pub async fn user_claims(
        &self,
        client: Option<&Client>,
        user: &User,
        scope: &Scope,
        request: &ClaimsRequest,
        target: Target,
    ) -> anyhow::Result<Map<String, Value>> {
        let mut claims = client.map(|c| c.claims_for(user)).unwrap_or_default();
        let release = Release::for_client(client, self.config.provisioning.instance_admin_roles());
        claims.extend(user_claims(user, scope, request, target, &release));
        if let Some(client) = client {
            mailbox_email::apply(self.mailboxes.as_ref(), client, user, &mut claims).await?;
        }
        Ok(claims)
    }

    /// Signs the tokens, then records them in one transaction with spending what the grant used up
    /// ([`IssueError::AlreadySpent`] when that lost a race).
    pub async fn issue(&self, grant: Grant<'_>) -> Result<TokenResponse, IssueError> {
        let now = self.clock.now();
        let lifetimes = &self.config.tokens;
        let issuer = self.config.issuer.as_str();
        let keys = self.keys.current();
        // RFC 9068 §2.2: the client the token was issued to is its audience.
        let audience = grant.client.id.as_str();
        crate::origin::note_client(audience);
        if let Some(user) = grant.user {
            crate::origin::note_user(&user.id);
        }
        let scope = grant.scope.to_string();
        let claims_json =
            (grant.claims != ClaimsRequest::default()).then(|| grant.claims.to_json());

        let access = AccessTokenClaims {
            iss: issuer.to_owned(),
            sub: grant
                .user
                .map_or_else(|| grant.client.id.clone(), |u| u.id.clone()),
            aud: audience.to_owned(),
            client_id: audience.to_owned(),
            scope: scope.clone(),
            iat: now,
            exp: now + lifetimes.access_token_seconds as i64,
            jti: uuid::Uuid::new_v4().to_string(),
            company_id: grant.user.map(|u| u.company_id.to_string()),
            sid: grant.session_id.map(str::to_owned),
            auth_time: grant.auth_time,
        };
        let access_token = jwt::sign(&keys, now, Some(ACCESS_TOKEN_TYPE), &access)?;

        let id_token = match grant.user {
            Some(user) if grant.scope.contains("openid") => {
                let mut claims = self
                    .user_claims(
                        Some(grant.client),
                        user,
                        &grant.scope,
                        &grant.claims,
                        Target::IdToken,
                    )
                    .await?;
                let standard = serde_json::json!({
                    "iss": issuer,
                    "sub": user.id,
                    "aud": audience,
                    "azp": audience,
                    "iat": now,
                    "exp": now + lifetimes.id_token_seconds as i64,
                    "at_hash": jwt::at_hash(&access_token),
                });
                claims.extend(standard.as_object().expect("object").clone());
                if let Some(auth_time) = grant.auth_time {
                    claims.insert("auth_time".into(), auth_time.into());
                }
                if let Some(sid) = grant.session_id {
                    claims.insert("sid".into(), sid.into());
                }
                if let Some(nonce) = grant.nonce {
                    claims.insert("nonce".into(), nonce.into());
                }
                Some(jwt::sign(&keys, now, None, &claims)?)
            }
            _ => None,
        };

        let refresh_token = (grant.issue_refresh && grant.user.is_some()).then(new_secret);
        let refresh_hash = refresh_token.as_deref().map(hash_secret);
        let family_id = match (&refresh_token, grant.family) {
            (Some(_), None) => Some(uuid::Uuid::new_v4().to_string()),
            (_, family) => family.map(|f| f.id.to_owned()),
        };
        let refresh_expires_at = {
            let full = now + lifetimes.refresh_token_seconds as i64;
            grant.family.map_or(full, |f| full.min(f.expires_at))
        };
        let refresh = match (&refresh_hash, grant.user, &family_id) {
            (Some(token_hash), Some(user), Some(family)) => Some(NewRefreshToken {
                token_hash,
                family_id: family,
                client_id: audience,
                user_id: &user.id,
                session_id: grant.session_id,
                code_hash: grant.code_hash,
                scope: &scope,
                claims: claims_json.as_deref(),
                auth_time: grant.auth_time,
                created_at: now,
                expires_at: refresh_expires_at,
            }),
            _ => None,
        };
        let issued = issued_event(
            &grant,
            &scope,
            &access.jti,
            family_id.as_deref(),
            id_token.is_some(),
        );
        let recorded = self
            .db
            .record_grant(&GrantRecord {
                spends: grant.spends,
                refresh,
                access: NewAccessToken {
                    jti: &access.jti,
                    client_id: audience,
                    user_id: grant.user.map(|u| u.id.as_str()),
                    session_id: grant.session_id,
                    code_hash: grant.code_hash,
                    family_id: family_id.as_deref(),
                    scope: &scope,
                    claims: claims_json.as_deref(),
                    expires_at: access.exp,
                },
                now,
            })
            .await?;
        if !recorded {
            return Err(IssueError::AlreadySpent);
        }
        telemetry::token_issued(grant.label(), audience);
        self.audit.record(issued);

        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: lifetimes.access_token_seconds,
            refresh_token,
            id_token,
            scope,
        })
    }

    /// `Ok(Err(reason))` for a token that is not (or no longer) good.
    pub async fn check_access_token(
        &self,
        token: &str,
    ) -> anyhow::Result<Result<ValidAccessToken, &'static str>> {
        let now = self.clock.now();
        let verified = self.verified.verify(
            &self.keys.current(),
            self.config.issuer.as_str(),
            token,
            now,
        );
        let claims = match verified {
            Ok(claims) => claims,
            Err(jwt::JwtError::Expired) => return Ok(Err("the access token expired")),
            Err(_) => return Ok(Err("the access token is not valid")),
        };
        let found = self
            .db
            .access_token_and_user(&claims.jti, self.directory.in_provider_database())
            .await?;
        let Some(AccessLookup {
            token: registry,
            user: joined_user,
        }) = found
        else {
            return Ok(Err("the access token is not known"));
        };
        if registry.revoked_at.is_some() {
            return Ok(Err("the access token was revoked"));
        }
        if registry.session_ended_at.is_some() {
            return Ok(Err("the login session has ended"));
        }
        crate::origin::note_client(&claims.client_id);
        if let Some(user) = &registry.user_id {
            crate::origin::note_user(user);
        }
        Ok(Ok(ValidAccessToken {
            claims,
            registry,
            joined_user,
        }))
    }
}

/// The grant type, as the audit trail names it. What a grant spends says which it is: only the
/// authorization code grant spends a code and only a refresh spends a refresh token; of those
/// that spend nothing, `client_credentials` has no user and the first-party login has one.
fn grant_name(grant: &Grant<'_>) -> &'static str {
    match (grant.spends, grant.user) {
        (Spends::Code(_), _) => "authorization_code",
        (Spends::RefreshToken(_), _) => "refresh_token",
        (Spends::Nothing, None) => "client_credentials",
        (Spends::Nothing, Some(_)) => "password",
    }
}

/// `token_issued`: for whom, to which client, what. The actor is the user, or for
/// `client_credentials` the client itself. Identifiers only, never a token.
fn issued_event(
    grant: &Grant<'_>,
    scope: &str,
    jti: &str,
    family: Option<&str>,
    id_token: bool,
) -> Event {
    let mut tokens = vec!["access_token"];
    if id_token {
        tokens.push("id_token");
    }
    let refresh = grant.issue_refresh && grant.user.is_some();
    if refresh {
        tokens.push("refresh_token");
    }
    let client = grant.client.id.as_str();
    let event = match grant.user {
        Some(user) => Event::new(Kind::TokenIssued, user.id.as_str())
            .user(user.id.as_str())
            .company(user.company_id),
        None => Event::new(Kind::TokenIssued, client),
    }
    .client(client)
    .detail("grant", grant_name(grant))
    .detail("tokens", tokens)
    .detail("scope", scope)
    .detail("jti", jti);
    match family {
        Some(family) if refresh => event.detail("family", family),
        _ => event,
    }
}

/// A presented access token that checks out: signature, issuer, type, expiry, and the registry
/// (not revoked, session not ended).
pub struct ValidAccessToken {
    pub claims: AccessTokenClaims,
    pub registry: AccessRow,
    /// Its user, when the registry look-up brought it along (the provider's own user table).
    joined_user: UserLookup,
}

impl ValidAccessToken {
    /// The token's user as the directory has it now; `None` for a token without a user (client
    /// credentials) or whose user is gone.
    pub async fn user(&self, directory: &dyn Directory) -> anyhow::Result<Option<User>> {
        match self.registry.user_id.as_deref() {
            Some(user_id) => user_by_id(directory, self.joined_user.clone(), user_id).await,
            None => Ok(None),
        }
    }
}
