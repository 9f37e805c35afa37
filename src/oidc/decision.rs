//! What an authorization request needs next (OIDC Core §3.1.2.3-§3.1.2.4): a login, a consent,
//! an error back at the client, or a code. A pure function of what is known, so every path is
//! tested here without a browser or a database.

use uuid::Uuid;

use super::authorize::AuthorizationRequest;
use super::client::Client;
use super::error::ErrorCode;
use super::scope::Scope;
use crate::clock::UnixTime;

/// The browser's live login.
#[derive(Debug, Clone, Copy)]
pub struct LoginState<'a> {
    pub auth_time: UnixTime,
    pub user_id: &'a str,
    pub company_id: Uuid,
}

/// What is known of the user's consent to this client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consent {
    /// The user allowed this request just now.
    GivenNow,
    /// The stored consent has not been read: [`Next::ReadConsent`] asks for it when it matters.
    NotRead,
    /// The scope the user consented to before, if any.
    Stored(Option<Scope>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The login page, the request kept until the login.
    LogIn,
    /// Read the stored consent and decide again with [`Consent::Stored`].
    ReadConsent,
    /// The consent page, the request kept until the answer.
    AskConsent,
    /// Back at the client with an error.
    Refuse(ErrorCode, &'static str),
    /// The client the request was for is no longer registered (the request was kept across
    /// a restart with another configuration): nowhere to send the user back to.
    ClientGone,
    IssueCode,
}

pub fn next_step(
    request: &AuthorizationRequest,
    login: Option<LoginState<'_>>,
    client: Option<&Client>,
    consent: &Consent,
    now: UnixTime,
) -> Next {
    let must_log_in = match login {
        None => true,
        Some(login) => {
            request.prompt.login
                || request.prompt.select_account
                || request
                    .max_age
                    .is_some_and(|max| now - login.auth_time > max)
                || request
                    .hint_sub
                    .as_deref()
                    .is_some_and(|sub| sub != login.user_id)
        }
    };
    let Some(login) = login.filter(|_| !must_log_in) else {
        return if request.prompt.none {
            Next::Refuse(ErrorCode::LoginRequired, "the user is not logged in")
        } else {
            Next::LogIn
        };
    };
    let Some(client) = client else {
        return Next::ClientGone;
    };
    if !client.allows_company(login.company_id) {
        return Next::Refuse(
            ErrorCode::AccessDenied,
            "this application is not available to your company",
        );
    }
    if client.skip_consent {
        return Next::IssueCode;
    }
    let covered = match consent {
        Consent::GivenNow => return Next::IssueCode,
        Consent::NotRead => return Next::ReadConsent,
        Consent::Stored(granted) => granted
            .as_ref()
            .is_some_and(|granted| request.scope().is_subset(granted)),
    };
    if covered && !request.prompt.consent {
        Next::IssueCode
    } else if request.prompt.none {
        Next::Refuse(ErrorCode::ConsentRequired, "the user has not consented")
    } else {
        Next::AskConsent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClientConfig, EmailClaim, GrantType, TokenEndpointAuthMethod};
    use crate::oidc::authorize::Prompt;

    const NOW: UnixTime = 1_000_000;
    const ACME: Uuid = Uuid::from_u128(1);
    const OTHER: Uuid = Uuid::from_u128(2);

    fn request() -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "docs".into(),
            redirect_uri: "https://docs.example.com/cb".into(),
            scope: "openid email".into(),
            state: None,
            nonce: None,
            code_challenge: None,
            prompt: Prompt::default(),
            max_age: None,
            hint_sub: None,
            login_hint: None,
            claims: None,
            created_at: NOW,
        }
    }

    fn client(skip_consent: bool, allowed_company_ids: Vec<Uuid>) -> Client {
        Client::from_config(&ClientConfig {
            client_id: "docs".into(),
            name: "Docs".into(),
            client_secret: None,
            redirect_uris: vec!["https://docs.example.com/cb".into()],
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            grant_types: vec![GrantType::AuthorizationCode],
            skip_consent,
            require_pkce: true,
            refresh_without_offline_access: false,
            allowed_company_ids,
            allowed_scopes: Vec::new(),
            extra_claims: Default::default(),
            role_claims: Default::default(),
            provision: Vec::new(),
            email_claim: EmailClaim::Directory,
        })
    }

    fn alice(auth_time: UnixTime) -> Option<LoginState<'static>> {
        Some(LoginState {
            auth_time,
            user_id: "alice",
            company_id: ACME,
        })
    }

    fn stored(scope: &str) -> Consent {
        Consent::Stored(Some(Scope::parse(scope).unwrap()))
    }

    #[test]
    fn without_a_login_the_user_logs_in_or_prompt_none_is_login_required() {
        let consenting = client(true, vec![]);
        assert_eq!(
            next_step(&request(), None, Some(&consenting), &Consent::NotRead, NOW),
            Next::LogIn
        );
        let mut silent = request();
        silent.prompt.none = true;
        assert_eq!(
            next_step(&silent, None, Some(&consenting), &Consent::NotRead, NOW),
            Next::Refuse(ErrorCode::LoginRequired, "the user is not logged in")
        );
    }

    #[test]
    fn prompt_login_max_age_and_another_users_hint_ask_for_a_new_login() {
        let docs = client(true, vec![]);
        let mut again = request();
        again.prompt.login = true;
        assert_eq!(
            next_step(&again, alice(NOW), Some(&docs), &Consent::NotRead, NOW),
            Next::LogIn
        );
        let mut select = request();
        select.prompt.select_account = true;
        assert_eq!(
            next_step(&select, alice(NOW), Some(&docs), &Consent::NotRead, NOW),
            Next::LogIn
        );
        let mut recent = request();
        recent.max_age = Some(60);
        assert_eq!(
            next_step(
                &recent,
                alice(NOW - 61),
                Some(&docs),
                &Consent::NotRead,
                NOW
            ),
            Next::LogIn
        );
        assert_eq!(
            next_step(
                &recent,
                alice(NOW - 60),
                Some(&docs),
                &Consent::NotRead,
                NOW
            ),
            Next::IssueCode
        );
        let mut bob = request();
        bob.hint_sub = Some("bob".into());
        assert_eq!(
            next_step(&bob, alice(NOW), Some(&docs), &Consent::NotRead, NOW),
            Next::LogIn
        );
        bob.hint_sub = Some("alice".into());
        assert_eq!(
            next_step(&bob, alice(NOW), Some(&docs), &Consent::NotRead, NOW),
            Next::IssueCode
        );
    }

    #[test]
    fn a_client_gone_since_the_request_matters_only_once_the_user_is_logged_in() {
        assert_eq!(
            next_step(&request(), None, None, &Consent::NotRead, NOW),
            Next::LogIn
        );
        assert_eq!(
            next_step(&request(), alice(NOW), None, &Consent::NotRead, NOW),
            Next::ClientGone
        );
    }

    #[test]
    fn a_client_of_other_companies_is_access_denied() {
        let elsewhere = client(true, vec![OTHER]);
        assert_eq!(
            next_step(
                &request(),
                alice(NOW),
                Some(&elsewhere),
                &Consent::NotRead,
                NOW
            ),
            Next::Refuse(
                ErrorCode::AccessDenied,
                "this application is not available to your company"
            )
        );
        let ours = client(true, vec![ACME]);
        assert_eq!(
            next_step(&request(), alice(NOW), Some(&ours), &Consent::NotRead, NOW),
            Next::IssueCode
        );
    }

    #[test]
    fn consent_is_read_only_when_it_matters_and_must_cover_the_scope() {
        let asking = client(false, vec![]);
        let r = request();
        assert_eq!(
            next_step(&r, alice(NOW), Some(&asking), &Consent::NotRead, NOW),
            Next::ReadConsent
        );
        assert_eq!(
            next_step(&r, None, Some(&asking), &Consent::NotRead, NOW),
            Next::LogIn
        );
        assert_eq!(
            next_step(&r, alice(NOW), Some(&asking), &Consent::Stored(None), NOW),
            Next::AskConsent
        );
        assert_eq!(
            next_step(&r, alice(NOW), Some(&asking), &stored("openid"), NOW),
            Next::AskConsent
        );
        assert_eq!(
            next_step(
                &r,
                alice(NOW),
                Some(&asking),
                &stored("openid email profile"),
                NOW
            ),
            Next::IssueCode
        );
        assert_eq!(
            next_step(&r, alice(NOW), Some(&asking), &Consent::GivenNow, NOW),
            Next::IssueCode
        );
    }

    #[test]
    fn prompt_consent_asks_again_and_prompt_none_without_consent_is_consent_required() {
        let asking = client(false, vec![]);
        let mut again = request();
        again.prompt.consent = true;
        assert_eq!(
            next_step(
                &again,
                alice(NOW),
                Some(&asking),
                &stored("openid email"),
                NOW
            ),
            Next::AskConsent
        );
        assert_eq!(
            next_step(&again, alice(NOW), Some(&asking), &Consent::GivenNow, NOW),
            Next::IssueCode
        );
        let mut silent = request();
        silent.prompt.none = true;
        assert_eq!(
            next_step(
                &silent,
                alice(NOW),
                Some(&asking),
                &Consent::Stored(None),
                NOW
            ),
            Next::Refuse(ErrorCode::ConsentRequired, "the user has not consented")
        );
        assert_eq!(
            next_step(
                &silent,
                alice(NOW),
                Some(&asking),
                &stored("openid email"),
                NOW
            ),
            Next::IssueCode
        );
    }
}
